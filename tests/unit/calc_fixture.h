/* calc_fixture.h — helpers for tests of the policy calculation and the dataplane (include
 * once per test program, after cmocka.h): resources from YAML, WorkloadEndpoints built by
 * hand, the ruleset as nft text, a calculation holding a list of YAML texts (calc_of). */
#ifndef TABBY_TEST_CALC_FIXTURE_H
#define TABBY_TEST_CALC_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/calc.h"
#include "tabby/cleanup.h"
#include "tabby/resource.h"
#include "tabby/ruleset.h"
#include "tabby/strv.h"

#define NODE "node-a"

/* ---- helpers ---------------------------------------------------------------------------- */

/* Applies (or with remove, deletes) every document of a YAML text. */
__attribute__((unused)) static void yaml_do(struct tby_calc *c, const char *yaml, bool remove)
{
    struct tby_resource_list list = { 0 };
    struct tby_error err = { 0 };

    if (tby_resource_load(yaml, strlen(yaml), "test", &list, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    for (size_t i = 0; i < list.n; i++) {
        int r = remove ? tby_calc_remove(c, list.items[i], &err)
                       : tby_calc_update(c, list.items[i], &err);

        if (r < 0)
            fail_msg("%s", tby_error_str(&err));
    }
    tby_resource_list_clear(&list);
}

__attribute__((unused)) static void apply(struct tby_calc *c, const char *yaml)
{
    yaml_do(c, yaml, false);
}

__attribute__((unused)) static void delete(struct tby_calc *c, const char *yaml)
{
    yaml_do(c, yaml, true);
}

/* A WorkloadEndpoint built by hand: labels "k=v,k2=v2", ports "name/proto/port,...". */
struct wep_spec {
    const char *ns, *name, *node, *iface, *ip, *labels, *ports;
};

__attribute__((unused)) static void wep_free_spec(struct tby_wep *w)
{
    free(w->node);
    free(w->interface_name);
    free(w->orchestrator);
    free(w->service_account_name);
    tby_strv_clear(&w->profiles);
    free(w->ip_networks.items);
    free(w->allow_spoofed_source_prefixes.items);
    for (size_t i = 0; i < w->n_ports; i++)
        free(w->ports[i].name);
    free(w->ports);
    free(w);
}

__attribute__((unused)) static struct tby_resource *wep_res(const struct wep_spec *s)
{
    struct tby_resource *res = calloc(1, sizeof(*res));
    struct tby_wep *w = calloc(1, sizeof(*w));
    char buf[256], *save = NULL;

    res->info = tby_kind_info(TBY_KIND_WORKLOADENDPOINT);
    res->meta.name = strdup(s->name);
    res->meta.namespace = strdup(s->ns);
    res->meta.labels = json_object();
    res->meta.annotations = json_object();
    w->node = strdup(s->node ? s->node : NODE);
    w->interface_name = s->iface ? strdup(s->iface) : NULL;
    w->orchestrator = strdup("k8s");
    w->ip_networks.items = calloc(2, sizeof(struct tby_cidr));
    if (s->ip)
        assert_int_equal(tby_cidr_parse(s->ip, TBY_CIDR_ALLOW_IP, &w->ip_networks.items[0], NULL),
                         0);
    w->ip_networks.n = s->ip ? 1 : 0;
    snprintf(buf, sizeof(buf), "%s", s->labels ? s->labels : "");
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');

        *eq = '\0';
        json_object_set_new(res->meta.labels, t, json_string(eq + 1));
    }
    w->ports = calloc(4, sizeof(*w->ports));
    snprintf(buf, sizeof(buf), "%s", s->ports ? s->ports : "");
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char name[64];
        int proto, port;

        assert_int_equal(sscanf(t, "%63[^/]/%d/%d", name, &proto, &port), 3);
        w->ports[w->n_ports++] = (struct tby_endpoint_port){ .name = strdup(name),
                                                             .protocol = proto,
                                                             .port = (uint16_t)port };
    }
    res->spec.wep = w;
    return res;
}

__attribute__((unused)) static void res_free(struct tby_resource *res)
{
    wep_free_spec(res->spec.wep);
    res->spec.any = NULL;
    tby_resource_free(res);
}

__attribute__((unused)) static void wep(struct tby_calc *c, struct wep_spec s)
{
    struct tby_resource *res = wep_res(&s);
    struct tby_error err = { 0 };

    assert_int_equal(tby_calc_update(c, res, &err), 0);
    res_free(res);
}

/* The same with a service account, and the profiles kns.<ns> and ksa.<ns>.<sa> the CNI
 * plugin gives it. */
__attribute__((unused)) static void wep_account(struct tby_calc *c, struct wep_spec s,
                                                const char *sa)
{
    struct tby_resource *res = wep_res(&s);
    struct tby_wep *w = res->spec.wep;
    struct tby_error err = { 0 };
    char *kns = NULL, *ksa = NULL;

    assert_true(asprintf(&kns, "kns.%s", s.ns) > 0 && asprintf(&ksa, "ksa.%s.%s", s.ns, sa) > 0);
    assert_int_equal(tby_strv_push_take(&w->profiles, kns), 0);
    assert_int_equal(tby_strv_push_take(&w->profiles, ksa), 0);
    w->service_account_name = strdup(sa);
    assert_int_equal(tby_calc_update(c, res, &err), 0);
    res_free(res);
}

__attribute__((unused)) static void wep_delete(struct tby_calc *c, const char *ns, const char *name)
{
    struct wep_spec s = { .ns = ns, .name = name };
    struct tby_resource *res = wep_res(&s);
    struct tby_error err = { 0 };

    assert_int_equal(tby_calc_remove(c, res, &err), 0);
    res_free(res);
}

/* The ruleset as nft text, whole or its journal; caller frees. */
__attribute__((unused)) static char *rs_text(const struct tby_rs *rs, bool journal)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_int_equal(journal ? tby_rs_render_journal(rs, f) : tby_rs_render(rs, f), 0);
    fclose(f);
    return buf;
}

__attribute__((unused)) static char *dump(struct tby_calc *c)
{
    return rs_text(tby_calc_ruleset(c), false);
}

__attribute__((unused)) static char *journal(struct tby_calc *c)
{
    return rs_text(tby_calc_ruleset(c), true);
}

#define assert_has(text, piece)                                                              \
    do {                                                                                     \
        if (!strstr((text), (piece)))                                                        \
            fail_msg("expected \"%s\" in:\n%s", (piece), (text));                            \
    } while (0)
#define assert_lacks(text, piece)                                                            \
    do {                                                                                     \
        if (strstr((text), (piece)))                                                         \
            fail_msg("did not expect \"%s\" in:\n%s", (piece), (text));                      \
    } while (0)

/* The line of the dump holding `piece`, copied into buf. */
__attribute__((unused)) static const char *line_with(const char *text, const char *piece, char *buf, size_t size)
{
    const char *p = strstr(text, piece), *start, *end;

    if (!p)
        fail_msg("expected \"%s\" in:\n%s", piece, text);
    for (start = p; start > text && start[-1] != '\n'; start--)
        ;
    end = strchr(p, '\n');
    snprintf(buf, size, "%.*s", (int)(end ? end - start : (long)strlen(start)), start);
    return buf;
}

/* The name of the set whose comment is exactly `comment`. */
__attribute__((unused)) static const char *set_named(const char *text, const char *comment, char *buf, size_t size)
{
    char want[512], line[4096];
    const char *l, *name;

    snprintf(want, sizeof(want), "comment \"%s\";", comment);
    l = line_with(text, want, line, sizeof(line));
    name = strstr(l, "set ") + 4;
    snprintf(buf, size, "%.*s", (int)strcspn(name, " "), name);
    return buf;
}

/* The policy whose chain is `chain` applies to ifname (or not): the dispatch rule that
 * jumps to the chain tests a set of interfaces (that of the policy's selector) holding it.
 * A policy that applies to no local workload has no dispatch rule. */
__attribute__((unused)) static void assert_applies(const char *text, const char *chain,
                                                   const char *ifname, bool yes)
{
    char want[300], set[128] = "", head[160], line[16384], quoted[64];
    const char *hit, *start, *at;
    bool held = false;

    snprintf(want, sizeof(want), " jump %s\n", chain);
    for (hit = strstr(text, want); hit; hit = strstr(hit + 1, want)) {
        for (start = hit; start > text && start[-1] != '\n'; start--)
            ;
        if ((at = strstr(start, "@wl-")) && at < hit) {
            snprintf(set, sizeof(set), "%.*s", (int)strcspn(at + 1, " "), at + 1);
            break;
        }
    }
    if (set[0]) {
        snprintf(head, sizeof(head), "\tset %s {", set);
        snprintf(quoted, sizeof(quoted), "\"%s\"", ifname);
        held = strstr(line_with(text, head, line, sizeof(line)), quoted) != NULL;
    }
    if (held != yes)
        fail_msg("%s should%s apply to %s:\n%s", chain, yes ? "" : " not", ifname, text);
}

/* Appends the chains `chain` jumps to, in order, descending into the dispatch's pages
 * (chains named "<dir>-…"). */
__attribute__((unused)) static void dispatch_targets(const char *text, const char *dir,
                                                     const char *chain, char *got, size_t size)
{
    char head[300], target[256];
    const char *p, *end;

    snprintf(head, sizeof(head), "\tchain %s {\n", chain);
    if (!(p = strstr(text, head)) || !(end = strstr(p, "\n\t}")))
        fail_msg("no chain %s in:\n%s", chain, text);
    /* " jump X", or "\tjump X" for a rule with no match */
    for (p = strstr(p, "jump "); p && p < end; p = strstr(p + 1, "jump ")) {
        if (p[-1] != ' ' && p[-1] != '\t')
            continue;
        snprintf(target, sizeof(target), "%.*s", (int)strcspn(p + 5, "\n"), p + 5);
        if (strncmp(target, dir, strlen(dir)) == 0 && target[strlen(dir)] == '-') {
            dispatch_targets(text, dir, target, got, size);
            continue;
        }
        snprintf(got + strlen(got), size - strlen(got), "%s%s", got[0] ? " " : "", target);
    }
}

/* The dispatch chain `dir` ("to-wl", "from-wl") runs exactly the policy chains listed
 * ("a b c"), in that order. */
__attribute__((unused)) static void assert_dispatch(const char *text, const char *dir,
                                                    const char *chains)
{
    char got[8192] = "";

    dispatch_targets(text, dir, dir, got, sizeof(got));
    if (strcmp(got, chains) != 0)
        fail_msg("%s runs \"%s\", expected \"%s\":\n%s", dir, got, chains, text);
}

__attribute__((unused)) static int count(const char *text, const char *piece)
{
    int n = 0;

    for (const char *p = strstr(text, piece); p; p = strstr(p + 1, piece))
        n++;
    return n;
}

__attribute__((unused)) static struct tby_calc *calc_new(void)
{
    struct tby_calc *c = NULL;

    assert_int_equal(tby_calc_new(NODE, &c), 0);
    return c;
}

/* A calculation of NODE that applied each YAML text given, in order (NULL ends them). */
__attribute__((unused, sentinel)) static struct tby_calc *calc_of(const char *yaml, ...)
{
    struct tby_calc *c = calc_new();
    va_list ap;

    va_start(ap, yaml);
    for (const char *y = yaml; y; y = va_arg(ap, const char *))
        apply(c, y);
    va_end(ap);
    return c;
}

#endif
