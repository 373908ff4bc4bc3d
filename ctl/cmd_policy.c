/* cmd_policy.c — tabbyctl policy explain: why a flow is allowed or denied, from the
 * datastore alone (explain.h evaluates; this file reads the datastore and prints the
 * decision path as a tree, or JSON). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/buf.h"
#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/endpointslice.h"
#include "tabby/enforce.h"
#include "tabby/explain.h"
#include "tabby/nft.h"
#include "tabby/store.h"
#include "ctl.h"

#define POLICY_SYNOPSIS                                                                       \
    "policy explain FROM TO PORT/PROTO [-o text|json] [--sport PORT] [--as-written]\n"        \
    "       [--node NAME]   (on node NAME: the nftables counters of the deciding rules)\n"    \
    "       (FROM may be NS/POD@ADDR: the pod sending from ADDR, for anti-spoofing)\n"        \
    "       policy explain --batch FILE|- [-o text|json]   (lines: FROM TO PORT/PROTO)"

/* Exit codes of explain: allowed, denied, bad input; and the datastore failing. */
enum { EXPLAIN_ALLOWED = 0, EXPLAIN_DENIED = 1, EXPLAIN_BAD_INPUT = 2, EXPLAIN_ERROR = 3 };

static const enum tby_kind model_kinds[] = {
    TBY_KIND_NAMESPACE,       TBY_KIND_PROFILE,          TBY_KIND_WORKLOADENDPOINT,
    TBY_KIND_NETWORKPOLICY,   TBY_KIND_GLOBALNETWORKPOLICY, TBY_KIND_K8S_NETWORKPOLICY,
    TBY_KIND_NETWORKSET,      TBY_KIND_GLOBALNETWORKSET, TBY_KIND_HOSTENDPOINT,
    TBY_KIND_NODE,
};

/* Every resource of one kind into the model. */
static int load_kind(struct tby_store *store, const struct tby_kind_info *info,
                     struct tby_explain *x, struct tby_error *err)
{
    struct tby_resource_list list = { 0 };
    int r = tby_catalog_list(store, info, NULL, &list, err);

    for (size_t i = 0; r == 0 && i < list.n; i++)
        r = tby_explain_add(x, list.items[i]);
    tby_resource_list_clear(&list);
    return r;
}

/* On a datastore that knows Services, their EndpointSlices (rules naming a Service). A
 * slice that does not decode matches nothing, as in tabby-node. */
static int load_slices(struct tby_store *store, struct tby_explain *x, struct tby_error *err)
{
    struct tby_kv_list list = { 0 };
    int r;

    tby_explain_set_caps(x, tby_enforce_caps(store));
    if (!tby_store_knows_services(store))
        return 0;
    r = tby_store_range(store, TBY_EPS_PREFIX, &list, err);
    for (size_t i = 0; r == 0 && i < list.n; i++) {
        _cleanup_json_ json_t *obj = json_loadb(list.items[i].value, list.items[i].value_len,
                                                0, NULL);
        struct tby_eps *eps = NULL;
        struct tby_error why = { 0 };

        if (obj && (r = tby_eps_decode(obj, &eps, &why)) == -ENOMEM)
            break;
        r = eps ? tby_explain_add_endpointslice(x, eps) : 0;
    }
    tby_kv_list_clear(&list);
    return r == -ENOMEM ? tby_error_set(err, r, "out of memory") : r;
}

static int load_model(struct ctl *ctl, struct tby_explain **out)
{
    /* Tiers, once tabby has the kind (the model reads them by name). */
    const struct tby_kind_info *tier = tby_kind_lookup("Tier");
    _cleanup_(tby_explain_freep) struct tby_explain *x = NULL;
    struct tby_store *store = ctl_store(ctl);
    struct tby_error err = { 0 };

    if (!store)
        return EXPLAIN_ERROR;
    if (tby_explain_new(&x) < 0)
        return ctl_fail("out of memory"), EXPLAIN_ERROR;

    for (size_t k = 0; k <= TBY_ARRAY_SIZE(model_kinds); k++) {
        const struct tby_kind_info *info = k < TBY_ARRAY_SIZE(model_kinds)
                                               ? tby_kind_info(model_kinds[k])
                                               : tier;
        int r = info ? load_kind(store, info, x, &err) : 0;

        if (r < 0) {
            ctl_fail("reading the datastore: %s", r == -ENOMEM ? "out of memory"
                                                                : tby_error_str(&err));
            return EXPLAIN_ERROR;
        }
    }
    if (load_slices(store, x, &err) < 0) {
        ctl_fail("reading the datastore: %s", tby_error_str(&err));
        return EXPLAIN_ERROR;
    }
    *out = TBY_STEAL(x);
    return 0;
}

/* ---- the tree ---------------------------------------------------------------------------- */

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

static void print_side(const char *label, const json_t *side)
{
    printf("  %s %-16s %s", label, json_object_get(side, "endpoint") ? str(side, "endpoint")
                                                                     : "(no endpoint)",
           str(side, "address"));
    if (json_object_get(side, "hostEndpoint"))
        printf("  HostEndpoint %s (not policed by tabby yet)", str(side, "hostEndpoint"));
    if (json_object_get(side, "workloadEndpoint"))
        printf("  WorkloadEndpoint %s on node %s", str(side, "workloadEndpoint"),
               str(side, "node"));
    putchar('\n');
}

static void print_order(const json_t *order)
{
    if (json_is_number(order))
        printf("order %.15g", json_number_value(order));
    else
        printf("no order");
}

static void print_policy(const json_t *p)
{
    const json_t *rule;
    size_t i;

    printf("    policy %s (%s, ", str(p, "policy"), str(p, "kind"));
    print_order(json_object_get(p, "order"));
    printf(")\n");
    if (json_object_get(p, "notEnforcedAsWritten"))
        printf("      not enforced as written: %s\n", str(p, "notEnforcedAsWritten"));
    json_array_foreach(json_object_get(p, "rules"), i, rule) {
        char part[32] = "";

        if (json_object_get(rule, "part"))
            snprintf(part, sizeof(part), " (part %lld)",
                     (long long)json_integer_value(json_object_get(rule, "part")));
        printf("      rule %lld%s %s %s: %s\n",
               (long long)json_integer_value(json_object_get(rule, "index")), part,
               str(rule, "action"), json_is_true(json_object_get(rule, "match")) ? "matches"
                                                                                 : "no match",
               str(rule, "because"));
    }
    if (json_array_size(json_object_get(p, "rules")) == 0)
        printf("      no rules in this direction\n");
    printf("      => %s\n", str(p, "action"));
}

static void print_step(const json_t *step)
{
    const json_t *tier, *p, *prof = json_object_get(step, "profiles");
    size_t i, k;

    printf("%s of %s\n", str(step, "direction"), str(step, "endpoint"));
    if (json_array_size(json_object_get(step, "tiers")) == 0)
        printf("  no policy selects it in this direction\n");
    json_array_foreach(json_object_get(step, "tiers"), i, tier) {
        printf("  tier %s (order %.15g)\n", str(tier, "tier"),
               json_number_value(json_object_get(tier, "order")));
        json_array_foreach(json_object_get(tier, "policies"), k, p)
            print_policy(p);
        if (json_object_get(tier, "defaultAction"))
            printf("    no policy decided: the tier's default action, %s\n",
                   str(tier, "defaultAction"));
        else if (strcmp(str(tier, "result"), "Pass") == 0)
            printf("    Pass: on to the next tier\n");
    }
    if (prof) {
        printf("  profiles");
        json_array_foreach(json_object_get(prof, "names"), i, p)
            printf(" %s", json_string_value(p));
        if (json_array_size(json_object_get(prof, "names")) == 0)
            printf(" (none)");
        printf(": %s\n", str(prof, "action"));
    }
    if (json_object_get(step, "counter"))
        printf("  nftables on node %s: rule \"%s\" counted %lld packets (%lld bytes), for "
               "every endpoint it applies to\n", str(json_object_get(step, "counter"), "node"),
               str(json_object_get(step, "counter"), "rule"),
               (long long)json_integer_value(json_object_get(json_object_get(step, "counter"),
                                                             "packets")),
               (long long)json_integer_value(json_object_get(json_object_get(step, "counter"),
                                                             "bytes")));
    printf("  => %s\n", str(step, "verdict"));
}

static const json_t *last(const json_t *o, const char *key)
{
    const json_t *a = json_object_get(o, key);

    return json_array_get(a, json_array_size(a) - 1);
}

/* Where a step was decided: its last tier, that tier's last policy and its last rule
 * (each NULL when there is none). */
struct decider {
    const json_t *tier, *pol, *rule;
};

static struct decider decider_of(const json_t *step)
{
    struct decider d = { .tier = last(step, "tiers") };

    d.pol = last(d.tier, "policies");
    d.rule = last(d.pol, "rules");
    return d;
}

/* Where the verdict was made, in a few words: the last step's deciding tier, policy and
 * rule, or its profiles. Written into b. */
static void decided_by(const json_t *t, struct tby_buf *b)
{
    const json_t *step = last(t, "steps");
    struct decider dc = decider_of(step);
    const json_t *tier = dc.tier, *pol = dc.pol, *rule = dc.rule;

    if (!step) {
        tby_buf_adds(b, str(t, "note"));
        return;
    }
    tby_buf_printf(b, "%s %s: ", str(step, "endpoint"), str(step, "direction"));
    if (json_object_get(step, "profiles")) {
        const char *act = str(json_object_get(step, "profiles"), "action");
        bool allow = strcmp(act, "Allow") == 0;

        if (tier)
            tby_buf_printf(b, "passed to the profiles, which %s", allow ? "allow" : "deny");
        else
            tby_buf_printf(b, "no policy selects it, the profiles %s", allow ? "allow" : "deny");
    }
    else if (json_object_get(tier, "defaultAction"))
        tby_buf_printf(b, "no policy of tier %s decided, its default action %s",
                       str(tier, "tier"), str(tier, "defaultAction"));
    else
        tby_buf_printf(b, "%s rule %lld %s", str(pol, "policy"),
                       (long long)json_integer_value(json_object_get(rule, "index")),
                       str(rule, "action"));
    /* the node's side, after the workloads' (defaultEndpointToHostAction, host endpoints) */
    if (json_object_get(t, "note"))
        tby_buf_printf(b, "; then %s", str(t, "note"));
}

static void print_tree(const json_t *t, const char *port)
{
    _cleanup_buf_ struct tby_buf why = { 0 };
    const json_t *step;
    size_t i;

    printf("%s → %s  %s\n", str(json_object_get(t, "from"), "address"),
           str(json_object_get(t, "to"), "address"), port);
    print_side("from", json_object_get(t, "from"));
    print_side("to  ", json_object_get(t, "to"));
    putchar('\n');
    json_array_foreach(json_object_get(t, "steps"), i, step)
        print_step(step);
    decided_by(t, &why);
    printf("%sverdict: %s (%s)\n", json_array_size(json_object_get(t, "steps")) ? "\n" : "",
           strcmp(str(t, "verdict"), "allow") == 0     ? "ALLOWED"
           : strcmp(str(t, "verdict"), "unknown") == 0 ? "UNKNOWN"
                                                       : "DENIED",
           why.data ? why.data : "");
}

/* ---- one flow and a batch ------------------------------------------------------------------ */

struct opts {
    bool json;
    bool has_sport;
    uint16_t sport;
    const char *node;        /* --node: read this namespace's table as that node's */
};

/* ---- the kernel's counters (--node) ------------------------------------------------------- */

/* The comment of the nft rules that decided a step, as calc_policy.c and calc_chains.c
 * write them; "" when no rule did (no policy, the profiles). */
static void step_comment(const json_t *step, char *buf, size_t size)
{
    struct decider dc = decider_of(step);
    const json_t *tier = dc.tier, *pol = dc.pol, *rule = dc.rule;

    buf[0] = '\0';
    if (!tier || json_object_get(step, "profiles"))
        return;
    if (json_object_get(tier, "defaultAction"))
        snprintf(buf, size, "tier %s: default deny: no %s policy allowed or passed it",
                 str(tier, "tier"), str(step, "direction"));
    else if (rule)
        snprintf(buf, size, "%s %s %lld", str(pol, "policy"), str(step, "direction"),
                 (long long)json_integer_value(json_object_get(rule, "index")));
}

struct sum {
    const char *comment;
    uint64_t packets, bytes;
    bool found;
};

static int sum_rule(void *ctx, const char *chain, const char *comment, uint64_t packets,
                    uint64_t bytes)
{
    struct sum *s = ctx;

    (void)chain;
    if (strcmp(comment, s->comment) == 0) {
        s->packets += packets;
        s->bytes += bytes;
        s->found = true;
    }
    return 0;
}

/* Adds to each step of an endpoint on this node the counters of the rules that decided. */
static int add_counters(json_t *t, const char *node)
{
    _cleanup_(tby_nft_closep) struct tby_nft *nft = NULL;
    struct tby_error err = { 0 };
    const json_t *step;
    size_t i;

    if (tby_nft_open(&nft, &err) < 0) {
        fprintf(stderr, "tabbyctl: policy explain: --node: %s\n", tby_error_str(&err));
        return EXPLAIN_ERROR;
    }
    json_array_foreach(json_object_get(t, "steps"), i, step) {
        const json_t *side = json_object_get(t, strcmp(str(step, "direction"), "ingress") == 0
                                                    ? "to"
                                                    : "from");
        char comment[600];
        struct sum s = { .comment = comment };

        step_comment(step, comment, sizeof(comment));
        if (!comment[0] || strcmp(str(side, "node"), node) != 0)
            continue;
        if (tby_nft_rule_counters(nft, sum_rule, &s, &err) < 0) {
            fprintf(stderr, "tabbyctl: policy explain: --node: reading table inet tabby: %s\n",
                    tby_error_str(&err));
            return EXPLAIN_ERROR;
        }
        if (s.found)
            json_object_set_new((json_t *)step, "counter",
                                json_pack("{s:s,s:s,s:I,s:I}", "node", node, "rule", comment,
                                          "packets", (json_int_t)s.packets, "bytes",
                                          (json_int_t)s.bytes));
    }
    return 0;
}

/* Explains one flow: EXPLAIN_ALLOWED, _DENIED or _BAD_INPUT (with *msg, new). */
static int explain_one(struct tby_explain *x, const char *from, const char *to, const char *port,
                       const struct opts *o, json_t **trace, char **msg)
{
    struct tby_explain_packet p = { .has_src_port = o->has_sport, .src_port = o->sport };
    struct tby_error err = { 0 };
    bool allowed;
    int r;

    if ((r = tby_explain_peer_parse(x, from, &p.from, &err)) < 0 ||
        (r = tby_explain_peer_parse(x, to, &p.to, &err)) < 0 ||
        (r = tby_explain_port_parse(port, &p, &err)) < 0 ||
        (r = tby_explain_flow(x, &p, &allowed, trace, &err)) < 0) {
        *msg = strdup(tby_error_str(&err));
        return r == -ENOMEM ? EXPLAIN_ERROR : EXPLAIN_BAD_INPUT;
    }
    return allowed ? EXPLAIN_ALLOWED : EXPLAIN_DENIED;
}

static int single(struct tby_explain *x, char **args, const struct opts *o)
{
    _cleanup_json_ json_t *t = NULL;
    _cleanup_free_ char *msg = NULL;
    int r = explain_one(x, args[0], args[1], args[2], o, &t, &msg);

    if (r == EXPLAIN_BAD_INPUT || r == EXPLAIN_ERROR) {
        fprintf(stderr, "tabbyctl: policy explain: %s\n", msg ? msg : "out of memory");
        return r;
    }
    if (o->node && add_counters(t, o->node))
        return EXPLAIN_ERROR;
    if (o->json)
        json_dumpf(t, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    else
        print_tree(t, args[2]);
    if (o->json)
        putchar('\n');
    return r;
}

/* One line "FROM TO PORT/PROTO" per flow; prints "FROM TO PORT/PROTO allow|deny WHY" (or
 * the JSON trace on one line). A bad line is reported with its number and the rest go on;
 * the exit status is then EXPLAIN_BAD_INPUT, else 0. */
static int batch(struct tby_explain *x, const char *path, const struct opts *o)
{
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
    _cleanup_free_ char *line = NULL;
    size_t cap = 0, lineno = 0;
    int status = 0;

    if (!in) {
        fprintf(stderr, "tabbyctl: policy explain: %s: %s\n", path, strerror(errno));
        return EXPLAIN_BAD_INPUT;
    }
    while (getline(&line, &cap, in) >= 0) {
        char *args[4], *save = NULL, *tok;
        _cleanup_json_ json_t *t = NULL;
        _cleanup_free_ char *msg = NULL;
        _cleanup_buf_ struct tby_buf why = { 0 };
        int n = 0, r;

        lineno++;
        for (tok = strtok_r(line, " \t\n", &save); tok && n < 4;
             tok = strtok_r(NULL, " \t\n", &save))
            args[n++] = tok;
        if (n == 0 || args[0][0] == '#')
            continue;
        if (n != 3) {
            fprintf(stderr, "tabbyctl: policy explain: %s: line %zu: expected FROM TO "
                    "PORT/PROTO\n", path, lineno);
            status = EXPLAIN_BAD_INPUT;
            continue;
        }
        r = explain_one(x, args[0], args[1], args[2], o, &t, &msg);
        if (r == EXPLAIN_BAD_INPUT || r == EXPLAIN_ERROR) {
            fprintf(stderr, "tabbyctl: policy explain: %s: line %zu: %s\n", path, lineno,
                    msg ? msg : "out of memory");
            status = status ? status : r;
            continue;
        }
        if (o->json) {
            json_dumpf(t, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
            putchar('\n');
            continue;
        }
        decided_by(t, &why);
        printf("%s %s %s %s %s\n", args[0], args[1], args[2], str(t, "verdict"),
               why.data ? why.data : "");
    }
    if (in != stdin)
        fclose(in);
    return status;
}

static int cmd_explain(struct ctl *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        { "output", required_argument, NULL, 'o' },
        { "batch", required_argument, NULL, 'b' },
        { "sport", required_argument, NULL, 's' },
        { "as-written", no_argument, NULL, 'w' },
        { "node", required_argument, NULL, 'n' },
        { NULL, 0, NULL, 0 },
    };
    _cleanup_(tby_explain_freep) struct tby_explain *x = NULL;
    const char *batch_file = NULL;
    bool as_written = false;
    struct opts o = { 0 };
    char *end;
    long v;
    int opt, r;

    while ((opt = getopt_long(argc, argv, "o:", options, NULL)) != -1) {
        if (opt == 'o' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "text") == 0)) {
            o.json = strcmp(optarg, "json") == 0;
        } else if (opt == 'n') {
            o.node = optarg;
        } else if (opt == 'w') {
            as_written = true;
        } else if (opt == 'b') {
            batch_file = optarg;
        } else if (opt == 's') {
            v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 0 || v > 65535)
                return ctl_usage_error(POLICY_SYNOPSIS, "--sport: a port from 0 to 65535, "
                                                        "got \"%s\"", optarg);
            o.has_sport = true;
            o.sport = (uint16_t)v;
        } else {
            return ctl_usage_error(POLICY_SYNOPSIS, "-o takes text or json");
        }
    }
    if (batch_file ? optind != argc : argc - optind != 3)
        return ctl_usage_error(POLICY_SYNOPSIS, batch_file
                                                    ? "--batch takes no other arguments"
                                                    : "explain needs FROM, TO and PORT/PROTO");
    if ((r = load_model(ctl, &x)))
        return r;
    tby_explain_as_written(x, as_written);
    return batch_file ? batch(x, batch_file, &o) : single(x, argv + optind, &o);
}

int ctl_cmd_policy(struct ctl *ctl, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "explain") != 0)
        return ctl_usage_error(POLICY_SYNOPSIS, "policy needs a subcommand: explain");
    return cmd_explain(ctl, argc - 1, argv + 1);
}
