/* test_ruleset.c — the ruleset model: reference-counted elements, interval merging, CIDRs
 * given and taken back by many owners, the journal a sync programs (and nothing else),
 * tombstones, and the read-back marks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "calc_fixture.h"


static struct tby_ip ip(const char *s)
{
    struct tby_ip a;

    assert_int_equal(tby_ip_parse(s, &a, NULL), 0);
    return a;
}

static struct tby_rs_rule *rule_jump(const char *target)
{
    struct tby_rs_rule *r = tby_rs_rule_new();

    assert_int_equal(tby_rs_rule_set_verdict(r, TBY_RS_V_JUMP, target), 0);
    assert_int_equal(tby_rs_rule_seal(r), 0);
    return r;
}

static void test_elements_are_reference_counted(void **state)
{
    _cleanup_(tby_rs_freep) struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *s = tby_rs_set_add(rs, "s", TBY_RS_ADDR4, NULL);
    struct tby_ip a = ip("10.0.0.1");
    _cleanup_free_ char *t1 = NULL, *t2 = NULL;

    (void)state;
    assert_int_equal(tby_rs_add_addr(rs, s, &a), 0);
    assert_int_equal(tby_rs_add_addr(rs, s, &a), 0);
    tby_rs_remove_addr(rs, s, &a);
    t1 = rs_text(rs, false);
    assert_has(t1, "elements = { 10.0.0.1 }");
    tby_rs_remove_addr(rs, s, &a);
    t2 = rs_text(rs, false);
    assert_has(t2, "set s { type ipv4_addr; }");
}

/* Interface elements sit in the ruleset's slots (ruleset_slots.c): more of them than one
 * slab holds, given back by a sync and taken again, read the same each time. */
static void test_elements_in_slots_survive_being_given_back(void **state)
{
    _cleanup_(tby_rs_freep) struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *s = tby_rs_set_add(rs, "s", TBY_RS_IFNAMES, NULL);
    struct tby_rs_set *t = tby_rs_set_add(rs, "t", TBY_RS_IFNAMES, NULL);
    char name[16];

    (void)state;
    for (int round = 0; round < 3; round++) {
        _cleanup_free_ char *text = NULL;

        for (int i = 0; i < 300; i++) {
            snprintf(name, sizeof(name), "if%d", i);
            assert_int_equal(tby_rs_add_ifname(rs, i % 2 ? s : t, name), 0);
        }
        tby_rs_journal_done(rs);
        assert_int_equal(s->elems.n + t->elems.n, 300);
        text = rs_text(rs, false);
        assert_has(text, "\"if1\", ");
        assert_has(text, "\"if298\"");
        for (int i = 0; i < 300; i += 1 + round) {
            snprintf(name, sizeof(name), "if%d", i);
            tby_rs_remove_ifname(rs, i % 2 ? s : t, name);
        }
        tby_rs_journal_done(rs);
    }
    tby_rs_set_del(rs, s);
}

/* The walk of a set's table (ruleset_elems.c, whose entries keep no hash) meets every
 * element once, after the table grew many times and while elements leave during it. */
static size_t walk_count(const struct tby_rs_set *s, bool *seen)
{
    size_t n = 0;

    for (const struct tby_rs_elem *e = tby_rs_elems_first(&s->elems); e;
         e = tby_rs_elems_next(&s->elems, e)) {
        unsigned i = (unsigned)e->key[2] << 8 | e->key[3];

        assert_false(seen[i]);
        seen[i] = true;
        n++;
    }
    memset(seen, 0, 5000);
    return n;
}

static void test_the_element_table_walks_each_element_once(void **state)
{
    _cleanup_(tby_rs_freep) struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *s = tby_rs_set_add(rs, "s", TBY_RS_ADDR4, NULL);
    struct tby_ip a = ip("10.0.0.0");
    bool seen[5000] = { false };

    (void)state;
    for (unsigned i = 0; i < 5000; i++) {
        a.bytes[2] = (uint8_t)(i >> 8);
        a.bytes[3] = (uint8_t)i;
        assert_int_equal(tby_rs_add_addr(rs, s, &a), 0);
    }
    tby_rs_journal_done(rs);
    assert_int_equal(walk_count(s, seen), 5000);
    for (unsigned i = 0; i < 5000; i += 3) {
        a.bytes[2] = (uint8_t)(i >> 8);
        a.bytes[3] = (uint8_t)i;
        tby_rs_remove_addr(rs, s, &a);
    }
    tby_rs_forget_kernel(rs); /* drops the unwanted ones while walking the table */
    assert_int_equal(walk_count(s, seen), 5000 - 1667);
    assert_int_equal(s->elems.n, 5000 - 1667);
    tby_rs_journal_done(rs);
    assert_int_equal(walk_count(s, seen), 5000 - 1667);
}

/* Sealing packs a rule into one allocation: it reads the same and takes no more edits. */
static const struct tby_rs_match set_match = {
    .type = TBY_RS_M_ADDR_SET, .src = true, .set = "sel-x"
};

/* A rule with a set match, a jump and a comment (every kind of string a rule packs). */
static struct tby_rs_rule *rule_with_strings(void)
{
    struct tby_rs_rule *r = tby_rs_rule_new();

    assert_int_equal(tby_rs_rule_match(r, &set_match), 0);
    assert_int_equal(tby_rs_rule_set_verdict(r, TBY_RS_V_JUMP, "pi-x"), 0);
    assert_int_equal(tby_rs_rule_set_comment(r, "a comment"), 0);
    return r;
}

static void test_a_sealed_rule_reads_the_same_and_refuses_edits(void **state)
{
    struct tby_rs_rule *r = rule_with_strings();
    const struct tby_rs_match m = set_match;
    _cleanup_free_ char *before = NULL, *after = NULL;

    (void)state;
    before = tby_rs_rule_text(r);
    assert_int_equal(tby_rs_rule_seal(r), 0);
    assert_true(r->packed);
    after = tby_rs_rule_text(r);
    assert_string_equal(before, after);
    assert_int_equal(tby_rs_rule_match(r, &m), -EINVAL);
    assert_int_equal(tby_rs_rule_set_comment(r, "another"), -EINVAL);
    assert_int_equal(tby_rs_rule_set_verdict(r, TBY_RS_V_DROP, NULL), -EINVAL);
    tby_rs_rule_free(r);
}

/* tby_rs_rule_sealed moves a rule the caller alone holds into one block (the rule and
 * what it points to); a shared rule stays where it is, packed. */
static void test_a_rule_handed_over_is_sealed_whole(void **state)
{
    struct tby_rs_rule *r = rule_with_strings(), *shared, *same;
    _cleanup_free_ char *before = NULL, *after = NULL;

    (void)state;
    before = tby_rs_rule_text(r);
    r = tby_rs_rule_sealed(r);
    assert_non_null(r);
    assert_true(r->packed);
    assert_ptr_equal(r->m, (void *)(r + 1));
    assert_true(r->comment > (char *)r->m && r->m[0].set > (char *)r->m);
    after = tby_rs_rule_text(r);
    assert_string_equal(before, after);
    assert_int_equal(tby_rs_rule_set_comment(r, "another"), -EINVAL);
    tby_rs_rule_free(r);

    shared = tby_rs_rule_new();
    assert_int_equal(tby_rs_rule_set_verdict(shared, TBY_RS_V_DROP, NULL), 0);
    tby_rs_rule_ref(shared);
    same = tby_rs_rule_sealed(shared);
    assert_ptr_equal(same, shared);
    assert_true(same->digest != 0);
    tby_rs_rule_free(same);
    tby_rs_rule_free(shared);
    assert_null(tby_rs_rule_sealed(NULL));
}

static void test_wrong_family_is_refused(void **state)
{
    _cleanup_(tby_rs_freep) struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *s = tby_rs_set_add(rs, "s", TBY_RS_ADDR4, NULL);
    struct tby_ip a = ip("fd00::1");

    (void)state;
    assert_int_equal(tby_rs_add_addr(rs, s, &a), -EINVAL);
}

static void test_nets_merge_overlaps_and_neighbours(void **state)
{
    _cleanup_(tby_rs_freep) struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *s = tby_rs_set_add(rs, "n", TBY_RS_NET4, NULL);
    struct tby_cidr c[4];
    _cleanup_free_ char *t = NULL;

    (void)state;
    assert_int_equal(tby_cidr_parse("10.0.0.0/24", 0, &c[0], NULL), 0);
    assert_int_equal(tby_cidr_parse("10.0.1.0/24", 0, &c[1], NULL), 0);
    assert_int_equal(tby_cidr_parse("10.0.0.128/25", 0, &c[2], NULL), 0);
    assert_int_equal(tby_cidr_parse("0.0.0.0/0", 0, &c[3], NULL), 0);
    assert_int_equal(tby_rs_fill_nets(rs, s, c, 3), 0);
    t = rs_text(rs, false);
    assert_has(t, "elements = { 10.0.0.0-10.0.1.255 }");
    free(t);
    s = tby_rs_set_add(rs, "all", TBY_RS_NET4, NULL);
    assert_int_equal(tby_rs_fill_nets(rs, s, &c[3], 1), 0);
    t = rs_text(rs, false);
    assert_has(t, "set all { type ipv4_addr; flags interval; elements = { 0.0.0.0-255.255.255.255 }");
}

static void test_port_ranges_render_and_reach_the_top(void **state)
{
    _cleanup_(tby_rs_freep) struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *s = tby_rs_set_add(rs, "p", TBY_RS_PORTS, NULL);
    const uint16_t r[][2] = { { 443, 443 }, { 80, 81 }, { 60000, 65535 } };
    _cleanup_free_ char *t = NULL;

    (void)state;
    assert_int_equal(tby_rs_fill_ports(rs, s, r, 3), 0);
    t = rs_text(rs, false);
    assert_has(t, "elements = { 80-81, 443, 60000-65535 }");
}

static struct tby_cidr cidr(const char *s)
{
    struct tby_cidr c;

    assert_int_equal(tby_cidr_parse(s, TBY_CIDR_ALLOW_IP, &c, NULL), 0);
    return c;
}

/* Given CIDRs: one range per CIDR no other holds, side by side without merging; taking a
 * CIDR back shows what it held. */
static void test_given_nets_keep_the_outermost_ranges(void **state)
{
    _cleanup_(tby_rs_freep) struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *s = tby_rs_set_add(rs, "s", TBY_RS_NET4, NULL);
    struct tby_cidr a = cidr("10.0.0.1"), b = cidr("10.0.0.2"), net = cidr("10.0.0.0/24");
    struct tby_cidr six = cidr("fd00::1");
    _cleanup_free_ char *t1 = NULL, *t2 = NULL, *j = NULL, *j2 = NULL, *t3 = NULL, *t4 = NULL;

    (void)state;
    assert_int_equal(tby_rs_add_net(rs, s, &a), 0);
    assert_int_equal(tby_rs_add_net(rs, s, &b), 0);
    assert_int_equal(tby_rs_add_net(rs, s, &six), -EINVAL);
    t1 = rs_text(rs, false);
    assert_has(t1, "elements = { 10.0.0.1, 10.0.0.2 }");
    assert_int_equal(tby_rs_add_net(rs, s, &net), 0);
    assert_int_equal(tby_rs_add_net(rs, s, &net), 0);
    t2 = rs_text(rs, false);
    assert_has(t2, "elements = { 10.0.0.0-10.0.0.255 }");
    tby_rs_journal_done(rs);
    assert_int_equal(tby_rs_remove_net(rs, s, &net), 0);
    assert_int_equal(tby_rs_remove_net(rs, s, &a), 0);
    j = rs_text(rs, true);
    assert_lacks(j, "element");
    assert_int_equal(tby_rs_remove_net(rs, s, &net), 0);
    j2 = rs_text(rs, true);
    assert_has(j2, "delete element inet tabby s { 10.0.0.0-10.0.0.255 }");
    assert_has(j2, "add element inet tabby s { 10.0.0.2 }");
    t3 = rs_text(rs, false);
    assert_has(t3, "elements = { 10.0.0.2 }");
    /* taking back what was never given changes nothing */
    assert_int_equal(tby_rs_remove_net(rs, s, &a), 0);
    tby_rs_set_del(rs, s);
    s = tby_rs_set_add(rs, "s", TBY_RS_NET4, NULL);
    t4 = rs_text(rs, false);
    assert_lacks(t4, "elements");
}

/* Any order of gifts and take-backs of nested and neighbouring CIDRs leaves ranges that do
 * not overlap and cover exactly the union of what is given. */
static void test_given_nets_cover_the_union_in_any_order(void **state)
{
    _cleanup_(tby_rs_freep) struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *s = tby_rs_set_add(rs, "s", TBY_RS_NET4, NULL);
    unsigned given[64] = { 0 };          /* refs per CIDR: 10.0.0.(i * 8 % 256)/(24 + i % 9) */
    unsigned seed = 7;

    (void)state;
    for (int step = 0; step < 4000; step++) {
        unsigned i, depth = 0;
        bool want[256] = { false }, have[256] = { false };
        struct tby_cidr c;
        char text[32];

        seed = seed * 1103515245u + 12345u;
        i = (seed >> 16) % 64;
        snprintf(text, sizeof(text), "10.0.0.%u/%u", (i * 37) % 256, 24 + i % 9);
        c = cidr(text);
        tby_cidr_mask(&c);
        if (given[i] && (seed >> 8) % 2) {
            assert_int_equal(tby_rs_remove_net(rs, s, &c), 0);
            given[i]--;
        } else {
            assert_int_equal(tby_rs_add_net(rs, s, &c), 0);
            given[i]++;
        }
        for (unsigned k = 0; k < 64; k++) {
            struct tby_cidr g;

            if (!given[k])
                continue;
            snprintf(text, sizeof(text), "10.0.0.%u/%u", (k * 37) % 256, 24 + k % 9);
            g = cidr(text);
            for (unsigned a = 0; a < 256; a++) {
                struct tby_ip x = g.ip;

                x.bytes[3] = (uint8_t)a;
                want[a] = want[a] || tby_cidr_contains(&g, &x);
            }
        }
        /* walk the elements in key order, an end before a start at one key */
        for (unsigned a = 0; a <= 256; a++) {
            for (int end = 1; end >= 0; end--) {
                uint8_t key[4] = { 10, 0, a == 256 ? 1 : 0, (uint8_t)a };

                for (struct tby_rs_elem *e = tby_rs_elems_first(&s->elems); e;
                     e = tby_rs_elems_next(&s->elems, e)) {
                    if (!e->refs || memcmp(e->key, key, 4) != 0 ||
                        !!(e->flags & TBY_RS_ELEM_END) != end)
                        continue;
                    assert_int_equal(e->refs, 1);
                    if (end) {
                        assert_true(depth == 1);
                        depth--;
                    } else {
                        assert_true(depth == 0);
                        depth++;
                    }
                }
            }
            if (a < 256)
                have[a] = depth == 1;
        }
        assert_int_equal(depth, 0);
        assert_memory_equal(want, have, sizeof(want));
    }
}

static void test_journal_holds_only_the_change(void **state)
{
    _cleanup_(tby_rs_freep) struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *s = tby_rs_set_add(rs, "s", TBY_RS_ADDR4, NULL);
    struct tby_rs_chain *c = tby_rs_chain_add(rs, "c", TBY_RS_HOOK_NONE);
    struct tby_ip a = ip("10.0.0.1"), b = ip("10.0.0.2");
    struct tby_rs_rule **rules = calloc(1, sizeof(*rules));
    _cleanup_free_ char *first = NULL, *second = NULL, *third = NULL;

    (void)state;
    tby_rs_add_addr(rs, s, &a);
    rules[0] = rule_jump("x");
    tby_rs_chain_set_rules(rs, c, rules, 1);
    first = rs_text(rs, true);
    assert_has(first, "add table inet tabby\nadd set inet tabby s { type ipv4_addr; }\n"
                      "add chain inet tabby c\nadd element inet tabby s { 10.0.0.1 }\n"
                      "add rule inet tabby c jump x\n");
    tby_rs_journal_done(rs);
    tby_rs_add_addr(rs, s, &b);
    tby_rs_remove_addr(rs, s, &a);
    second = rs_text(rs, true);
    assert_string_equal(second, "delete element inet tabby s { 10.0.0.1 }\n"
                                "add element inet tabby s { 10.0.0.2 }\n");
    tby_rs_journal_done(rs);
    /* the same rules again: nothing to do */
    rules = calloc(1, sizeof(*rules));
    rules[0] = rule_jump("x");
    tby_rs_chain_set_rules(rs, c, rules, 1);
    third = rs_text(rs, true);
    assert_string_equal(third, "");
}

static void test_deleted_objects_go_after_flushes(void **state)
{
    _cleanup_(tby_rs_freep) struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *s = tby_rs_set_add(rs, "s", TBY_RS_ADDR4, NULL);
    struct tby_rs_chain *c = tby_rs_chain_add(rs, "c", TBY_RS_HOOK_NONE);
    _cleanup_free_ char *j = NULL;

    (void)state;
    tby_rs_journal_done(rs);
    tby_rs_chain_del(rs, c);
    tby_rs_set_del(rs, s);
    j = rs_text(rs, true);
    /* sets before chains: a dead map may hold elements jumping to a dead chain */
    assert_string_equal(j, "flush chain inet tabby c\ndelete set inet tabby s\n"
                           "delete chain inet tabby c\n");
    tby_rs_journal_done(rs);
    assert_null(tby_rs_set_find(rs, "s"));
    assert_null(tby_rs_chain_find(rs, "c"));
}

static void test_object_made_and_dropped_between_syncs_costs_nothing(void **state)
{
    _cleanup_(tby_rs_freep) struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *s;
    _cleanup_free_ char *j = NULL;

    (void)state;
    tby_rs_journal_done(rs);
    s = tby_rs_set_add(rs, "s", TBY_RS_ADDR4, NULL);
    tby_rs_set_del(rs, s);
    j = rs_text(rs, true);
    assert_string_equal(j, "");
}

static void test_vmap_retarget_deletes_then_adds(void **state)
{
    _cleanup_(tby_rs_freep) struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *m = tby_rs_set_add(rs, "m", TBY_RS_IFNAME_VMAP, NULL);
    _cleanup_free_ char *j = NULL;

    (void)state;
    assert_int_equal(tby_rs_vmap_set(rs, m, "cali1", "a"), 0);
    tby_rs_journal_done(rs);
    assert_int_equal(tby_rs_vmap_set(rs, m, "cali1", "b"), 0);
    j = rs_text(rs, true);
    assert_string_equal(j, "delete element inet tabby m { \"cali1\" }\n"
                           "add element inet tabby m { \"cali1\" : jump b }\n");
    assert_int_equal(tby_rs_vmap_set(rs, m, "a-name-too-long-for-linux", "b"), -EINVAL);
}

static void test_read_back_marks_find_extra_and_missing(void **state)
{
    _cleanup_(tby_rs_freep) struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *s = tby_rs_set_add(rs, "s", TBY_RS_ADDR4, NULL), *k;
    struct tby_rs_chain *c = tby_rs_chain_add(rs, "c", TBY_RS_HOOK_NONE);
    struct tby_rs_rule **rules = calloc(1, sizeof(*rules));
    struct tby_ip a = ip("10.0.0.1"), x = ip("10.9.9.9");
    uint64_t digest;
    _cleanup_free_ char *j = NULL;

    (void)state;
    tby_rs_add_addr(rs, s, &a);
    rules[0] = rule_jump("x");
    digest = rules[0]->digest;
    tby_rs_chain_set_rules(rs, c, rules, 1);
    tby_rs_journal_done(rs);
    /* the kernel holds: the table, set s with a stray element but not ours, chain c as it
     * should be, and a chain tabby does not want */
    tby_rs_forget_kernel(rs);
    assert_int_equal(tby_rs_mark_set(rs, "s", TBY_RS_ADDR4, &k), 0);
    assert_int_equal(tby_rs_mark_elem(rs, k, x.bytes, 4, 0, NULL), 0);
    assert_int_equal(tby_rs_mark_chain(rs, "c", &digest, 1), 0);
    assert_int_equal(tby_rs_mark_chain(rs, "stray", NULL, 0), 0);
    assert_int_equal(tby_rs_mark_set(rs, "s", TBY_RS_ADDR6, &k), -EEXIST);
    rs->table_prog = true;
    j = rs_text(rs, true);
    assert_string_equal(j, "flush chain inet tabby stray\n"
                           "delete element inet tabby s { 10.9.9.9 }\n"
                           "add element inet tabby s { 10.0.0.1 }\n"
                           "delete chain inet tabby stray\n");
}

static void test_rule_text_covers_every_match(void **state)
{
    _cleanup_(tby_rs_rule_freep) struct tby_rs_rule *r = tby_rs_rule_new();
    const struct tby_rs_match m[] = {
        { .type = TBY_RS_M_NFPROTO, .family = 6 },
        { .type = TBY_RS_M_L4PROTO, .a = 17 },
        { .type = TBY_RS_M_ADDR_SET, .src = true, .family = 6, .set = "a" },
        { .type = TBY_RS_M_PORT, .src = true, .neg = true, .a = 1, .b = 1023, .has_b = true },
        { .type = TBY_RS_M_PORT_SET, .set = "p" },
        { .type = TBY_RS_M_ADDR_PROTO_PORT, .family = 6, .neg = true, .set = "np" },
        { .type = TBY_RS_M_MARK, .a = 0x10000 },
        { .type = TBY_RS_M_L4PROTO, .a = 99, .neg = true },
    };
    _cleanup_free_ char *t = NULL;

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(m); i++)
        assert_int_equal(tby_rs_rule_match(r, &m[i]), 0);
    r->counter = true;
    assert_int_equal(tby_rs_rule_set_log(r, "say \"hi\""), 0);
    assert_int_equal(tby_rs_rule_set_verdict(r, TBY_RS_V_GOTO, "g"), 0);
    assert_int_equal(tby_rs_rule_set_comment(r, "c"), 0);
    t = tby_rs_rule_text(r);
    assert_string_equal(t, "meta nfproto ipv6 meta l4proto udp ip6 saddr @a th sport != 1-1023 "
                           "th dport @p ip6 daddr . meta l4proto . th dport != @np "
                           "meta mark & 0x00010000 == 0 meta l4proto != 99 counter "
                           "log prefix \"say 'hi'\" goto g comment \"c\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elements_are_reference_counted),
        cmocka_unit_test(test_elements_in_slots_survive_being_given_back),
        cmocka_unit_test(test_a_sealed_rule_reads_the_same_and_refuses_edits),
        cmocka_unit_test(test_a_rule_handed_over_is_sealed_whole),
        cmocka_unit_test(test_the_element_table_walks_each_element_once),
        cmocka_unit_test(test_wrong_family_is_refused),
        cmocka_unit_test(test_nets_merge_overlaps_and_neighbours),
        cmocka_unit_test(test_port_ranges_render_and_reach_the_top),
        cmocka_unit_test(test_given_nets_keep_the_outermost_ranges),
        cmocka_unit_test(test_given_nets_cover_the_union_in_any_order),
        cmocka_unit_test(test_journal_holds_only_the_change),
        cmocka_unit_test(test_deleted_objects_go_after_flushes),
        cmocka_unit_test(test_object_made_and_dropped_between_syncs_costs_nothing),
        cmocka_unit_test(test_vmap_retarget_deletes_then_adds),
        cmocka_unit_test(test_read_back_marks_find_extra_and_missing),
        cmocka_unit_test(test_rule_text_covers_every_match),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
