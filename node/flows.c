/* flows.c — denied flows, a part (node.h): reads the NFLOG group the deny paths log to
 * (ruleset.h: TBY_RS_DENY_LOG_GROUP, each packet with the compact id of the deny that
 * dropped it), names the deny through the parts that know it (the policy part's table),
 * and counts the packets per flow and interval (flow_log.c) for /flows, `tabbyctl flows`
 * and tabby_denied_packets_total.
 *
 * The socket is netlink (libmnl, as the nftables code): a bind to the group, the packet
 * copied up to its transport header only. The cost is bounded three times: the kernel logs
 * each deny at a limited rate (the rule's limit), the socket's buffer is small (what does
 * not fit is lost in the kernel and counted here from ENOBUFS), and a turn of the loop reads
 * at most READ_BATCH messages. Without NFLOG in this kernel the part says so (a warning,
 * tabby_denied_flows_recording 0, /flows and /status) and the rest of the node works as
 * before: the deny rules still drop, their logging twins log to no one. It is not
 * "degraded": that would hide a degraded part after it that carries traffic. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>

#include "tabby/cleanup.h"
#include "tabby/ruleset.h"
#include "flow_log.h"
#include "node.h"

#define COPY_RANGE 80           /* IPv6 header and a transport header's ports and types */
#define RCVBUF (256 * 1024)
#define READ_BATCH 256
#define NAMES 64                /* ids named recently */
#define JSON_MAX 1000           /* records per answer */

struct name {
    char id[TBY_RS_DENY_ID_SIZE];
    char rule[FLOW_LOG_TEXT];
    char tier[FLOW_LOG_TIER];
};

struct node_flows {
    struct node *node;
    struct mnl_socket *nl;      /* NULL: no NFLOG here (why in error) */
    char error[TBY_ERROR_MAX];
    struct flow_log *log;
    uint64_t messages, lost, unparsed;
    struct name names[NAMES];
    size_t next_name;
};

/* ---- the socket -------------------------------------------------------------------------- */

static struct nlmsghdr *config_msg(char *buf, uint16_t group)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct nfgenmsg *g;

    nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
    g->nfgen_family = AF_UNSPEC;
    g->version = NFNETLINK_V0;
    g->res_id = htons(group);
    return nlh;
}

/* Sends one config message and reads its answer. 0 or -errno. */
static int config(struct mnl_socket *nl, struct nlmsghdr *nlh)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    ssize_t n;

    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
    if (n < 0)
        return -errno;
    return mnl_cb_run(buf, (size_t)n, 0, 0, NULL, NULL) < 0 ? -errno : 0;
}

static int open_group(struct node_flows *f)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh;
    struct nfulnl_msg_config_cmd cmd = { .command = NFULNL_CFG_CMD_BIND };
    struct nfulnl_msg_config_mode mode = { .copy_range = htonl(COPY_RANGE),
                                           .copy_mode = NFULNL_COPY_PACKET };
    int size = RCVBUF, err;

    f->nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!f->nl || mnl_socket_bind(f->nl, 0, MNL_SOCKET_AUTOPID) < 0)
        return -errno;
    nlh = config_msg(buf, TBY_RS_DENY_LOG_GROUP);
    mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
    if ((err = config(f->nl, nlh)) < 0)
        return err;
    nlh = config_msg(buf, TBY_RS_DENY_LOG_GROUP);
    mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(mode), &mode);
    if ((err = config(f->nl, nlh)) < 0)
        return err;
    setsockopt(mnl_socket_get_fd(f->nl), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    return fcntl(mnl_socket_get_fd(f->nl), F_SETFL, O_NONBLOCK) < 0 ? -errno : 0;
}

/* ---- a logged packet ------------------------------------------------------------------- */

static int attr_cb(const struct nlattr *a, void *data)
{
    const struct nlattr **tb = data;
    int type = mnl_attr_get_type(a);

    if (mnl_attr_type_valid(a, NFULA_MAX) > 0)
        tb[type] = a;
    return MNL_CB_OK;
}

/* The deny's rule text and tier for id into k: asked of the parts once, then remembered. */
static void name_of(struct node_flows *f, const char *id, struct flow_pkt *k)
{
    const char *rule, *tier;
    struct name *nm;

    for (size_t i = 0; i < NAMES; i++) {
        if (strcmp(f->names[i].id, id) == 0) {
            k->rule = f->names[i].rule;
            k->tier = f->names[i].tier;
            return;
        }
    }
    rule = node_deny_rule(f->node, id, &tier);
    if (!rule) { /* not (or no longer) programmed: not remembered */
        k->rule = id;
        k->tier = "";
        return;
    }
    nm = &f->names[f->next_name++ % NAMES];
    snprintf(nm->id, sizeof(nm->id), "%s", id);
    snprintf(nm->rule, sizeof(nm->rule), "%s", rule);
    snprintf(nm->tier, sizeof(nm->tier), "%s", tier ? tier : "");
    k->rule = nm->rule;
    k->tier = nm->tier;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int packet_cb(const struct nlmsghdr *nlh, void *data)
{
    struct node_flows *f = data;
    const struct nlattr *tb[NFULA_MAX + 1] = { 0 };
    struct flow_pkt k = { 0 };
    char id[TBY_RS_DENY_ID_SIZE];

    if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET))
        return MNL_CB_OK;
    f->messages++;
    mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_cb, tb);
    if (!tb[NFULA_PREFIX] || !tb[NFULA_PAYLOAD] ||
        !flow_log_parse_ip(mnl_attr_get_payload(tb[NFULA_PAYLOAD]),
                           mnl_attr_get_payload_len(tb[NFULA_PAYLOAD]), &k)) {
        f->unparsed++;
        return MNL_CB_OK;
    }
    snprintf(id, sizeof(id), "%.*s", (int)mnl_attr_get_payload_len(tb[NFULA_PREFIX]),
             (const char *)mnl_attr_get_payload(tb[NFULA_PREFIX]));
    name_of(f, id, &k);
    flow_log_add(f->log, &k, wall_ms());
    return MNL_CB_OK;
}

static void flows_input(void *state)
{
    struct node_flows *f = state;
    char buf[MNL_SOCKET_BUFFER_SIZE];

    for (int i = 0; i < READ_BATCH; i++) {
        ssize_t n = mnl_socket_recvfrom(f->nl, buf, sizeof(buf));

        if (n < 0 && errno == ENOBUFS) { /* the kernel dropped some: counted, read on */
            f->lost++;
            continue;
        }
        if (n <= 0)
            return;
        mnl_cb_run(buf, (size_t)n, 0, 0, packet_cb, f);
    }
}

/* ---- the part ---------------------------------------------------------------------------- */

static void flows_stop(void *state)
{
    struct node_flows *f = state;

    if (!f)
        return;
    if (f->nl)
        mnl_socket_close(f->nl);
    flow_log_free(f->log);
    free(f);
}

static int flows_start(struct node *n, void **state, struct tby_error *err)
{
    _cleanup_free_ struct node_flows *f = calloc(1, sizeof(*f));
    int rc;

    if (!f || !(f->log = flow_log_new())) {
        free(f ? f->log : NULL);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    f->node = n;
    if ((rc = open_group(f)) < 0) {
        snprintf(f->error, sizeof(f->error), "cannot read NFLOG group %d: %s",
                 TBY_RS_DENY_LOG_GROUP, strerror(-rc));
        tby_log(TBY_LOG_WARNING, "flows", "denied flows not recorded group=%d error=\"%s\"",
                TBY_RS_DENY_LOG_GROUP, strerror(-rc));
        if (f->nl)
            mnl_socket_close(f->nl);
        f->nl = NULL;
    } else {
        tby_log(TBY_LOG_INFO, "flows", "recording denied flows group=%d",
                TBY_RS_DENY_LOG_GROUP);
    }
    *state = TBY_STEAL(f);
    return 0;
}

static int flows_fd(const void *state)
{
    const struct node_flows *f = state;

    return f->nl ? mnl_socket_get_fd(f->nl) : -1;
}

static void policy_series(const char *policy, uint64_t packets, void *ctx)
{
    struct tby_buf *out = ctx;

    tby_buf_printf(out, "tabby_denied_packets_total{policy=\"");
    for (const char *c = policy; *c; c++) /* label values escape \ " and newlines */
        tby_buf_printf(out, "%s%c", *c == '\\' || *c == '"' ? "\\" : "", *c == '\n' ? 'n' : *c);
    tby_buf_printf(out, "\"} %llu\n", (unsigned long long)packets);
}

static void flows_metrics(const void *state, struct tby_buf *out)
{
    const struct node_flows *f = state;

    tby_buf_printf(out, "# HELP tabby_denied_packets_total Packets dropped by policy, per "
                        "policy, as logged (each deny logs at most %d/s: a flood counts less "
                        "than it drops)\n# TYPE tabby_denied_packets_total counter\n",
                   TBY_RS_DENY_LOG_RATE);
    flow_log_foreach_policy(f->log, policy_series, out);
    node_gauge(out, "tabby_denied_flows_recording",
               "1 while denied flows are read from the NFLOG group, 0 when this kernel "
               "does not let tabby-node read it (see the log)", f->nl != NULL);
    node_counter(out, "tabby_denied_log_lost_total",
                 "Times the kernel had logged denied packets the flow log could not take "
                 "(socket buffer full)", (double)f->lost);
    node_counter(out, "tabby_denied_flows_overflow_total",
                 "Denied packets of flows an interval had no room for",
                 (double)flow_log_overflow(f->log));
}

static json_t *flows_json(void *state, uint64_t since)
{
    struct node_flows *f = state;
    json_t *o = json_object();

    if (!o || json_object_set_new(o, "recording", json_boolean(f->nl != NULL)) < 0 ||
        json_object_set_new(o, "error", json_string(f->error)) < 0 ||
        json_object_set_new(o, "interval_ms", json_integer(FLOW_LOG_INTERVAL_MS)) < 0 ||
        json_object_set_new(o, "log_rate", json_integer(TBY_RS_DENY_LOG_RATE)) < 0 ||
        json_object_set_new(o, "packets", json_integer((json_int_t)flow_log_packets(f->log))) < 0 ||
        json_object_set_new(o, "lost", json_integer((json_int_t)f->lost)) < 0 ||
        json_object_set_new(o, "overflow",
                            json_integer((json_int_t)flow_log_overflow(f->log))) < 0 ||
        json_object_set_new(o, "first", json_integer((json_int_t)flow_log_first(f->log))) < 0 ||
        json_object_set_new(o, "next", json_integer((json_int_t)flow_log_next(f->log))) < 0 ||
        json_object_set_new(o, "flows", flow_log_json(f->log, since, JSON_MAX)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int flows_status(void *state, const struct node *n, json_t *out)
{
    const struct node_flows *f = state;

    (void)n;
    return json_object_set_new(out, "recording", json_boolean(f->nl != NULL)) < 0 ||
                   json_object_set_new(out, "packets",
                                       json_integer((json_int_t)flow_log_packets(f->log))) < 0
               ? -ENOMEM
               : 0;
}

const struct node_part node_flows_part = {
    .name = "flows",
    .start = flows_start,
    .stop = flows_stop,
    .fd = flows_fd,
    .input = flows_input,
    .metrics = flows_metrics,
    .status = flows_status,
    .flows = flows_json,
};
