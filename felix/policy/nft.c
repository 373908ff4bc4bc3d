/* nft.c — the nftables dataplane (nft.h): netlink sockets, the one-transaction batch that
 * programs a ruleset's journal, and the notification monitor. */
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <time.h>

#include <stdio.h>

#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "nft_internal.h"

#define RECV_BUFFER (256 * 1024)
/* Batch pages: small ones for the usual small change (they come from the heap and are
 * reused, where big ones would be mapped and faulted in anew for every sync), big ones
 * for a whole table (fewer pieces for one sendmsg). The overrun holds the largest
 * single message (ELEMS_PER_MSG elements, or one rule). */
#define BATCH_PAGE_SMALL (60 * 1024)
#define BATCH_PAGE_BIG (512 * 1024)
#define BATCH_OVERRUN (64 * 1024)
#define SMALL_BATCH_ITEMS 2000
/* Elements per message: keeps each message well inside a batch page. */
#define ELEMS_PER_MSG 512
/* Room for notifications of our own large commits, so the monitor rarely overflows. */
#define MONITOR_BUFFER (16 * 1024 * 1024)

static double clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

/* ---- sockets ---------------------------------------------------------------------------- */

static int open_socket(struct mnl_socket **out, unsigned groups, struct tby_error *err)
{
    struct mnl_socket *s = mnl_socket_open(NETLINK_NETFILTER);

    if (!s)
        return tby_error_set(err, -errno, "netlink socket: %s", strerror(errno));
    if (mnl_socket_bind(s, groups, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;

        mnl_socket_close(s);
        return tby_error_set(err, -e, "netlink bind: %s", strerror(e));
    }
    *out = s;
    return 0;
}

int tby_nft_open(struct tby_nft **out, struct tby_error *err)
{
    _cleanup_(tby_nft_closep) struct tby_nft *nft = calloc(1, sizeof(*nft));
    int size = MONITOR_BUFFER;
    int r;

    *out = NULL;
    if (!nft || !(nft->buf = malloc(RECV_BUFFER)))
        return tby_error_set(err, -ENOMEM, "out of memory");
    nft->buf_size = RECV_BUFFER;
    nft->seq = (uint32_t)time(NULL);
    r = open_socket(&nft->nl, 0, err);
    if (r == 0)
        r = open_socket(&nft->mon, 1u << (NFNLGRP_NFTABLES - 1), err);
    if (r < 0)
        return r;
    nft->portid = mnl_socket_get_portid(nft->nl);
    /* FORCE ignores rmem_max (we are root in the namespace); the plain option is the
     * fallback. A lost notification is not fatal: it forces a read-back. */
    if (setsockopt(mnl_socket_get_fd(nft->mon), SOL_SOCKET, SO_RCVBUFFORCE, &size,
                   sizeof(size)) < 0)
        setsockopt(mnl_socket_get_fd(nft->mon), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    *out = TBY_STEAL(nft);
    return 0;
}

void tby_nft_close(struct tby_nft *nft)
{
    if (!nft)
        return;
    if (nft->nl)
        mnl_socket_close(nft->nl);
    if (nft->mon)
        mnl_socket_close(nft->mon);
    free(nft->buf);
    free(nft);
}

void tby_nft_invalidate(struct tby_nft *nft)
{
    nft->known = false;
}

bool tby_nft_needs_read_back(const struct tby_nft *nft)
{
    return !nft->known;
}

int nft_talk(struct tby_nft *nft, struct nlmsghdr *nlh, mnl_cb_t cb, void *data,
             struct tby_error *err)
{
    uint32_t seq = nlh->nlmsg_seq;
    int r;

    if (mnl_socket_sendto(nft->nl, nlh, nlh->nlmsg_len) < 0)
        return tby_error_set(err, -errno, "netlink send: %s", strerror(errno));
    do {
        ssize_t n = mnl_socket_recvfrom(nft->nl, nft->buf, nft->buf_size);

        if (n < 0)
            return tby_error_set(err, -errno, "netlink receive: %s", strerror(errno));
        r = mnl_cb_run(nft->buf, (size_t)n, seq, nft->portid, cb, data);
    } while (r > MNL_CB_STOP);
    return r < 0 ? -errno : 0;
}

/* ---- the batch -------------------------------------------------------------------------- */

/* What each message of the batch is about, for the message when the kernel refuses one. */
struct what {
    uint16_t type;
    const char *name;
};

struct batch {
    struct nftnl_batch *b;
    uint32_t first_seq, seq;
    struct what *what;
    size_t n, cap;
    bool oom;
};

static struct nlmsghdr *msg(struct batch *bt, uint16_t type, uint16_t flags, const char *name)
{
    if (bt->oom)
        return NULL;
    if (TBY_GROW(bt->what, bt->cap, bt->n + 1) < 0) {
        bt->oom = true;
        return NULL;
    }
    bt->what[bt->n++] = (struct what){ type, name };
    return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(bt->b), type, NFPROTO_INET, flags,
                                 bt->seq++);
}

static void done(struct batch *bt)
{
    if (!bt->oom && nftnl_batch_update(bt->b) < 0)
        bt->oom = true;
}

static void add_table(struct batch *bt, uint16_t type)
{
    struct nftnl_table *t = nftnl_table_alloc();
    struct nlmsghdr *nlh = msg(bt, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0,
                               TBY_RS_TABLE);

    if (!t || !nlh) {
        bt->oom = true;
        nftnl_table_free(t);
        return;
    }
    nftnl_table_set_str(t, NFTNL_TABLE_NAME, TBY_RS_TABLE);
    nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
    nftnl_table_nlmsg_build_payload(nlh, t);
    nftnl_table_free(t);
    done(bt);
}

static struct nftnl_set *set_base(const struct tby_rs_set *s)
{
    struct nftnl_set *ns = nftnl_set_alloc();

    if (ns) {
        nftnl_set_set_str(ns, NFTNL_SET_TABLE, TBY_RS_TABLE);
        nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name);
        nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, NFPROTO_INET);
    }
    return ns;
}

/* nft's byte orders (its enum byteorder): how `nft list` reads the keys back */
enum { BYTEORDER_INVALID, BYTEORDER_HOST_ENDIAN, BYTEORDER_BIG_ENDIAN };

static uint32_t key_byteorder(enum tby_rs_set_type type)
{
    switch (type) {
    case TBY_RS_IFNAME_VMAP:
    case TBY_RS_IFNAMES:
        return BYTEORDER_HOST_ENDIAN;
    case TBY_RS_ADDR4_PROTO_PORT:
    case TBY_RS_ADDR6_PROTO_PORT:
    case TBY_RS_IFNAME_ADDR4:
    case TBY_RS_IFNAME_ADDR6:
        return BYTEORDER_INVALID; /* as nft does for concatenations */
    default:
        return BYTEORDER_BIG_ENDIAN;
    }
}

static bool set_udata(struct nftnl_set *ns, const struct tby_rs_set *s)
{
    struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
    bool ok = u && nftnl_udata_put_u32(u, NFTNL_UDATA_SET_KEYBYTEORDER, key_byteorder(s->type));

    if (ok && s->comment)
        ok = nftnl_udata_put_strz(u, NFTNL_UDATA_SET_COMMENT, s->comment);

    if (ok)
        ok = nftnl_set_set_data(ns, NFTNL_SET_USERDATA, nftnl_udata_buf_data(u),
                                nftnl_udata_buf_len(u)) == 0;
    nftnl_udata_buf_free(u);
    return ok;
}

static void add_set(struct batch *bt, const struct tby_rs_set *s, uint16_t type)
{
    struct nftnl_set *ns = set_base(s);
    struct nlmsghdr *nlh = msg(bt, type, type == NFT_MSG_NEWSET ? NLM_F_CREATE : 0, s->name);
    uint32_t flags, key_type, key_len;

    if (!ns || !nlh) {
        bt->oom = true;
        nftnl_set_free(ns);
        return;
    }
    if (type == NFT_MSG_NEWSET) {
        nft_set_types(s->type, &flags, &key_type, &key_len);
        nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, flags);
        nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, key_type);
        nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, key_len);
        if (s->type == TBY_RS_IFNAME_VMAP)
            nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
        /* the kernel wants a transaction-local id for every new set */
        nftnl_set_set_u32(ns, NFTNL_SET_ID, (uint32_t)bt->n);
        if (!set_udata(ns, s))
            bt->oom = true;
    }
    nftnl_set_nlmsg_build_payload(nlh, ns);
    nftnl_set_free(ns);
    done(bt);
}

static struct nftnl_chain *chain_base(const char *name)
{
    struct nftnl_chain *c = nftnl_chain_alloc();

    if (c) {
        nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, TBY_RS_TABLE);
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
        nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
    }
    return c;
}

static void add_chain(struct batch *bt, const struct tby_rs_chain *ch, uint16_t type)
{
    struct nftnl_chain *c = chain_base(ch->name);
    struct nlmsghdr *nlh = msg(bt, type, type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0, ch->name);

    if (!c || !nlh) {
        bt->oom = true;
        nftnl_chain_free(c);
        return;
    }
    if (type == NFT_MSG_NEWCHAIN && ch->hook != TBY_RS_HOOK_NONE) {
        const struct tby_rs_hook_info *h = tby_rs_hook_info(ch->hook);

        nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, nft_hooknum(ch->hook));
        nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, h->priority);
        nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, h->type);
        nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
    }
    nftnl_chain_nlmsg_build_payload(nlh, c);
    nftnl_chain_free(c);
    done(bt);
}

/* Without a handle, a rule deletion removes every rule of the chain. */
static void flush_chain(struct batch *bt, const struct tby_rs_chain *ch)
{
    struct nftnl_rule *r = nftnl_rule_alloc();
    struct nlmsghdr *nlh = msg(bt, NFT_MSG_DELRULE, 0, ch->name);

    if (!r || !nlh) {
        bt->oom = true;
        nftnl_rule_free(r);
        return;
    }
    nftnl_rule_set_str(r, NFTNL_RULE_TABLE, TBY_RS_TABLE);
    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, ch->name);
    nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
    nftnl_rule_nlmsg_build_payload(nlh, r);
    nftnl_rule_free(r);
    done(bt);
}

static void add_rules(struct batch *bt, const struct tby_rs_chain *ch)
{
    for (size_t i = 0; !bt->oom && i < ch->n_rules; i++) {
        struct nftnl_rule *r = nft_rule_build(ch->rules[i], ch->name);
        struct nlmsghdr *nlh = msg(bt, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, ch->name);

        if (!r || !nlh) {
            bt->oom = true;
            nftnl_rule_free(r);
            return;
        }
        nftnl_rule_nlmsg_build_payload(nlh, r);
        nftnl_rule_free(r);
        done(bt);
    }
}

/* ---- set elements, in messages of up to ELEMS_PER_MSG ----------------------------------- */

struct elem_msgs {
    struct batch *bt;
    const struct tby_rs_set *set;
    bool add;
    struct nftnl_set *cur;
    size_t in_cur;
};

static void elems_flush(struct elem_msgs *em)
{
    struct nlmsghdr *nlh;

    if (!em->cur)
        return;
    nlh = msg(em->bt, em->add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
              em->add ? NLM_F_CREATE : 0, em->set->name);
    if (nlh) {
        nftnl_set_elems_nlmsg_build_payload(nlh, em->cur);
        done(em->bt);
    }
    nftnl_set_free(em->cur);
    em->cur = NULL;
    em->in_cur = 0;
}

static int elem_one(const struct tby_rs_elem *e, void *ctx)
{
    struct elem_msgs *em = ctx;
    struct nftnl_set_elem *ne;

    if (!(em->add ? tby_rs_elem_new(e) : tby_rs_elem_gone(e)))
        return 0;
    if (!em->cur && !(em->cur = set_base(em->set)))
        return -ENOMEM;
    if (!(ne = nftnl_set_elem_alloc()))
        return -ENOMEM;
    nftnl_set_elem_set(ne, NFTNL_SET_ELEM_KEY, e->key, e->len);
    if (e->flags & TBY_RS_ELEM_END)
        nftnl_set_elem_set_u32(ne, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
    if (em->add && tby_rs_elem_target(e)) {
        nftnl_set_elem_set_u32(ne, NFTNL_SET_ELEM_VERDICT, NFT_JUMP);
        nftnl_set_elem_set_str(ne, NFTNL_SET_ELEM_CHAIN, tby_rs_elem_target(e));
    }
    nftnl_set_elem_add(em->cur, ne);
    if (++em->in_cur == ELEMS_PER_MSG)
        elems_flush(em);
    return 0;
}

struct gather {
    const struct tby_rs_elem **v;
    size_t n;
};

static int gather_one(const struct tby_rs_elem *e, void *ctx)
{
    struct gather *g = ctx;

    g->v[g->n++] = e;
    return 0;
}

/* Ascending keys, an interval's end before a start at the same key: the order nft sends,
 * which the kernel's interval tree checks for overlaps as it inserts. */
static int cmp_elem(const void *a, const void *b)
{
    const struct tby_rs_elem *x = *(const struct tby_rs_elem *const *)a;
    const struct tby_rs_elem *y = *(const struct tby_rs_elem *const *)b;
    int c = memcmp(x->key, y->key, x->len);

    return c ? c : (int)y->flags - (int)x->flags;
}

/* Interval sets' elements go sorted (a journal's few, or after a read-back every one). */
static int interval_elems(struct elem_msgs *em)
{
    struct gather g = { .v = malloc((em->set->elems.n + 1) * sizeof(*g.v)) };
    int r = 0;

    if (!g.v)
        return -ENOMEM;
    tby_rs_set_journal_foreach(em->set, gather_one, &g);
    qsort(g.v, g.n, sizeof(*g.v), cmp_elem);
    for (size_t i = 0; r == 0 && i < g.n; i++)
        r = elem_one(g.v[i], em);
    free(g.v);
    return r;
}

static void set_elems(struct batch *bt, const struct tby_rs_set *set, bool add)
{
    struct elem_msgs em = { .bt = bt, .set = set, .add = add };
    int r = tby_rs_is_interval(set->type) ? interval_elems(&em)
                                           : tby_rs_set_journal_foreach(set, elem_one, &em);

    if (r < 0)
        bt->oom = true;
    elems_flush(&em);
}

/* ---- the journal as one batch ----------------------------------------------------------- */

static void journal_batch(struct batch *bt, const struct tby_rs *rs, bool rebuild)
{
    if (rebuild)
        add_table(bt, NFT_MSG_DELTABLE);
    if (!rs->table_prog)
        add_table(bt, NFT_MSG_NEWTABLE);
    for (size_t i = 0; i < rs->n_set_journal; i++)
        if (rs->set_journal[i]->live && !rs->set_journal[i]->prog)
            add_set(bt, rs->set_journal[i], NFT_MSG_NEWSET);
    for (size_t i = 0; i < rs->n_chain_journal; i++)
        if (rs->chain_journal[i]->live && !rs->chain_journal[i]->prog)
            add_chain(bt, rs->chain_journal[i], NFT_MSG_NEWCHAIN);
    for (size_t i = 0; i < rs->n_chain_journal; i++) {
        const struct tby_rs_chain *c = rs->chain_journal[i];

        if (c->prog && (c->dirty || !c->live))
            flush_chain(bt, c);
    }
    for (int add = 0; add < 2; add++)
        for (size_t i = 0; i < rs->n_set_journal; i++)
            if (rs->set_journal[i]->live)
                set_elems(bt, rs->set_journal[i], add);
    for (size_t i = 0; i < rs->n_chain_journal; i++) {
        const struct tby_rs_chain *c = rs->chain_journal[i];

        if (c->live && (c->dirty || !c->prog))
            add_rules(bt, c);
    }
    /* Sets before chains: no rule uses a dead set any more, but a dead map's elements may
     * still jump to a dead chain until the map goes. */
    for (size_t i = 0; i < rs->n_set_journal; i++)
        if (rs->set_journal[i]->prog && !rs->set_journal[i]->live)
            add_set(bt, rs->set_journal[i], NFT_MSG_DELSET);
    for (size_t i = 0; i < rs->n_chain_journal; i++)
        if (rs->chain_journal[i]->prog && !rs->chain_journal[i]->live)
            add_chain(bt, rs->chain_journal[i], NFT_MSG_DELCHAIN);
}

static const char *type_name(uint16_t type)
{
    switch (type) {
    case NFT_MSG_NEWTABLE: return "create table";
    case NFT_MSG_DELTABLE: return "delete table";
    case NFT_MSG_NEWSET: return "create set";
    case NFT_MSG_DELSET: return "delete set";
    case NFT_MSG_NEWCHAIN: return "create chain";
    case NFT_MSG_DELCHAIN: return "delete chain";
    case NFT_MSG_NEWRULE: return "add rule to chain";
    case NFT_MSG_DELRULE: return "flush chain";
    case NFT_MSG_NEWSETELEM: return "add elements to";
    case NFT_MSG_DELSETELEM: return "delete elements from";
    default: return "change";
    }
}

/* The kernel processes a batch inside sendmsg(), so every answer is queued when it
 * returns: drain without waiting. Messages carry no ACK flag, so only failures answer. */
static int read_errors(struct tby_nft *nft, const struct batch *bt, struct tby_error *err)
{
    int first = 0;

    for (;;) {
        ssize_t n = recv(mnl_socket_get_fd(nft->nl), nft->buf, nft->buf_size, MSG_DONTWAIT);
        struct nlmsghdr *nlh = (struct nlmsghdr *)nft->buf;
        int len = n > 0 ? (int)n : 0;

        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return first;
        if (n < 0)
            return first ? first : tby_error_set(err, -errno, "netlink receive: %s",
                                                 strerror(errno));
        for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
            size_t k = nlh->nlmsg_seq - bt->first_seq - 1;

            if (nlh->nlmsg_type != NLMSG_ERROR || e->error == 0 || first)
                continue;
            first = tby_error_set(err, e->error, "nftables refused the batch: %s %s: %s",
                                  k < bt->n ? type_name(bt->what[k].type) : "message",
                                  k < bt->n ? bt->what[k].name : "?", strerror(-e->error));
        }
    }
}

void tby_nft_monitor_listen(struct tby_nft *nft, bool on)
{
    int group = NFNLGRP_NFTABLES;

    /* A failure to stop only costs time; a failure to start again is a lost monitor,
     * which the periodic read-back stands in for. */
    if (setsockopt(mnl_socket_get_fd(nft->mon), SOL_NETLINK,
                   on ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP, &group,
                   sizeof(group)) < 0 && on)
        tby_log(TBY_LOG_WARNING, "nft", "cannot listen to nftables notifications error=%d",
                errno);
}

static int send_batch(struct tby_nft *nft, struct batch *bt, struct tby_nft_stats *st,
                      struct tby_error *err)
{
    int iovlen = nftnl_batch_iovec_len(bt->b);
    _cleanup_free_ struct iovec *iov = calloc((size_t)iovlen, sizeof(*iov));
    struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
    struct msghdr mh = { .msg_name = &snl, .msg_namelen = sizeof(snl) };
    int size = 0;
    double t0 = now_ms(), cpu0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);

    if (!iov)
        return tby_error_set(err, -ENOMEM, "out of memory");
    nftnl_batch_iovec(bt->b, iov, (uint32_t)iovlen);
    mh.msg_iov = iov;
    mh.msg_iovlen = (size_t)iovlen;
    for (int i = 0; i < iovlen; i++)
        size += (int)iov[i].iov_len;
    st->bytes = (size_t)size;
    /* The kernel takes a batch as one message, which must fit the send buffer. */
    size += 4096;
    if (setsockopt(mnl_socket_get_fd(nft->nl), SOL_SOCKET, SO_SNDBUFFORCE, &size,
                   sizeof(size)) < 0)
        setsockopt(mnl_socket_get_fd(nft->nl), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    /* The kernel builds a notification for every object of a commit when anyone listens,
     * which costs more than the commit itself: stop listening for our own. Commits are
     * serialised by the kernel, so nobody else's falls in between; the periodic read-back
     * covers the instants around it. */
    tby_nft_monitor_listen(nft, false);
    if (sendmsg(mnl_socket_get_fd(nft->nl), &mh, 0) < 0) {
        int e = errno;

        tby_nft_monitor_listen(nft, true);
        return tby_error_set(err, -e, "netlink send of %zu bytes: %s", st->bytes, strerror(e));
    }
    tby_nft_monitor_listen(nft, true);
    size = read_errors(nft, bt, err);
    st->kernel_ms = now_ms() - t0;
    st->kernel_cpu_ms = clock_ms(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    return size;
}

static int run_batch(struct tby_nft *nft, void (*fill)(struct batch *bt, const void *ctx),
                     const void *ctx, size_t items, struct tby_nft_stats *st,
                     struct tby_error *err);

/* About how many messages' worth the journal holds, to size the batch pages. */
static size_t journal_items(const struct tby_rs *rs)
{
    size_t n = rs->n_set_journal + rs->n_chain_journal;

    for (size_t i = 0; i < rs->n_set_journal; i++)
        n += rs->set_journal[i]->all_touched ? rs->set_journal[i]->elems.n
                                             : rs->set_journal[i]->n_journal;
    for (size_t i = 0; i < rs->n_chain_journal; i++)
        n += rs->chain_journal[i]->n_rules;
    return n;
}

static void fill_journal(struct batch *bt, const void *rs)
{
    journal_batch(bt, rs, false);
}

static void fill_rebuild(struct batch *bt, const void *rs)
{
    journal_batch(bt, rs, true);
}

int tby_nft_sync(struct tby_nft *nft, struct tby_rs *rs, struct tby_nft_stats *stats,
                 struct tby_error *err)
{
    struct tby_nft_stats st = { 0 };
    double t0 = now_ms();
    int r = 0;

    if (!nft->known || !rs->table_prog) {
        st.read_back = true;
        r = nft_read_back(nft, rs, err);
        if (r == 1) {
            /* Something tabby cannot patch: start the table afresh, in the same batch. */
            st.rebuilt = true;
            tby_rs_forget_kernel(rs);
            r = 0;
        }
    }
    if (r == 0)
        r = run_batch(nft, st.rebuilt ? fill_rebuild : fill_journal, rs, journal_items(rs), &st,
                      err);
    nft->known = r == 0;
    if (r == 0)
        tby_rs_journal_done(rs);
    st.ms = now_ms() - t0;
    if (stats)
        *stats = st;
    return r;
}

/* A batch around fill(); nothing is sent when it adds no message. */
static int run_batch(struct tby_nft *nft, void (*fill)(struct batch *bt, const void *ctx),
                     const void *ctx, size_t items, struct tby_nft_stats *st,
                     struct tby_error *err)
{
    struct batch bt = { .b = nftnl_batch_alloc(items < SMALL_BATCH_ITEMS ? BATCH_PAGE_SMALL
                                                                          : BATCH_PAGE_BIG,
                                               BATCH_OVERRUN) };
    int r = 0;

    if (!bt.b)
        return tby_error_set(err, -ENOMEM, "out of memory");
    bt.first_seq = bt.seq = nft->seq;
    nftnl_batch_begin(nftnl_batch_buffer(bt.b), bt.seq++);
    done(&bt);
    fill(&bt, ctx);
    nftnl_batch_end(nftnl_batch_buffer(bt.b), bt.seq++);
    done(&bt);
    nft->seq = bt.seq;
    st->messages = bt.n;
    if (bt.oom)
        r = tby_error_set(err, -ENOMEM, "out of memory");
    else if (bt.n > 0)
        r = send_batch(nft, &bt, st, err);
    nftnl_batch_free(bt.b);
    free(bt.what);
    return r;
}

static void fill_delete(struct batch *bt, const void *ctx)
{
    (void)ctx;
    add_table(bt, NFT_MSG_DELTABLE);
}

int tby_nft_delete_table(struct tby_nft *nft, struct tby_error *err)
{
    struct tby_nft_stats st = { 0 };
    int r = run_batch(nft, fill_delete, NULL, 1, &st, err);

    nft->known = false;
    return r == -ENOENT ? 0 : r;
}

/* ---- notifications ---------------------------------------------------------------------- */

static int table_attr(const struct nlattr *a, void *data)
{
    /* NFTA_{TABLE_NAME,CHAIN_TABLE,RULE_TABLE,SET_TABLE,SET_ELEM_LIST_TABLE} are all 1 */
    if (mnl_attr_get_type(a) == 1 && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
        *(const char **)data = mnl_attr_get_str(a);
    return MNL_CB_OK;
}

struct mon_state {
    const struct tby_nft *nft;
    bool foreign;
};

static int monitor_cb(const struct nlmsghdr *nlh, void *data)
{
    struct mon_state *st = data;
    const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
    const char *table = NULL;

    /* our own changes carry our batch socket's port id */
    if (nlh->nlmsg_pid == st->nft->portid || NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWGEN ||
        g->nfgen_family != NFPROTO_INET)
        return MNL_CB_OK;
    mnl_attr_parse(nlh, sizeof(*g), table_attr, &table);
    if (table && strcmp(table, TBY_RS_TABLE) == 0)
        st->foreign = true;
    return MNL_CB_OK;
}

int tby_nft_monitor_fd(const struct tby_nft *nft)
{
    return mnl_socket_get_fd(nft->mon);
}

int tby_nft_monitor_read(struct tby_nft *nft)
{
    struct mon_state st = { .nft = nft };

    for (;;) {
        ssize_t n = recv(mnl_socket_get_fd(nft->mon), nft->buf, nft->buf_size, MSG_DONTWAIT);

        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0 && errno == ENOBUFS) {
            st.foreign = true; /* lost some: only a read-back can tell */
            continue;
        }
        if (n < 0)
            return -errno;
        mnl_cb_run(nft->buf, (size_t)n, 0, 0, monitor_cb, &st);
    }
    if (st.foreign)
        nft->known = false;
    return st.foreign;
}
