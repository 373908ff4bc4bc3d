/* test_node_metrics.c — /metrics: Prometheus' text format (every family with its HELP and
 * TYPE lines, once, before its samples; names tabby_…; label values escaped), the core's
 * series and the parts' (the policy engine in --dump mode, registration), a node waiting
 * for its datastore file, and the histogram's cumulative buckets. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node_fixture.h"

/* ---- the text format ----------------------------------------------------------------------- */

#define MAX_FAMILIES 128

struct families {
    char name[MAX_FAMILIES][64];
    size_t n;
};

static bool seen(const struct families *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->name[i], name) == 0)
            return true;
    return false;
}

/* A metric or label name at *p ([a-zA-Z_:][a-zA-Z0-9_:]*, no ':' for labels), copied. */
static bool name_at(const char **p, char *out, size_t size, bool label)
{
    size_t n = 0;

    if (!isalpha((unsigned char)**p) && **p != '_' && (label || **p != ':'))
        return false;
    while ((isalnum((unsigned char)**p) || **p == '_' || (!label && **p == ':')) &&
           n + 1 < size)
        out[n++] = *(*p)++;
    out[n] = '\0';
    return true;
}

/* {name="value",...}: values may hold \\, \" and \n only as escapes. */
static bool labels_at(const char **p)
{
    char name[64];

    if (**p != '{')
        return true;
    (*p)++;
    do {
        if (!name_at(p, name, sizeof(name), true) || *(*p)++ != '=' || *(*p)++ != '"')
            return false;
        for (; **p != '"'; (*p)++) {
            if (!**p || **p == '\n')
                return false;
            if (**p == '\\' && !strchr("\\\"n", *++*p))
                return false;
        }
        (*p)++;
    } while (**p == ',' && (*p)++);
    return *(*p)++ == '}';
}

/* The family a sample belongs to: its name, or a histogram's without _bucket/_sum/_count. */
static void family_of(const char *sample, const char *type, char *out, size_t size)
{
    static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
    size_t len = strlen(sample);

    snprintf(out, size, "%s", sample);
    if (strcmp(type, "histogram") != 0)
        return;
    for (size_t i = 0; i < 3; i++) {
        size_t sl = strlen(suffixes[i]);

        if (len > sl && strcmp(sample + len - sl, suffixes[i]) == 0)
            out[len - sl] = '\0';
    }
}

static void assert_prometheus_text(const char *text)
{
    struct families *fams = calloc(1, sizeof(*fams));
    char help[64] = "", family[64] = "", type[16] = "", name[64], of[64];
    const char *line = text, *end;

    assert_non_null(text);
    for (; *line; line = end + 1) {
        const char *p = line;
        char *vend;

        assert_non_null(end = strchr(line, '\n')); /* every line ends */
        if (sscanf(line, "# HELP %63s", help) == 1) {
            if (seen(fams, help) || strncmp(help, "tabby_", 6) != 0)
                fail_msg("family declared twice or not tabby_: %.*s", (int)(end - line), line);
            assert_true(fams->n < MAX_FAMILIES);
            strcpy(fams->name[fams->n++], help);
            continue;
        }
        if (sscanf(line, "# TYPE %63s %15s", family, type) == 2) {
            if (strcmp(family, help) != 0 || (strcmp(type, "gauge") && strcmp(type, "counter") &&
                                              strcmp(type, "histogram")))
                fail_msg("TYPE without its HELP, or of no type: %.*s", (int)(end - line), line);
            continue;
        }
        if (!name_at(&p, name, sizeof(name), false) || !labels_at(&p) || *p++ != ' ')
            fail_msg("not a sample: %.*s", (int)(end - line), line);
        strtod(p, &vend);
        if (vend == p || vend != end)
            fail_msg("no value: %.*s", (int)(end - line), line);
        family_of(name, type, of, sizeof(of));
        if (strcmp(of, family) != 0)
            fail_msg("sample outside its family (%s): %.*s", family, (int)(end - line), line);
    }
    free(fams);
}

/* The metrics of f's node, checked for their format; the caller frees. */
static char *scrape(struct node_fixture *f)
{
    struct tby_buf out = { 0 };

    assert_int_equal(node_metrics_write(&f->n, &out), 0);
    assert_prometheus_text(out.data);
    return tby_buf_steal(&out, NULL);
}

static void has_line(const char *text, const char *line)
{
    char want[256];

    snprintf(want, sizeof(want), "\n%s\n", line);
    if (!strstr(text, want))
        fail_msg("no line \"%s\" in:\n%s", line, text);
}

/* ---- the series ---------------------------------------------------------------------------- */

static const char *const cluster =
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
    "metadata: {name: web}\nspec: {selector: app == 'web', ingress: [{action: Allow}]}\n"
    "---\napiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\n"
    "metadata: {name: n2-k8s-web-eth0, namespace: default, labels: {app: web}}\n"
    "spec: {orchestrator: k8s, node: n2, pod: web, endpoint: eth0, interfaceName: tbweb,\n"
    "       ipNetworks: [10.65.0.2/32]}\n";

static void test_policy_node_says_its_state_in_prometheus_text(void **state)
{
    struct node_fixture f = { 0 };
    const char *policy[] = { "policy", NULL };
    char *text, info[160], line[96];

    fixture_init(&f, (const char *[]){ "--dump", NULL });
    fixture_start(&f, policy);
    fixture_apply(&f, cluster);
    node_turn(&f.n, 0);
    text = scrape(&f);
    snprintf(info, sizeof(info), "tabby_info{node=\"n1\",backend=\"bird\",version=\"%s\"} 1",
             PACKAGE_VERSION);
    assert_true(strncmp(text, "# HELP tabby_info ", 18) == 0);
    has_line(text, info);
    has_line(text, "# TYPE tabby_ready gauge");
    has_line(text, "tabby_ready 0"); /* --dump programs nothing */
    has_line(text, "tabby_datastore_online 1");
    has_line(text, "tabby_datastore_listings_total 1");
    has_line(text, "tabby_datastore_reads_total{op=\"watch\"} 1");
    /* One listing per kind at start (this node runs policy alone: no IPAM records). */
    snprintf(line, sizeof(line), "tabby_datastore_reads_total{op=\"range\"} %d",
             TBY_KIND_COUNT);
    has_line(text, line);
    has_line(text, "tabby_resources 2");
    has_line(text, "tabby_policies 1");
    has_line(text, "tabby_endpoints{scope=\"total\"} 1");
    has_line(text, "tabby_endpoints{scope=\"local\"} 0");
    has_line(text, "# TYPE tabby_nft_commits_total counter");
    has_line(text, "tabby_nft_commits_total 0");
    has_line(text, "# TYPE tabby_policy_sync_seconds histogram");
    has_line(text, "tabby_policy_sync_seconds_bucket{le=\"+Inf\"} 0");
    assert_non_null(strstr(text, "\ntabby_process_resident_memory_bytes "));
    assert_null(strstr(text, "tabby_node_registered")); /* registration does not run */
    free(text);
    fixture_stop(&f);
}

static void test_registration_says_whether_it_is_registered(void **state)
{
    struct node_fixture f = { 0 };
    const char *registering[] = { "register", NULL };
    char *text;

    fixture_init(&f, (const char *[]){ "--ip", "10.0.0.5/24", NULL });
    fixture_start(&f, registering);
    node_turn(&f.n, 0);
    text = scrape(&f);
    has_line(text, "tabby_ready 1");
    has_line(text, "# TYPE tabby_node_registered gauge");
    has_line(text, "tabby_node_registered 1");
    has_line(text, "tabby_node_registration_failures_total 0");
    free(text);
    fixture_stop(&f);
}

static void test_node_waiting_for_its_datastore_file_says_so(void **state)
{
    struct node_fixture f = { 0 };
    char *text;

    fixture_init(&f, NULL);
    f.n.name = f.n.cfg.v[NODE_NODENAME]; /* as node_start sets it before waiting */
    text = scrape(&f);
    has_line(text, "tabby_ready 0");
    has_line(text, "tabby_datastore_online 0");
    assert_null(strstr(text, "tabby_datastore_reads_total"));
    assert_null(strstr(text, "tabby_datastore_listings_total"));
    free(text);
    fixture_stop(&f);
}

static void test_label_values_are_escaped(void **state)
{
    struct node_fixture f = { 0 };
    const char *policy[] = { "policy", NULL };
    char *text;

    fixture_init(&f, (const char *[]){ "--dump", "--node", "we\"ird\\node", NULL });
    fixture_start(&f, policy);
    text = scrape(&f);
    assert_non_null(strstr(text, "\ntabby_info{node=\"we\\\"ird\\\\node\",backend="));
    free(text);
    fixture_stop(&f);
}

static void test_histogram_buckets_are_cumulative(void **state)
{
    struct node_hist h = { 0 };
    struct tby_buf out = { 0 };
    char *text;

    node_hist_add(&h, 0.05);
    node_hist_add(&h, 0.3);
    node_hist_add(&h, 30000.0);
    tby_buf_adds(&out, "\n"); /* so that every line has one before it */
    node_hist_write(&out, "tabby_test_seconds", "A test.", &h);
    text = out.data;
    assert_prometheus_text(text + 1);
    has_line(text, "# HELP tabby_test_seconds A test.");
    has_line(text, "tabby_test_seconds_bucket{le=\"0.0001\"} 1");
    has_line(text, "tabby_test_seconds_bucket{le=\"0.00025\"} 1");
    has_line(text, "tabby_test_seconds_bucket{le=\"0.0005\"} 2");
    has_line(text, "tabby_test_seconds_bucket{le=\"10\"} 2");
    has_line(text, "tabby_test_seconds_bucket{le=\"+Inf\"} 3");
    has_line(text, "tabby_test_seconds_sum 30.000350");
    has_line(text, "tabby_test_seconds_count 3");
    tby_buf_clear(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_node_says_its_state_in_prometheus_text),
        cmocka_unit_test(test_registration_says_whether_it_is_registered),
        cmocka_unit_test(test_node_waiting_for_its_datastore_file_says_so),
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test(test_histogram_buckets_are_cumulative),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
