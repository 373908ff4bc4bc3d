/* flow_log.c — denied flows aggregated per interval in a bounded ring (flow_log.h).
 *
 * The ring is an array used circularly: record seq lives at seq % FLOW_LOG_RING. The
 * interval now open holds the records made since it opened (seq >= open_seq); a packet of
 * a flow already among them adds to its record, found by a linear scan — the kernel logs
 * each deny at a bounded rate, so an interval sees few packets and fewer flows. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flow_log.h"

struct policy_count {
    char name[FLOW_LOG_TEXT];
    uint64_t packets;
};

struct flow_log {
    struct flow_rec ring[FLOW_LOG_RING];
    uint64_t next_seq;
    uint64_t open_seq;            /* the first record of the open interval */
    int64_t open_at;              /* when it opened (ms); -1: none yet */
    uint64_t packets, overflow;
    struct policy_count policies[FLOW_LOG_POLICIES];
    size_t n_policies;
    uint64_t other;               /* packets of policies beyond FLOW_LOG_POLICIES */
};

struct flow_log *flow_log_new(void)
{
    struct flow_log *log = calloc(1, sizeof(*log));

    if (log)
        log->open_at = -1;
    return log;
}

void flow_log_free(struct flow_log *log)
{
    free(log);
}

static bool same_flow(const struct flow_rec *r, const struct flow_pkt *p)
{
    return r->family == p->family && r->proto == p->proto && r->dport == p->dport &&
           memcmp(r->src, p->src, 16) == 0 && memcmp(r->dst, p->dst, 16) == 0 &&
           strncmp(r->rule, p->rule, sizeof(r->rule) - 1) == 0;
}

void flow_log_policy_of(const char *rule, char *out, size_t size)
{
    const char *last = strrchr(rule, ' ');
    const char *dir = NULL;
    const char *dd = strstr(rule, "default deny");

    if (dd) { /* the dispatch's ("default deny: …") or a tier's ("tier T: default deny: …") */
        snprintf(out, size, "%.*s", (int)(dd - rule + 12), rule);
        return;
    }
    if (last && last[1] && strspn(last + 1, "0123456789") == strlen(last + 1)) {
        for (dir = last - 1; dir > rule && *dir != ' '; dir--)
            ;
        if (dir > rule && (strncmp(dir, " ingress ", 9) == 0 || strncmp(dir, " egress ", 8) == 0)) {
            snprintf(out, size, "%.*s", (int)(dir - rule), rule);
            return;
        }
    }
    snprintf(out, size, "%s", rule);
}

static void count_policy(struct flow_log *log, const char *rule)
{
    char name[FLOW_LOG_TEXT];

    flow_log_policy_of(rule, name, sizeof(name));
    for (size_t i = 0; i < log->n_policies; i++) {
        if (strcmp(log->policies[i].name, name) == 0) {
            log->policies[i].packets++;
            return;
        }
    }
    if (log->n_policies == FLOW_LOG_POLICIES) {
        log->other++;
        return;
    }
    snprintf(log->policies[log->n_policies].name, FLOW_LOG_TEXT, "%s", name);
    log->policies[log->n_policies++].packets = 1;
}

void flow_log_add(struct flow_log *log, const struct flow_pkt *p, int64_t now_ms)
{
    struct flow_rec *r;

    log->packets++;
    count_policy(log, p->rule);
    if (log->open_at < 0 || now_ms - log->open_at >= FLOW_LOG_INTERVAL_MS || now_ms < log->open_at) {
        log->open_at = now_ms;
        log->open_seq = log->next_seq;
    }
    for (uint64_t s = log->open_seq; s < log->next_seq; s++) {
        r = &log->ring[s % FLOW_LOG_RING];
        if (same_flow(r, p)) {
            r->packets++;
            r->last_ms = now_ms;
            return;
        }
    }
    if (log->next_seq - log->open_seq >= FLOW_LOG_PER_INTERVAL) {
        log->overflow++;
        return;
    }
    r = &log->ring[log->next_seq % FLOW_LOG_RING];
    *r = (struct flow_rec){ .seq = log->next_seq++, .first_ms = now_ms, .last_ms = now_ms,
                            .packets = 1, .family = p->family, .proto = p->proto,
                            .dport = p->dport };
    memcpy(r->src, p->src, 16);
    memcpy(r->dst, p->dst, 16);
    snprintf(r->rule, sizeof(r->rule), "%s", p->rule);
    snprintf(r->tier, sizeof(r->tier), "%s", p->tier ? p->tier : "");
}

uint64_t flow_log_first(const struct flow_log *log)
{
    return log->next_seq > FLOW_LOG_RING ? log->next_seq - FLOW_LOG_RING : 0;
}

uint64_t flow_log_next(const struct flow_log *log)
{
    return log->next_seq;
}

const struct flow_rec *flow_log_get(const struct flow_log *log, uint64_t seq)
{
    if (seq < flow_log_first(log) || seq >= log->next_seq)
        return NULL;
    return &log->ring[seq % FLOW_LOG_RING];
}

uint64_t flow_log_packets(const struct flow_log *log)
{
    return log->packets;
}

uint64_t flow_log_overflow(const struct flow_log *log)
{
    return log->overflow;
}

void flow_log_foreach_policy(const struct flow_log *log,
                             void (*fn)(const char *policy, uint64_t packets, void *ctx),
                             void *ctx)
{
    for (size_t i = 0; i < log->n_policies; i++)
        fn(log->policies[i].name, log->policies[i].packets, ctx);
    if (log->other)
        fn("other", log->other, ctx);
}

/* ---- a logged packet ------------------------------------------------------------------ */

bool flow_log_parse_ip(const uint8_t *p, size_t len, struct flow_pkt *k)
{
    size_t off;
    uint8_t proto;

    if (len < 20)
        return false;
    if ((p[0] >> 4) == 4) {
        off = (size_t)(p[0] & 0xf) * 4;
        proto = p[9];
        k->family = 4;
        memcpy(k->src, p + 12, 4);
        memcpy(k->dst, p + 16, 4);
        /* a fragment after the first has no transport header */
        if (((p[6] << 8 | p[7]) & 0x1fff) != 0)
            off = len;
    } else if ((p[0] >> 4) == 6 && len >= 40) {
        off = 40;
        proto = p[6];
        k->family = 6;
        memcpy(k->src, p + 8, 16);
        memcpy(k->dst, p + 24, 16);
        /* past the extension headers the copy holds (hop-by-hop, routing, destination
         * options, fragment: after the first fragment, no transport header) */
        while ((proto == 0 || proto == 43 || proto == 60 || proto == 44) && off + 8 <= len) {
            bool later_fragment = proto == 44 && ((p[off + 2] << 8 | p[off + 3]) & 0xfff8);
            size_t hlen = proto == 44 ? 8 : ((size_t)p[off + 1] + 1) * 8;

            proto = p[off];
            off = later_fragment ? len : off + hlen;
        }
    } else {
        return false;
    }
    k->proto = proto;
    if ((proto == 6 || proto == 17 || proto == 132) && off + 4 <= len)
        k->dport = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
    else if ((proto == 1 || proto == 58) && off + 2 <= len)
        k->dport = (uint16_t)(p[off] << 8 | p[off + 1]);
    return true;
}

/* ---- JSON ------------------------------------------------------------------------------- */

static json_t *when(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char s[64];

    gmtime_r(&t, &tm);
    snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(s);
}

static json_t *addr(int family, const uint8_t *a)
{
    char s[INET6_ADDRSTRLEN];

    if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, a, s, sizeof(s)))
        snprintf(s, sizeof(s), "?");
    return json_string(s);
}

static const char *proto_name(uint8_t p, char *buf, size_t size)
{
    switch (p) {
    case 1: return "ICMP";
    case 6: return "TCP";
    case 17: return "UDP";
    case 58: return "ICMPv6";
    case 132: return "SCTP";
    }
    snprintf(buf, size, "%u", p);
    return buf;
}

static json_t *record(const struct flow_rec *r)
{
    char policy[FLOW_LOG_TEXT], pbuf[8];
    const char *last = strrchr(r->rule, ' ');
    bool icmp = r->proto == 1 || r->proto == 58;
    bool ports = r->proto == 6 || r->proto == 17 || r->proto == 132;
    json_t *o = json_object();
    json_t *dir = json_null(), *index = json_null();
    int ok = 0;

    if (!o)
        return NULL;
    flow_log_policy_of(r->rule, policy, sizeof(policy));
    if (strstr(policy, "default deny")) {
        dir = json_string(strstr(r->rule, "egress") ? "egress" : "ingress");
    } else if (strcmp(policy, r->rule) != 0 && last) {
        dir = json_string(strstr(r->rule + strlen(policy), "egress") ? "egress" : "ingress");
        index = json_integer(strtoll(last + 1, NULL, 10));
    }
    ok |= json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
    ok |= json_object_set_new(o, "start", when(r->first_ms));
    ok |= json_object_set_new(o, "end", when(r->last_ms));
    ok |= json_object_set_new(o, "start_ms", json_integer(r->first_ms));
    ok |= json_object_set_new(o, "end_ms", json_integer(r->last_ms));
    ok |= json_object_set_new(o, "verdict", json_string("deny"));
    ok |= json_object_set_new(o, "packets", json_integer((json_int_t)r->packets));
    ok |= json_object_set_new(o, "src", addr(r->family, r->src));
    ok |= json_object_set_new(o, "dst", addr(r->family, r->dst));
    ok |= json_object_set_new(o, "proto", json_string(proto_name(r->proto, pbuf, sizeof(pbuf))));
    if (ports)
        ok |= json_object_set_new(o, "dport", json_integer(r->dport));
    if (icmp) {
        ok |= json_object_set_new(o, "icmp_type", json_integer(r->dport >> 8));
        ok |= json_object_set_new(o, "icmp_code", json_integer(r->dport & 0xff));
    }
    ok |= json_object_set_new(o, "tier", r->tier[0] ? json_string(r->tier) : json_null());
    ok |= json_object_set_new(o, "policy", json_string(policy));
    ok |= json_object_set_new(o, "direction", dir);
    ok |= json_object_set_new(o, "rule", index);
    ok |= json_object_set_new(o, "deny", json_string(r->rule));
    if (ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *flow_log_json(const struct flow_log *log, uint64_t since, size_t max)
{
    uint64_t from = since > flow_log_first(log) ? since : flow_log_first(log);
    json_t *a = json_array();

    if (max && log->next_seq > from && log->next_seq - from > max)
        from = log->next_seq - max;
    for (uint64_t s = from; a && s < log->next_seq; s++) {
        json_t *o = record(flow_log_get(log, s));

        if (!o || json_array_append_new(a, o) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}
