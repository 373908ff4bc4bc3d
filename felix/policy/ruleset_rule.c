/* ruleset_rule.c — rules of the ruleset model: building them, their nft text, and the
 * digest (a hash of that text) by which a chain's rules are compared with the kernel's. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/hmap.h"
#include "tabby/model.h"
#include "tabby/ruleset.h"

struct tby_rs_rule *tby_rs_rule_new(void)
{
    struct tby_rs_rule *r = calloc(1, sizeof(struct tby_rs_rule));

    if (r)
        r->refs = 1;
    return r;
}

struct tby_rs_rule *tby_rs_rule_ref(struct tby_rs_rule *rule)
{
    if (rule)
        rule->refs++;
    return rule;
}

void tby_rs_rule_free(struct tby_rs_rule *rule)
{
    if (!rule || --rule->refs > 0)
        return;
    if (rule->packed) {
        if ((void *)rule->m != (void *)(rule + 1)) /* not in the rule's own block */
            free(rule->m);
        free(rule);
        return;
    }
    for (size_t i = 0; i < rule->n; i++)
        free(rule->m[i].set);
    free(rule->m);
    free(rule->log_prefix);
    free(rule->target);
    free(rule->comment);
    free(rule);
}

int tby_rs_rule_match(struct tby_rs_rule *rule, const struct tby_rs_match *m)
{
    struct tby_rs_match *p;
    char *set = NULL;

    if (rule->packed || rule->n == UINT16_MAX)
        return -EINVAL;
    if (!(p = realloc(rule->m, (rule->n + 1) * sizeof(*p))))
        return -ENOMEM;
    rule->m = p;
    if (m->set && !(set = strdup(m->set)))
        return -ENOMEM;
    p[rule->n] = *m;
    p[rule->n].set = set;
    rule->n++;
    return 0;
}

/* Replaces *dst by a copy of src (NULL clears), cut to max bytes, with double quotes
 * (which nft text cannot hold in a string) turned into single ones. */
static int set_text(char **dst, const char *src, size_t max)
{
    char *s = NULL;

    if (src) {
        s = strndup(src, max);
        if (!s)
            return -ENOMEM;
        for (char *q = s; *q; q++)
            if (*q == '"' || *q == '\\' || *q == '\n')
                *q = '\'';
    }
    free(*dst);
    *dst = s;
    return 0;
}

int tby_rs_rule_set_comment(struct tby_rs_rule *rule, const char *comment)
{
    return rule->packed ? -EINVAL : set_text(&rule->comment, comment, TBY_RS_COMMENT_MAX);
}

int tby_rs_rule_set_log(struct tby_rs_rule *rule, const char *prefix)
{
    /* The kernel takes log prefixes of up to 127 bytes. */
    return rule->packed ? -EINVAL : set_text(&rule->log_prefix, prefix, 127);
}

int tby_rs_rule_set_verdict(struct tby_rs_rule *rule, enum tby_rs_verdict v, const char *target)
{
    if (rule->packed)
        return -EINVAL;
    rule->verdict = v;
    return set_text(&rule->target, target, TBY_RS_NAME_MAX);
}

struct tby_rs_rule *tby_rs_rule_of(const struct tby_rs_match *m, size_t n,
                                   enum tby_rs_verdict v, const char *target,
                                   const char *comment)
{
    struct tby_rs_rule *r = tby_rs_rule_new();

    for (size_t i = 0; r && i < n; i++) {
        if (tby_rs_rule_match(r, &m[i]) < 0) {
            tby_rs_rule_free(r);
            return NULL;
        }
    }
    if (r && (tby_rs_rule_set_verdict(r, v, target) < 0 ||
              (comment && tby_rs_rule_set_comment(r, comment) < 0))) {
        tby_rs_rule_free(r);
        return NULL;
    }
    return r;
}

static size_t text_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Moves s (freed) into the block at *at; NULL stays NULL. */
static char *pack_text(char *s, char **at)
{
    char *d = *at;

    if (!s)
        return NULL;
    strcpy(d, s);
    *at += strlen(s) + 1;
    free(s);
    return d;
}

/* The bytes of the rule's matches and strings. */
static size_t packed_size(const struct tby_rs_rule *rule)
{
    size_t bytes = rule->n * sizeof(*rule->m);

    for (size_t i = 0; i < rule->n; i++)
        bytes += text_size(rule->m[i].set);
    return bytes + text_size(rule->log_prefix) + text_size(rule->target) +
           text_size(rule->comment);
}

/* Moves the matches, then the strings, into block (of packed_size bytes). */
static void pack_into(struct tby_rs_rule *rule, struct tby_rs_match *m)
{
    char *at = (char *)(m + rule->n);

    for (size_t i = 0; i < rule->n; i++) {
        m[i] = rule->m[i];
        m[i].set = pack_text(rule->m[i].set, &at);
    }
    rule->log_prefix = pack_text(rule->log_prefix, &at);
    rule->target = pack_text(rule->target, &at);
    rule->comment = pack_text(rule->comment, &at);
    free(rule->m);
    rule->m = m;
    rule->packed = true;
}

/* The matches, then the strings, in one allocation; left as it is when that cannot be
 * had (it is only smaller). */
static void pack(struct tby_rs_rule *rule)
{
    size_t bytes = packed_size(rule);
    struct tby_rs_match *m;

    if (bytes > 0 && (m = malloc(bytes)))
        pack_into(rule, m);
}

/* The digest: a hash of the rule's text. -ENOMEM. */
static int digest(struct tby_rs_rule *rule)
{
    _cleanup_free_ char *text = tby_rs_rule_text(rule);

    if (!text)
        return -ENOMEM;
    rule->digest = tby_hash_str(text);
    /* 0 stands for "a rule tabby did not write" when the kernel's rules are read back. */
    if (rule->digest == 0)
        rule->digest = 1;
    return 0;
}

int tby_rs_rule_seal(struct tby_rs_rule *rule)
{
    if (digest(rule) < 0)
        return -ENOMEM;
    if (!rule->packed)
        pack(rule);
    return 0;
}

/* A rule nobody else holds moves, with its matches and strings, into one block: one
 * malloc chunk (its header and its rounding) less per rule. Others are packed where
 * they are. */
static struct tby_rs_rule *whole(struct tby_rs_rule *rule)
{
    struct tby_rs_rule *w;

    if (rule->packed)
        return rule;
    if (rule->refs != 1 || !(w = malloc(sizeof(*w) + packed_size(rule)))) {
        pack(rule);
        return rule;
    }
    *w = *rule;
    pack_into(w, (struct tby_rs_match *)(void *)(w + 1));
    free(rule);
    return w;
}

struct tby_rs_rule *tby_rs_rule_sealed(struct tby_rs_rule *rule)
{
    if (!rule)
        return NULL;
    if (digest(rule) < 0) {
        tby_rs_rule_free(rule);
        return NULL;
    }
    return whole(rule);
}

int tby_rs_rules_add(struct tby_rs_rules *list, struct tby_rs_rule *rule)
{
    if (rule && !rule->digest)
        rule = tby_rs_rule_sealed(rule);
    if (!rule || TBY_GROW(list->v, list->cap, list->n + 1) < 0) {
        tby_rs_rule_free(rule);
        return -ENOMEM;
    }
    list->v[list->n++] = rule;
    return 0;
}

void tby_rs_rules_clear(struct tby_rs_rules *list)
{
    for (size_t i = 0; i < list->n; i++)
        tby_rs_rule_free(list->v[i]);
    free(list->v);
    *list = (struct tby_rs_rules){ 0 };
}

/* ---- denied packets: log, then drop (ruleset.h) ------------------------------------------ */

void tby_rs_deny_id(const char *comment, char id[TBY_RS_DENY_ID_SIZE])
{
    snprintf(id, TBY_RS_DENY_ID_SIZE, TBY_RS_DENY_ID_TAG "%012llx",
             (unsigned long long)(tby_hash_str(comment ? comment : "") & 0xffffffffffffULL));
}

struct tby_rs_rule *tby_rs_deny_log_rule(const struct tby_rs_rule *drop)
{
    _cleanup_(tby_rs_rule_freep) struct tby_rs_rule *r = tby_rs_rule_new();
    char id[TBY_RS_DENY_ID_SIZE];

    for (size_t i = 0; r && i < drop->n; i++)
        if (tby_rs_rule_match(r, &drop->m[i]) < 0)
            return NULL;
    tby_rs_deny_id(drop->comment, id);
    if (!r || tby_rs_rule_set_log(r, id) < 0)
        return NULL;
    r->log_nflog = true;
    r->log_group = TBY_RS_DENY_LOG_GROUP;
    r->limit_rate = TBY_RS_DENY_LOG_RATE;
    r->limit_burst = TBY_RS_DENY_LOG_BURST;
    return TBY_STEAL(r);
}

int tby_rs_rules_add_deny(struct tby_rs_rules *list, struct tby_rs_rule *drop)
{
    if (!drop)
        return -ENOMEM;
    if (tby_rs_rules_add(list, tby_rs_deny_log_rule(drop)) < 0) {
        tby_rs_rule_free(drop);
        return -ENOMEM;
    }
    return tby_rs_rules_add(list, drop);
}

/* ---- text ------------------------------------------------------------------------------- */

static const char *proto_name(uint32_t p)
{
    switch (p) {
    case TBY_PROTO_ICMP:
        return "icmp";
    case TBY_PROTO_TCP:
        return "tcp";
    case TBY_PROTO_UDP:
        return "udp";
    case TBY_PROTO_ICMPV6:
        return "ipv6-icmp";
    case TBY_PROTO_SCTP:
        return "sctp";
    case TBY_PROTO_UDPLITE:
        return "udplite";
    default:
        return NULL;
    }
}

static void put_proto(FILE *f, uint32_t p)
{
    const char *name = proto_name(p);

    if (name)
        fputs(name, f);
    else
        fprintf(f, "%u", p);
}

static void put_ct_state(FILE *f, uint32_t bits)
{
    static const struct { uint32_t bit; const char *name; } names[] = {
        { TBY_CT_INVALID, "invalid" },
        { TBY_CT_ESTABLISHED, "established" },
        { TBY_CT_RELATED, "related" },
    };
    const char *sep = "";

    fputs("ct state ", f);
    for (size_t i = 0; i < TBY_ARRAY_SIZE(names); i++) {
        if (bits & names[i].bit) {
            fprintf(f, "%s%s", sep, names[i].name);
            sep = ",";
        }
    }
}

static const char *neq(const struct tby_rs_match *m)
{
    return m->neg ? "!= " : "";
}

static const char *addr_kw(const struct tby_rs_match *m)
{
    return m->family == 6 ? "ip6" : "ip";
}

static const char *dir(const struct tby_rs_match *m)
{
    return m->src ? "s" : "d";
}

static void put_icmp(FILE *f, const struct tby_rs_match *m)
{
    const char *kw = m->family == 6 ? "icmpv6" : "icmp";

    /* not (type and code) is one compare of both bytes of the header, as nft does it. */
    if (m->neg && m->has_b)
        fprintf(f, "@th,0,16 != 0x%04x", (unsigned)((m->a << 8) | m->b));
    else if (m->has_b)
        fprintf(f, "%s type %u %s code %u", kw, m->a, kw, m->b);
    else
        fprintf(f, "%s type %s%u", kw, neq(m), m->a);
}

static void put_match(FILE *f, const struct tby_rs_match *m)
{
    switch (m->type) {
    case TBY_RS_M_CT_STATE:
        put_ct_state(f, m->a);
        break;
    case TBY_RS_M_NFPROTO:
        fprintf(f, "meta nfproto %s", m->family == 6 ? "ipv6" : "ipv4");
        break;
    case TBY_RS_M_L4PROTO:
        fprintf(f, "meta l4proto %s", neq(m));
        put_proto(f, m->a);
        break;
    case TBY_RS_M_ICMP:
        put_icmp(f, m);
        break;
    case TBY_RS_M_ADDR_SET:
        fprintf(f, "%s %saddr %s@%s", addr_kw(m), dir(m), neq(m), m->set);
        break;
    case TBY_RS_M_PORT:
        fprintf(f, "th %sport %s%u", dir(m), neq(m), m->a);
        if (m->has_b && m->b != m->a)
            fprintf(f, "-%u", m->b);
        break;
    case TBY_RS_M_PORT_SET:
        fprintf(f, "th %sport %s@%s", dir(m), neq(m), m->set);
        break;
    case TBY_RS_M_ADDR_PROTO_PORT:
        fprintf(f, "%s %saddr . meta l4proto . th %sport %s@%s", addr_kw(m), dir(m), dir(m),
                neq(m), m->set);
        break;
    case TBY_RS_M_MARK:
        fprintf(f, "meta mark & 0x%08x %s 0", m->a, m->neg ? "!=" : "==");
        break;
    case TBY_RS_M_IFNAME_SET:
        fprintf(f, "%s %s@%s", m->src ? "iifname" : "oifname", neq(m), m->set);
        break;
    case TBY_RS_M_IFNAME_ADDR_SET:
        fprintf(f, "iifname . %s saddr %s@%s", addr_kw(m), neq(m), m->set);
        break;
    }
}

static void put_mark_set(FILE *f, const struct tby_rs_rule *r)
{
    if (r->mark_xor == 0)
        fprintf(f, "meta mark set mark & 0x%08x", r->mark_and);
    else if (r->mark_and == ~r->mark_xor)
        fprintf(f, "meta mark set mark | 0x%08x", r->mark_xor);
    else
        fprintf(f, "meta mark set mark & 0x%08x ^ 0x%08x", r->mark_and, r->mark_xor);
}

static void put_verdict(FILE *f, const struct tby_rs_rule *r)
{
    static const char *const words[] = {
        [TBY_RS_V_ACCEPT] = "accept", [TBY_RS_V_DROP] = "drop", [TBY_RS_V_RETURN] = "return",
        [TBY_RS_V_JUMP] = "jump", [TBY_RS_V_GOTO] = "goto",
        [TBY_RS_V_VMAP_IIF] = "iifname vmap", [TBY_RS_V_VMAP_OIF] = "oifname vmap",
        [TBY_RS_V_MASQUERADE] = "masquerade", [TBY_RS_V_SNAT] = "snat ip to",
    };

    if (r->verdict == TBY_RS_V_NONE)
        return;
    fputs(words[r->verdict], f);
    if (r->verdict == TBY_RS_V_JUMP || r->verdict == TBY_RS_V_GOTO ||
        r->verdict == TBY_RS_V_SNAT)
        fprintf(f, " %s", r->target);
    else if (r->verdict == TBY_RS_V_VMAP_IIF || r->verdict == TBY_RS_V_VMAP_OIF)
        fprintf(f, " @%s", r->target);
}

/* Writes each piece with one space between pieces. */
static void sep(FILE *f, long start)
{
    if (ftell(f) > start)
        fputc(' ', f);
}

static void put_rule(FILE *f, const struct tby_rs_rule *r)
{
    long start = ftell(f);

    for (size_t i = 0; i < r->n; i++) {
        sep(f, start);
        put_match(f, &r->m[i]);
    }
    if (r->counter) {
        sep(f, start);
        fputs("counter", f);
    }
    if (r->limit_rate) {
        sep(f, start);
        fprintf(f, "limit rate %u/second burst %u packets", r->limit_rate, r->limit_burst);
    }
    if (r->log_prefix) {
        sep(f, start);
        fprintf(f, "log prefix \"%s\"", r->log_prefix);
        if (r->log_nflog)
            fprintf(f, " group %u", r->log_group);
    }
    if (r->set_mark) {
        sep(f, start);
        put_mark_set(f, r);
    }
    if (r->notrack) {
        sep(f, start);
        fputs("notrack", f);
    }
    if (r->verdict != TBY_RS_V_NONE) {
        sep(f, start);
        put_verdict(f, r);
    }
    if (r->comment) {
        sep(f, start);
        fprintf(f, "comment \"%s\"", r->comment);
    }
}

char *tby_rs_rule_text(const struct tby_rs_rule *rule)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return NULL;
    put_rule(f, rule);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
