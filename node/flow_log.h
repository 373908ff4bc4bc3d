/* flow_log.h — denied flows, aggregated (private to node/): what the flows part (flows.c)
 * reads from the NFLOG group of the deny paths, counted per flow (source, destination,
 * destination port, protocol, the deny that dropped it) over short intervals, in a ring of
 * bounded size; and the denied packets per policy, for Prometheus.
 *
 * Bounded: the ring holds FLOW_LOG_RING records (the oldest go first), an interval opens at
 * most FLOW_LOG_PER_INTERVAL of them (the packets of further flows are counted in
 * `overflow`), and the policies counted are at most FLOW_LOG_POLICIES (the rest under
 * "other"). No allocation after flow_log_new. Pure: tests feed it packets and times.
 *
 * Ownership: the caller owns the log (flow_log_free). */
#ifndef TABBY_NODE_FLOW_LOG_H
#define TABBY_NODE_FLOW_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define FLOW_LOG_RING 1024
#define FLOW_LOG_PER_INTERVAL 256
#define FLOW_LOG_POLICIES 256
#define FLOW_LOG_INTERVAL_MS 5000
#define FLOW_LOG_TEXT 128
#define FLOW_LOG_TIER 64

/* One logged packet, as read from the NFLOG group. */
struct flow_pkt {
    uint8_t family;               /* 4 or 6 */
    uint8_t proto;                /* IP protocol */
    uint8_t src[16], dst[16];     /* the first 4 bytes for IPv4 */
    uint16_t dport;               /* TCP/UDP/SCTP; ICMP: type << 8 | code */
    const char *rule;             /* the deny's drop comment ("POLICY DIR INDEX" or
                                   * "tier T: default deny: …"), or its id when unknown */
    const char *tier;             /* the tier that denied; "" or NULL: none (a profile) */
};

/* One flow over one interval. */
struct flow_rec {
    uint64_t seq;                 /* increases by one per record made */
    int64_t first_ms, last_ms;    /* wall clock, ms since the epoch */
    uint64_t packets;
    uint8_t family, proto;
    uint8_t src[16], dst[16];
    uint16_t dport;
    char rule[FLOW_LOG_TEXT];
    char tier[FLOW_LOG_TIER];
};

struct flow_log;

struct flow_log *flow_log_new(void);
void flow_log_free(struct flow_log *log);

/* The flow of a logged IP packet (its network header first, len bytes of it: NFLOG copies
 * only the first bytes) into k, but for the rule; false when it is no IPv4 or IPv6 packet.
 * Ports (ICMP: type and code) stay 0 when the copy ends before them, and for IPv4
 * fragments after the first. */
bool flow_log_parse_ip(const uint8_t *p, size_t len, struct flow_pkt *k);

/* Counts one packet at now_ms (wall clock). */
void flow_log_add(struct flow_log *log, const struct flow_pkt *p, int64_t now_ms);

/* The record with sequence number seq, NULL when it has gone or is not made yet. */
const struct flow_rec *flow_log_get(const struct flow_log *log, uint64_t seq);
/* The oldest record's sequence number still held, and the next one to be made. */
uint64_t flow_log_first(const struct flow_log *log);
uint64_t flow_log_next(const struct flow_log *log);
/* Packets counted, packets of flows an interval had no room for. */
uint64_t flow_log_packets(const struct flow_log *log);
uint64_t flow_log_overflow(const struct flow_log *log);

/* The policy a rule text names ("default/no-ssh" of "default/no-ssh ingress 1"; "default
 * deny" of the dispatch's, "tier T: default deny" of a tier's), into out. */
void flow_log_policy_of(const char *rule, char *out, size_t size);
/* Calls fn for every policy counted, with its packets. */
void flow_log_foreach_policy(const struct flow_log *log,
                             void (*fn)(const char *policy, uint64_t packets, void *ctx),
                             void *ctx);

/* The records from seq `since` on (at most max, the newest if more), as a JSON array;
 * NULL when out of memory. A record: {"seq", "start", "end" (RFC 3339), "start_ms",
 * "end_ms" (ms since the epoch), "verdict" ("deny": only denies log), "packets", "tier"
 * (or null),
 * "src", "dst", "proto", "dport" (or "icmp_type"/"icmp_code"), "policy", "direction",
 * "rule" (index, or null for a default deny), "deny" (the rule text)}. */
json_t *flow_log_json(const struct flow_log *log, uint64_t since, size_t max);

#endif
