/* test_nft_check.c — comparing table inet tabby with the ruleset (tby_nft_check) against
 * the real kernel, in a network namespace of its own: an equal table says nothing and
 * costs the next sync nothing; a rule, an element or a chain changed by hand is named
 * without being repaired, and the next sync repairs it; a missing table is said; a change
 * not programmed yet is a difference. Skips without root. */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/nft.h"
#include "tabby/ruleset.h"

/* A small table of its own, so that the checks do not depend on how the policy
 * calculation lays its table out: a set of interfaces, a base chain on forward with two
 * rules, and a chain it jumps to. */
#define CHAIN "fwd-hook"

#define assert_has(text, piece)                                                              \
    do {                                                                                     \
        if (!strstr((text), (piece)))                                                        \
            fail_msg("expected \"%s\" in:\n%s", (piece), (text));                            \
    } while (0)

struct fx {
    struct tby_rs *rs;
    struct tby_nft *nft;
    struct tby_nft_check check;
};

/* What a shell command prints (nft, to change or look at the table by hand). */
static char *sh(const char *cmd)
{
    struct tby_buf out = { 0 };
    FILE *p = popen(cmd, "r");

    assert_non_null(p);
    assert_int_equal(tby_buf_read_stream(&out, p), 0);
    pclose(p);
    return tby_buf_steal(&out, NULL);
}

static struct tby_rs_rule *rule(const struct tby_rs_match *m, enum tby_rs_verdict v,
                                const char *target)
{
    struct tby_rs_rule *r = tby_rs_rule_new();

    assert_non_null(r);
    if (m)
        assert_int_equal(tby_rs_rule_match(r, m), 0);
    assert_int_equal(tby_rs_rule_set_verdict(r, v, target), 0);
    return r;
}

static void chain(struct tby_rs *rs, const char *name, enum tby_rs_hook hook,
                  struct tby_rs_rule *a, struct tby_rs_rule *b)
{
    struct tby_rs_chain *c = tby_rs_chain_add(rs, name, hook);
    struct tby_rs_rules list = { 0 };

    assert_non_null(c);
    assert_int_equal(tby_rs_rules_add(&list, a), 0);
    if (b)
        assert_int_equal(tby_rs_rules_add(&list, b), 0);
    assert_int_equal(tby_rs_chain_take_rules(rs, c, &list), 0);
}

static struct tby_rs *table(void)
{
    struct tby_rs *rs = tby_rs_new();
    struct tby_rs_set *ifs;

    assert_non_null(rs);
    assert_non_null(ifs = tby_rs_set_add(rs, "ifs", TBY_RS_IFNAMES, NULL));
    assert_int_equal(tby_rs_add_ifname(rs, ifs, "cali-a"), 0);
    assert_int_equal(tby_rs_add_ifname(rs, ifs, "cali-b"), 0);
    chain(rs, "to-pods", TBY_RS_HOOK_NONE, rule(NULL, TBY_RS_V_DROP, NULL), NULL);
    chain(rs, CHAIN, TBY_RS_HOOK_FORWARD,
          rule(&(struct tby_rs_match){ .type = TBY_RS_M_CT_STATE, .a = TBY_CT_ESTABLISHED },
               TBY_RS_V_ACCEPT, NULL),
          rule(&(struct tby_rs_match){ .type = TBY_RS_M_IFNAME_SET, .set = "ifs" },
               TBY_RS_V_JUMP, "to-pods"));
    return rs;
}

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    struct tby_error err = { 0 };

    free(sh("nft delete table inet tabby 2>/dev/null"));
    fx->rs = table();
    if (tby_nft_open(&fx->nft, &err) < 0 || tby_nft_sync(fx->nft, fx->rs, NULL, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;

    tby_nft_check_clear(&fx->check);
    tby_nft_close(fx->nft);
    tby_rs_free(fx->rs);
    free(fx);
    return 0;
}

static void check_ok(struct fx *fx)
{
    struct tby_error err = { 0 };

    tby_nft_check_clear(&fx->check);
    if (tby_nft_check(fx->nft, fx->rs, &fx->check, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
}

static struct tby_nft_stats sync_ok(struct fx *fx)
{
    struct tby_nft_stats st = { 0 };
    struct tby_error err = { 0 };

    if (tby_nft_sync(fx->nft, fx->rs, &st, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    return st;
}

static void assert_difference(const struct tby_nft_check *c, const char *sentence)
{
    if (!tby_strv_contains(&c->differences, sentence))
        fail_msg("expected \"%s\" among %zu differences%s%s", sentence, c->differences.n,
                 c->differences.n ? ", the first: " : "",
                 c->differences.n ? c->differences.items[0] : "");
}

static void test_equal_table_has_no_difference_and_keeps_syncs_cheap(void **state)
{
    struct fx *fx = *state;
    struct tby_nft_stats st;

    check_ok(fx);
    assert_true(fx->check.present);
    assert_false(fx->check.rebuild);
    assert_int_equal(fx->check.differences.n, 0);
    assert_string_equal(fx->check.commands, "");
    assert_false(tby_nft_needs_read_back(fx->nft));
    st = sync_ok(fx);
    assert_false(st.read_back);
    assert_int_equal(st.messages, 0);
}

static void test_rule_deleted_by_hand_is_named_not_repaired(void **state)
{
    struct fx *fx = *state;
    _cleanup_free_ char *before = NULL, *after = NULL;
    struct tby_nft_stats st;

    free(sh("h=$(nft -a list chain inet tabby " CHAIN " | awk '/# handle/ && !/chain / "
            "{ print $NF; exit }'); nft delete rule inet tabby " CHAIN " handle $h"));
    before = sh("nft list chain inet tabby " CHAIN);
    check_ok(fx);
    assert_int_equal(fx->check.differences.n, 1);
    assert_true(strncmp(fx->check.differences.items[0], "chain " CHAIN ": its rules differ",
                        strlen("chain " CHAIN ": its rules differ")) == 0);
    assert_has(fx->check.commands, "flush chain inet tabby " CHAIN "\n");
    after = sh("nft list chain inet tabby " CHAIN);
    assert_string_equal(before, after); /* the check changed nothing */
    assert_true(tby_nft_needs_read_back(fx->nft));
    st = sync_ok(fx);
    assert_true(st.read_back);
    assert_true(st.messages > 0);
    check_ok(fx);
    assert_int_equal(fx->check.differences.n, 0);
}

static void test_element_and_stray_chain_are_named(void **state)
{
    struct fx *fx = *state;

    free(sh("nft delete element inet tabby ifs '{ \"cali-b\" }'; "
            "nft add chain inet tabby stray"));
    check_ok(fx);
    assert_int_equal(fx->check.differences.n, 2);
    assert_difference(&fx->check, "set ifs lacks 1 element");
    assert_difference(&fx->check, "chain stray is there but tabby does not want it");
    assert_has(fx->check.commands, "delete chain inet tabby stray\n");
}

static void test_missing_table_is_said(void **state)
{
    struct fx *fx = *state;

    free(sh("nft delete table inet tabby"));
    check_ok(fx);
    assert_false(fx->check.present);
    assert_int_equal(fx->check.differences.n, 1);
    assert_string_equal(fx->check.differences.items[0], "table inet tabby is missing");
    assert_has(fx->check.commands, "add table inet tabby\n");
    sync_ok(fx);
    check_ok(fx);
    assert_true(fx->check.present);
    assert_int_equal(fx->check.differences.n, 0);
}

/* A change of the ruleset not programmed yet counts as a difference too. */
static void test_unprogrammed_change_is_a_difference(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(tby_rs_add_ifname(fx->rs, tby_rs_set_find(fx->rs, "ifs"), "cali-c"), 0);
    check_ok(fx);
    assert_difference(&fx->check, "set ifs lacks 1 element");
    sync_ok(fx);
    check_ok(fx);
    assert_int_equal(fx->check.differences.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_equal_table_has_no_difference_and_keeps_syncs_cheap,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rule_deleted_by_hand_is_named_not_repaired,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_element_and_stray_chain_are_named, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_table_is_said, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unprogrammed_change_is_a_difference, fx_setup,
                                        fx_teardown),
    };

    /* Never the host's namespace: a fresh one for this process and its children. */
    if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
        printf("SKIP test_nft_check: needs root to make a network namespace\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
