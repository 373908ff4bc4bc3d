/* fuzz_explain.c — libFuzzer target for tabbyctl policy explain's readers and evaluator:
 * resources (YAML: endpoints, namespaces, profiles, policies), then flows. Beyond "no
 * crash, no leak" it checks that the trace's verdict is the one returned.
 *
 * Input: YAML documents, then a line "%%", then lines "FROM TO PORT/PROTO" (the same
 * words `policy explain --batch` reads). Input without "%%" is all resources, and the
 * flows are every pair of its endpoints (up to 8 × 8), on 80/TCP and ICMP. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/explain.h"
#include "tabby/log.h"
#include "tabby/resource.h"

#define MAX_FLOWS 64
#define MAX_PAIRS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void flow(struct tby_explain *x, char *line)
{
    char *save = NULL, *w[3];
    struct tby_explain_packet p = { .has_src_port = line[0] & 1, .src_port = 10000 };
    struct tby_error err = { 0 };
    json_t *trace = NULL;
    bool allowed;

    for (int i = 0; i < 3; i++)
        if (!(w[i] = strtok_r(i ? NULL : line, " \t", &save)))
            return;
    if (tby_explain_peer_parse(x, w[0], &p.from, &err) < 0 ||
        tby_explain_peer_parse(x, w[1], &p.to, &err) < 0 ||
        tby_explain_port_parse(w[2], &p, &err) < 0 ||
        tby_explain_flow(x, &p, &allowed, &trace, &err) < 0)
        return;
    if (strcmp(json_string_value(json_object_get(trace, "verdict")),
               allowed ? "allow" : "deny") != 0) {
        fprintf(stderr, "invariant broken: the trace's verdict is not the one returned\n");
        abort();
    }
    json_decref(trace);
}

static void pairs(struct tby_explain *x)
{
    char line[600];

    for (int i = 0; i < MAX_PAIRS && tby_explain_endpoint_name(x, i); i++)
        for (int j = 0; j < MAX_PAIRS && tby_explain_endpoint_name(x, j); j++)
            for (int k = 0; k < 2; k++) {
                snprintf(line, sizeof(line), "%s %s %s", tby_explain_endpoint_name(x, i),
                         tby_explain_endpoint_name(x, j), k ? "ICMP" : "80/TCP");
                flow(x, line);
            }
}

static void load(struct tby_explain *x, const char *text, size_t len)
{
    struct tby_resource_list list = { 0 };
    struct tby_error err = { 0 };

    if (tby_resource_load(text, len, "fuzz", &list, &err) == 0)
        for (size_t i = 0; i < list.n; i++)
            tby_explain_add(x, list.items[i]);
    tby_resource_list_clear(&list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *flows, *sep, *line, *save = NULL;
    struct tby_explain *x = NULL;
    int n = 0;

    tby_log_set_level(TBY_LOG_ERROR);
    if (!text || tby_explain_new(&x) < 0) {
        free(text);
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    sep = strstr(text, "%%\n");
    load(x, text, sep ? (size_t)(sep - text) : size);
    if (!sep) {
        pairs(x);
        flows = text + size;
    } else {
        flows = sep + 3;
    }
    for (line = strtok_r(flows, "\n", &save); line && n < MAX_FLOWS;
         line = strtok_r(NULL, "\n", &save), n++)
        flow(x, line);
    tby_explain_free(x);
    free(text);
    return 0;
}
