/* nft_internal.h — shared by felix/nft*.c (private to felix/): the dataplane's state, the
 * rule encoder and the read-back. */
#ifndef TABBY_NFT_INTERNAL_H
#define TABBY_NFT_INTERNAL_H

#include <stdint.h>

#include <libmnl/libmnl.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include "tabby/nft.h"
#include "tabby/ruleset.h"

/* The rule user-data type holding tabby's digest of the rule (nft knows types 0 and 1
 * and skips others). */
#define TBY_UDATA_RULE_DIGEST 0xa5

struct tby_nft {
    struct mnl_socket *nl;
    struct mnl_socket *mon;
    uint32_t portid;
    uint32_t seq;
    bool known;               /* the kernel holds what the last sync left */
    char *buf;                /* receive buffer for dumps */
    size_t buf_size;
};

/* A libnftnl rule for chain `chain` carrying r's expressions and user data (comment and
 * digest). NULL when out of memory. */
struct nftnl_rule *nft_rule_build(const struct tby_rs_rule *r, const char *chain);

/* nft's key and data types of a set type (the concatenation type ids are nft's, so that
 * `nft list` prints keys properly). */
void nft_set_types(enum tby_rs_set_type type, uint32_t *flags, uint32_t *key_type,
                   uint32_t *key_len);
/* Reverse: the set type of a kernel set; false for a set tabby would not make. */
bool nft_set_type_of(uint32_t flags, uint32_t key_type, uint32_t key_len,
                     enum tby_rs_set_type *out);

/* The netfilter hook number of a base chain's hook. */
uint32_t nft_hooknum(enum tby_rs_hook hook);

/* Reads table inet tabby into the ruleset's kernel marks (tby_rs_forget_kernel first).
 * Returns 0, 1 when the table must be rebuilt, or a negative errno. */
int nft_read_back(struct tby_nft *nft, struct tby_rs *rs, struct tby_error *err);

/* One request / dump round trip on the batch socket: cb gets every answer message. */
int nft_talk(struct tby_nft *nft, struct nlmsghdr *nlh, mnl_cb_t cb, void *data,
             struct tby_error *err);

#endif
