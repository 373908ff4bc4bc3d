/* cmd_flows.c — tabbyctl flows: the flows tabby-node recorded (node/flows.c), asked of its
 * HTTP port (/flows): each flow (source, destination, protocol and port) with the tier,
 * policy, direction and rule that dropped it and its packets per interval. --follow asks again
 * every second and prints each flow once its interval has closed. Exit 0, 1 when the node
 * does not answer (or records nothing), 2 on bad usage. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tabby/cleanup.h"
#include "ctl.h"

#define SYNOPSIS                                                                            \
    "flows --node NAME [--denied] [--follow] [-o text|json] [--health HOST:PORT] "         \
    "[--timeout SECONDS]"
#define DEFAULT_TIMEOUT_MS 3000
#define FOLLOW_EVERY_MS 1000

struct flags {
    const char *node, *health;
    bool denied, follow, json;
    int timeout_ms;
};

static int parse(int argc, char **argv, struct flags *f)
{
    static const struct option options[] = {
        { "node", required_argument, NULL, 'n' },
        { "denied", no_argument, NULL, 'd' },
        { "follow", no_argument, NULL, 'f' },
        { "output", required_argument, NULL, 'o' },
        { "health", required_argument, NULL, 'H' },
        { "timeout", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    f->timeout_ms = DEFAULT_TIMEOUT_MS;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:", options, NULL)) != -1) {
        switch (opt) {
        case 'n': f->node = optarg; break;
        case 'H': f->health = optarg; break;
        case 'd': f->denied = true; break;
        case 'f': f->follow = true; break;
        case 'o':
            if (strcmp(optarg, "json") && strcmp(optarg, "text"))
                return ctl_usage_error(SYNOPSIS, "-o: text or json, got \"%s\"", optarg);
            f->json = strcmp(optarg, "json") == 0;
            break;
        case 't':
            if (ctl_timeout_ms(optarg, &f->timeout_ms) < 0)
                return ctl_usage_error(SYNOPSIS, "--timeout: seconds, up to 600, got \"%s\"",
                                       optarg);
            break;
        default:
            return ctl_usage_error(SYNOPSIS, "unexpected option");
        }
    }
    if (optind != argc)
        return ctl_usage_error(SYNOPSIS, "unexpected argument \"%s\"", argv[optind]);
    if (!f->node)
        return ctl_usage_error(SYNOPSIS, "--node: which node's flows");
    return CTL_OK;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "-";
}

static void print_header(void)
{
    printf("%-8s %-8s %-15s %-15s %-6s %-5s %7s  %-7s %-12s %-4s %s\n", "START", "END",
           "SOURCE", "DESTINATION", "PROTO", "PORT", "PACKETS", "DIR", "TIER", "RULE", "POLICY");
}

/* HH:MM:SS of an RFC 3339 time. */
static const char *clock_of(const char *t, char buf[16])
{
    const char *tt = strchr(t, 'T');

    snprintf(buf, 16, "%.8s", tt ? tt + 1 : t);
    return buf;
}

static void print_flow(const json_t *r, bool json)
{
    const json_t *port = json_object_get(r, "dport"), *rule = json_object_get(r, "rule");
    char p[16], idx[16], a[16], b[16];

    if (json) {
        char *line = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);

        if (line)
            puts(line);
        free(line);
        return;
    }
    if (port)
        snprintf(p, sizeof(p), "%lld", (long long)json_integer_value(port));
    else if (json_object_get(r, "icmp_type"))
        snprintf(p, sizeof(p), "t%lld", (long long)json_integer_value(json_object_get(r, "icmp_type")));
    else
        snprintf(p, sizeof(p), "-");
    if (json_is_integer(rule))
        snprintf(idx, sizeof(idx), "%lld", (long long)json_integer_value(rule));
    else
        snprintf(idx, sizeof(idx), "-");
    printf("%-8s %-8s %-15s %-15s %-6s %-5s %7lld  %-7s %-12s %-4s %s\n",
           clock_of(str(r, "start"), a), clock_of(str(r, "end"), b), str(r, "src"),
           str(r, "dst"), str(r, "proto"), p,
           (long long)json_integer_value(json_object_get(r, "packets")), str(r, "direction"),
           str(r, "tier"), idx, str(r, "policy"));
}

static bool wanted(const json_t *r, const struct flags *f)
{
    return !f->denied || strcmp(str(r, "verdict"), "deny") == 0;
}

/* /flows from since on, checked to be NAME's; NULL after saying why. */
static json_t *ask(const struct flags *f, const char *health, unsigned long long since)
{
    char path[64], error[700];
    json_t *doc;
    const char *node;

    snprintf(path, sizeof(path), "/flows?since=%llu", since);
    if (!(doc = ctl_node_get(health, path, f->timeout_ms, error, sizeof(error)))) {
        ctl_fail("flows: node %s: %s", f->node, error);
        return NULL;
    }
    node = json_string_value(json_object_get(doc, "node"));
    if (!node || strcmp(node, f->node) != 0) {
        ctl_fail("flows: %s is node \"%s\", not \"%s\": run tabbyctl on that node (in its "
                 "network namespace) or give its --health HOST:PORT", health,
                 node ? node : "?", f->node);
        json_decref(doc);
        return NULL;
    }
    if (!json_is_true(json_object_get(doc, "recording")))
        fprintf(stderr, "tabbyctl: flows: node %s records no flows: %s\n", f->node,
                str(doc, "error"));
    return doc;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int follow(const struct flags *f, const char *health)
{
    unsigned long long since = 0;
    bool first = true;

    if (!f->json)
        print_header();
    for (;;) {
        _cleanup_json_ json_t *doc = ask(f, health, since);
        const json_t *flows, *r;
        json_int_t interval;
        size_t i;

        if (!doc)
            return CTL_FAIL;
        flows = json_object_get(doc, "flows");
        interval = json_integer_value(json_object_get(doc, "interval_ms"));
        if (first) { /* from the interval open now on: what closed before is history */
            since = (unsigned long long)json_integer_value(json_object_get(doc, "next"));
            json_array_foreach(flows, i, r) {
                if (json_integer_value(json_object_get(r, "start_ms")) + interval > now_ms()) {
                    since = (unsigned long long)json_integer_value(json_object_get(r, "seq"));
                    break;
                }
            }
        }
        first = false;
        json_array_foreach(flows, i, r) {
            unsigned long long seq = (unsigned long long)json_integer_value(json_object_get(r, "seq"));

            if (seq < since)
                continue;
            /* its interval still counts: printed once it has closed */
            if (json_integer_value(json_object_get(r, "start_ms")) + interval > now_ms())
                break;
            if (wanted(r, f))
                print_flow(r, f->json);
            since = seq + 1;
        }
        fflush(stdout);
        usleep(FOLLOW_EVERY_MS * 1000);
    }
}

int ctl_cmd_flows(struct ctl *ctl, int argc, char **argv)
{
    struct flags f = { 0 };
    char health[300];
    int r = parse(argc, argv, &f);
    _cleanup_json_ json_t *doc = NULL;
    const json_t *flows, *rec;
    size_t i;

    (void)ctl;
    if (r != CTL_OK)
        return r;
    ctl_node_health(f.health, health, sizeof(health));
    if (f.follow)
        return follow(&f, health);
    if (!(doc = ask(&f, health, 0)))
        return CTL_FAIL;
    flows = json_object_get(doc, "flows");
    if (f.json) {
        json_t *out = json_array();
        char *text;

        json_array_foreach(flows, i, rec)
            if (wanted(rec, &f))
                json_array_append(out, (json_t *)rec);
        json_object_set_new(doc, "flows", out);
        if (!(text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER)))
            return ctl_fail("out of memory");
        puts(text);
        free(text);
        return CTL_OK;
    }
    print_header();
    json_array_foreach(flows, i, rec)
        if (wanted(rec, &f))
            print_flow(rec, false);
    return CTL_OK;
}
