/* nft_dump.c — reads table inet tabby back from the kernel (netlink dumps filtered by the
 * table) into the ruleset's kernel marks, so that a sync programs only the difference. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/hmap.h"
#include "tabby/strv.h"
#include "nft_internal.h"

/* Room for one request (a table, set or chain name and a few attributes). */
#define REQUEST_SIZE 4096

struct rb {
    struct tby_rs *rs;
    int err;                  /* first failure */
    bool rebuild;
    struct tby_strv sets;     /* names of tabby's kernel sets still wanted */
    struct tby_strv chains;
    struct tby_rs_set *cur;   /* the set whose elements are being read */
    struct tby_hmap runs;     /* chain name -> digests of its rules */
};

struct run {
    struct tby_hnode node;
    char *chain;
    uint64_t *d;
    size_t n, cap;
};

static struct nlmsghdr *request(struct tby_nft *nft, char *buf, uint16_t type, uint16_t flags)
{
    return nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, flags, nft->seq++);
}

/* ---- the table -------------------------------------------------------------------------- */

int tby_nft_table_exists(struct tby_nft *nft, bool *exists, struct tby_error *err)
{
    char buf[REQUEST_SIZE] = { 0 }; /* zeroed: netlink padding stays defined */
    struct nftnl_table *t = nftnl_table_alloc();
    struct nlmsghdr *nlh = request(nft, buf, NFT_MSG_GETTABLE, NLM_F_ACK);
    int r;

    if (!t)
        return -ENOMEM;
    nftnl_table_set_str(t, NFTNL_TABLE_NAME, TBY_RS_TABLE);
    nftnl_table_nlmsg_build_payload(nlh, t);
    nftnl_table_free(t);
    r = nft_talk(nft, nlh, NULL, NULL, err);
    *exists = r == 0;
    if (r == -ENOENT)
        return 0;
    return r < 0 ? tby_error_set(err, r, "read table inet %s: %s", TBY_RS_TABLE, strerror(-r))
                 : 0;
}

/* ---- sets and elements ------------------------------------------------------------------ */

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
    struct rb *rb = data;
    struct nftnl_set *s = nftnl_set_alloc();
    enum tby_rs_set_type type;
    struct tby_rs_set *mine;
    int r;

    if (!s || nftnl_set_nlmsg_parse(nlh, s) < 0) {
        nftnl_set_free(s);
        rb->err = -ENOMEM;
        return MNL_CB_ERROR;
    }
    if (strcmp(nftnl_set_get_str(s, NFTNL_SET_TABLE), TBY_RS_TABLE) != 0) {
        nftnl_set_free(s);
        return MNL_CB_OK;
    }
    if (!nft_set_type_of(nftnl_set_get_u32(s, NFTNL_SET_FLAGS),
                         nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
                         nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN), &type)) {
        rb->rebuild = true;
    } else {
        r = tby_rs_mark_set(rb->rs, nftnl_set_get_str(s, NFTNL_SET_NAME), type, &mine);
        if (r == -EEXIST)
            rb->rebuild = true;
        else if (r < 0 || (mine->live && tby_strv_push(&rb->sets, mine->name) < 0))
            rb->err = -ENOMEM;
    }
    nftnl_set_free(s);
    return rb->err ? MNL_CB_ERROR : MNL_CB_OK;
}

/* Elements and rules are read from their netlink attributes where they lie: libnftnl
 * would allocate an object per element (669,001 of them for 10,000 local endpoints) and
 * parse every expression of every rule, for the few attributes the comparison needs. */

/* The payload of NEST's NFTA_DATA_VALUE, or NULL. */
static const void *data_value(const struct nlattr *nest, uint16_t *len)
{
    const struct nlattr *a;

    mnl_attr_for_each_nested(a, nest) {
        if (mnl_attr_get_type(a) == NFTA_DATA_VALUE) {
            *len = mnl_attr_get_payload_len(a);
            return mnl_attr_get_payload(a);
        }
    }
    return NULL;
}

/* attribute A's string when it is one (NUL-terminated), else NULL */
static const char *attr_str(const struct nlattr *a)
{
    uint16_t len = mnl_attr_get_payload_len(a);
    const char *s = mnl_attr_get_payload(a);

    return len && s[len - 1] == '\0' ? s : NULL;
}

/* The chain a verdict map's element jumps or goes to (NFTA_SET_ELEM_DATA), or NULL. */
static const char *verdict_chain(const struct nlattr *nest)
{
    const struct nlattr *v, *a;

    mnl_attr_for_each_nested(v, nest) {
        if (mnl_attr_get_type(v) != NFTA_DATA_VERDICT)
            continue;
        mnl_attr_for_each_nested(a, v) {
            if (mnl_attr_get_type(a) == NFTA_VERDICT_CHAIN)
                return attr_str(a);
        }
    }
    return NULL;
}

static int elem_read(struct rb *rb, const struct nlattr *elem)
{
    const struct nlattr *a;
    const void *key = NULL;
    const char *chain = NULL;
    uint32_t flags = 0;
    uint16_t len = 0;

    mnl_attr_for_each_nested(a, elem) {
        switch (mnl_attr_get_type(a)) {
        case NFTA_SET_ELEM_KEY:
            key = data_value(a, &len);
            break;
        case NFTA_SET_ELEM_FLAGS:
            if (mnl_attr_get_payload_len(a) == sizeof(uint32_t))
                flags = ntohl(mnl_attr_get_u32(a));
            break;
        case NFTA_SET_ELEM_DATA:
            chain = verdict_chain(a);
            break;
        }
    }
    if (!key || len > TBY_RS_KEY_MAX)
        return 0;
    return tby_rs_mark_elem(rb->rs, rb->cur, key, (uint8_t)len,
                            flags & NFT_SET_ELEM_INTERVAL_END ? TBY_RS_ELEM_END : 0, chain);
}

static int elems_cb(const struct nlmsghdr *nlh, void *data)
{
    struct rb *rb = data;
    const struct nlattr *a, *e;

    mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
        if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
            continue;
        mnl_attr_for_each_nested(e, a) {
            if (mnl_attr_get_type(e) == NFTA_LIST_ELEM && elem_read(rb, e) < 0) {
                rb->err = -ENOMEM;
                return MNL_CB_ERROR;
            }
        }
    }
    return MNL_CB_OK;
}

static int read_sets(struct tby_nft *nft, struct rb *rb, struct tby_error *err)
{
    char buf[REQUEST_SIZE] = { 0 }; /* zeroed: netlink padding stays defined */
    struct nftnl_set *s = nftnl_set_alloc();
    struct nlmsghdr *nlh = request(nft, buf, NFT_MSG_GETSET, NLM_F_DUMP);
    int r;

    if (!s)
        return -ENOMEM;
    nftnl_set_set_str(s, NFTNL_SET_TABLE, TBY_RS_TABLE);
    nftnl_set_nlmsg_build_payload(nlh, s);
    r = nft_talk(nft, nlh, set_cb, rb, err);
    for (size_t i = 0; r == 0 && !rb->err && !rb->rebuild && i < rb->sets.n; i++) {
        rb->cur = tby_rs_set_find(rb->rs, rb->sets.items[i]);
        nlh = request(nft, buf, NFT_MSG_GETSETELEM, NLM_F_DUMP);
        nftnl_set_set_str(s, NFTNL_SET_NAME, rb->sets.items[i]);
        nftnl_set_elems_nlmsg_build_payload(nlh, s);
        r = nft_talk(nft, nlh, elems_cb, rb, err);
    }
    nftnl_set_free(s);
    return rb->err ? rb->err : r;
}

/* ---- chains and rules ------------------------------------------------------------------- */

static bool hook_differs(const struct nftnl_chain *c, const struct tby_rs_chain *mine)
{
    bool base = nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM);
    const struct tby_rs_hook_info *want = tby_rs_hook_info(mine->hook);
    const char *type;

    if (!mine->live)
        return false;
    if (!base)
        return mine->hook != TBY_RS_HOOK_NONE;
    type = nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE);
    return mine->hook == TBY_RS_HOOK_NONE ||
           nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM) != nft_hooknum(mine->hook) ||
           nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO) != want->priority ||
           !type || strcmp(type, want->type) != 0 ||
           (nftnl_chain_is_set(c, NFTNL_CHAIN_POLICY) &&
            nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY) != NF_ACCEPT);
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
    struct rb *rb = data;
    struct nftnl_chain *c = nftnl_chain_alloc();
    struct tby_rs_chain *mine;
    const char *name;

    if (!c || nftnl_chain_nlmsg_parse(nlh, c) < 0) {
        nftnl_chain_free(c);
        rb->err = -ENOMEM;
        return MNL_CB_ERROR;
    }
    name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
    if (strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), TBY_RS_TABLE) == 0) {
        mine = tby_rs_chain_find(rb->rs, name);
        if (mine && hook_differs(c, mine))
            rb->rebuild = true;
        else if (tby_strv_push(&rb->chains, name) < 0)
            rb->err = -ENOMEM;
    }
    nftnl_chain_free(c);
    return rb->err ? MNL_CB_ERROR : MNL_CB_OK;
}

static int digest_cb(const struct nftnl_udata *a, void *data)
{
    if (nftnl_udata_type(a) == TBY_UDATA_RULE_DIGEST && nftnl_udata_len(a) == sizeof(uint64_t))
        memcpy(data, nftnl_udata_get(a), sizeof(uint64_t));
    return 0;
}

static const char *run_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct run, node)->chain;
}

static int run_add(struct rb *rb, const char *chain, uint64_t digest)
{
    struct tby_hnode *n = tby_hmap_find_str(&rb->runs, chain, run_key);
    struct run *run = n ? TBY_CONTAINER_OF(n, struct run, node) : NULL;

    if (!run) {
        run = calloc(1, sizeof(*run));
        if (!run || !(run->chain = strdup(chain)) ||
            tby_hmap_insert(&rb->runs, &run->node, tby_hash_str(chain)) < 0) {
            if (run)
                free(run->chain);
            free(run);
            return -ENOMEM;
        }
    }
    if (TBY_GROW(run->d, run->cap, run->n + 1) < 0)
        return -ENOMEM;
    run->d[run->n++] = digest;
    return 0;
}

/* One dumped rule if it is table inet tabby's (the caller frees it), else NULL; *err is
 * -ENOMEM when it could not be read. */
static struct nftnl_rule *tabby_rule(const struct nlmsghdr *nlh, int *err)
{
    struct nftnl_rule *r = nftnl_rule_alloc();

    if (!r || nftnl_rule_nlmsg_parse(nlh, r) < 0) {
        nftnl_rule_free(r);
        *err = -ENOMEM;
        return NULL;
    }
    if (strcmp(nftnl_rule_get_str(r, NFTNL_RULE_TABLE), TBY_RS_TABLE) != 0) {
        nftnl_rule_free(r);
        return NULL;
    }
    return r;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
    struct rb *rb = data;
    const char *table = NULL, *chain = NULL;
    const struct nlattr *a, *ud = NULL;
    uint64_t digest = 0;

    mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
        switch (mnl_attr_get_type(a)) {
        case NFTA_RULE_TABLE:
            table = attr_str(a);
            break;
        case NFTA_RULE_CHAIN:
            chain = attr_str(a);
            break;
        case NFTA_RULE_USERDATA:
            ud = a;
            break;
        }
    }
    if (!table || !chain || strcmp(table, TBY_RS_TABLE) != 0)
        return MNL_CB_OK;
    if (ud)
        nftnl_udata_parse(mnl_attr_get_payload(ud), mnl_attr_get_payload_len(ud), digest_cb,
                          &digest);
    if (run_add(rb, chain, digest) < 0) {
        rb->err = -ENOMEM;
        return MNL_CB_ERROR;
    }
    return MNL_CB_OK;
}

static int read_chains(struct tby_nft *nft, struct rb *rb, struct tby_error *err)
{
    char buf[REQUEST_SIZE] = { 0 }; /* zeroed: netlink padding stays defined */
    struct nftnl_chain *c = nftnl_chain_alloc();
    struct nftnl_rule *r = nftnl_rule_alloc();
    struct nlmsghdr *nlh = request(nft, buf, NFT_MSG_GETCHAIN, NLM_F_DUMP);
    int rc;

    if (!c || !r) {
        nftnl_chain_free(c);
        nftnl_rule_free(r);
        return -ENOMEM;
    }
    nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, TBY_RS_TABLE);
    nftnl_chain_nlmsg_build_payload(nlh, c);
    rc = nft_talk(nft, nlh, chain_cb, rb, err);
    if (rc == 0 && !rb->err && !rb->rebuild) {
        nlh = request(nft, buf, NFT_MSG_GETRULE, NLM_F_DUMP);
        nftnl_rule_set_str(r, NFTNL_RULE_TABLE, TBY_RS_TABLE);
        nftnl_rule_nlmsg_build_payload(nlh, r);
        rc = nft_talk(nft, nlh, rule_cb, rb, err);
    }
    nftnl_chain_free(c);
    nftnl_rule_free(r);
    return rb->err ? rb->err : rc;
}

/* ---- rule counters (tabbyctl policy explain --node) --------------------------------------- */

struct counters {
    int (*fn)(void *ctx, const char *chain, const char *comment, uint64_t packets,
              uint64_t bytes);
    void *ctx;
    int result;
};

static int comment_cb(const struct nftnl_udata *a, void *data)
{
    const char *s = nftnl_udata_get(a);
    uint8_t len = nftnl_udata_len(a);

    if (nftnl_udata_type(a) == NFTNL_UDATA_RULE_COMMENT && len && s[len - 1] == '\0')
        *(const char **)data = s;
    return MNL_CB_OK;
}

/* Sums the rule's counters into pb[0] (packets) and pb[1] (bytes); pb[2] = 1 when any. */
static int counter_expr_cb(struct nftnl_expr *e, void *data)
{
    uint64_t *pb = data;

    if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "counter") == 0) {
        pb[0] += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
        pb[1] += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
        pb[2] = 1;
    }
    return 0;
}

static int counter_rule_cb(const struct nlmsghdr *nlh, void *data)
{
    struct counters *c = data;
    struct nftnl_rule *r = tabby_rule(nlh, &c->result);
    const char *comment = NULL;
    uint64_t pb[3] = { 0 };
    uint32_t len = 0;
    const void *ud;

    if (r) {
        ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
        if (ud)
            nftnl_udata_parse(ud, len, comment_cb, &comment);
        nftnl_expr_foreach(r, counter_expr_cb, pb);
        if (comment && pb[2])
            c->result = c->fn(c->ctx, nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), comment,
                              pb[0], pb[1]);
        nftnl_rule_free(r);
    }
    return c->result ? MNL_CB_ERROR : MNL_CB_OK;
}

int tby_nft_rule_counters(struct tby_nft *nft,
                          int (*fn)(void *ctx, const char *chain, const char *comment,
                                    uint64_t packets, uint64_t bytes),
                          void *ctx, struct tby_error *err)
{
    char buf[REQUEST_SIZE] = { 0 }; /* zeroed: netlink padding stays defined */
    struct nftnl_rule *r = nftnl_rule_alloc();
    struct nlmsghdr *nlh = request(nft, buf, NFT_MSG_GETRULE, NLM_F_DUMP);
    struct counters c = { .fn = fn, .ctx = ctx };
    int rc;

    if (!r)
        return tby_error_set(err, -ENOMEM, "out of memory");
    nftnl_rule_set_str(r, NFTNL_RULE_TABLE, TBY_RS_TABLE);
    nftnl_rule_nlmsg_build_payload(nlh, r);
    nftnl_rule_free(r);
    rc = nft_talk(nft, nlh, counter_rule_cb, &c, err);
    if (c.result)
        return c.result;
    return rc;
}

static int mark_chains(struct rb *rb)
{
    for (size_t i = 0; i < rb->chains.n; i++) {
        struct tby_hnode *n = tby_hmap_find_str(&rb->runs, rb->chains.items[i], run_key);
        struct run *run = n ? TBY_CONTAINER_OF(n, struct run, node) : NULL;

        if (tby_rs_mark_chain(rb->rs, rb->chains.items[i], run ? run->d : NULL, run ? run->n : 0) < 0)
            return -ENOMEM;
    }
    return 0;
}

static void rb_clear(struct rb *rb)
{
    struct tby_hnode *n, *next;

    for (n = tby_hmap_first(&rb->runs); n; n = next) {
        struct run *run = TBY_CONTAINER_OF(n, struct run, node);

        next = tby_hmap_next(&rb->runs, n);
        free(run->chain);
        free(run->d);
        free(run);
    }
    tby_hmap_destroy(&rb->runs);
    tby_strv_clear(&rb->sets);
    tby_strv_clear(&rb->chains);
}

int nft_read_back(struct tby_nft *nft, struct tby_rs *rs, struct tby_error *err)
{
    struct rb rb = { .rs = rs };
    bool exists;
    int r;

    tby_rs_forget_kernel(rs);
    tby_hmap_init(&rb.runs);
    r = tby_nft_table_exists(nft, &exists, err);
    if (r < 0 || !exists)
        return r;
    rs->table_prog = true;
    r = read_sets(nft, &rb, err);
    if (r == 0 && !rb.rebuild)
        r = read_chains(nft, &rb, err);
    if (r == 0 && !rb.rebuild)
        r = mark_chains(&rb);
    rb_clear(&rb);
    if (r == -ENOMEM)
        return tby_error_set(err, r, "out of memory");
    if (r < 0)
        return r;
    return rb.rebuild ? 1 : 0;
}
