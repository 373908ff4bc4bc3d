/* model_fields.h — decoders and encoders for fields that several kinds share (private to
 * lib/): AS numbers, addresses, CIDR lists, durations, secret references, names and
 * endpoint ports; plus the decode skeleton every kind's spec goes through.
 *
 * Owns nothing itself. Decoders follow codec.h: the message names the field path; what
 * they allocate hangs off the caller's struct (also on failure, so that the kind's free
 * function releases it). List decoders size the array first and zero it, so a failure
 * half way leaves zeroed elements that free functions skip. Encoders return new JSON
 * references for tby_enc_take, or NULL when there is nothing to write.
 */
#ifndef TABBY_MODEL_FIELDS_H
#define TABBY_MODEL_FIELDS_H

#include <stdbool.h>
#include <stdint.h>

#include "tabby/codec.h"
#include "tabby/model.h"
#include "tabby/resource.h"

/* ---- lists ------------------------------------------------------------------------- */

typedef int (*tby_fields_item_fn)(struct tby_dec *d, const json_t *item, void *elem, void *ctx);

/* Decodes the list obj[field] into a new zeroed array of `size`-byte elements, calling
 * fn(item, element, ctx) with the path at field[i]. Unlike tby_dec_list (codec.h), *items
 * and *n are set as soon as the array exists, even if an item then fails: the kind's
 * free function releases them, half-decoded element included. */
int tby_fields_list(struct tby_dec *d, const json_t *obj, const char *field, size_t size,
                 tby_fields_item_fn fn, void *ctx, void **items, size_t *n);

/* A list item must be an object with only these fields. */
int tby_dec_item_object(struct tby_dec *d, const json_t *item, const char *const *fields);

/* ---- scalars ----------------------------------------------------------------------- */

/* An AS number: an integer, or a string plain ("64512") or dotted ("1.10"). Unquoted
 * dotted numbers are refused: YAML has already turned 1.10 into the decimal 1.1. AS 0
 * is reserved and refused. */
int tby_dec_asn(struct tby_dec *d, const json_t *obj, const char *field, uint32_t *out,
                bool *present);

/* An IP address of `family` (4, 6, or 0 for either). */
int tby_dec_ip(struct tby_dec *d, const json_t *obj, const char *field, int family,
               struct tby_ip *out, bool *present);
void tby_enc_ip(json_t *obj, const char *key, bool has, const struct tby_ip *ip);

/* A list of IP addresses of either family. */
int tby_dec_ips(struct tby_dec *d, const json_t *obj, const char *field,
                struct tby_ip **items, size_t *n);
json_t *tby_enc_ips(const struct tby_ip *items, size_t n);

/* A policy's or tier's order: any finite number; whole ones encode as integers, as users
 * write them. */
int tby_dec_order(struct tby_dec *d, const json_t *obj, const char *field, double *out,
                  bool *present);
void tby_enc_order(json_t *obj, const char *key, bool has, double order);

/* A Go duration ("2m0s", "90s", "500ms"), in milliseconds. */
int tby_dec_duration(struct tby_dec *d, const json_t *obj, const char *field,
                     uint64_t *ms, bool *present);
/* Writes it back as Go prints it ("2m0s"), as calicoctl shows it. */
void tby_enc_duration(json_t *obj, const char *key, bool has, uint64_t ms);

/* A resource name (a DNS-1123 subdomain): node, profile, filter names. */
int tby_dec_name(struct tby_dec *d, const json_t *obj, const char *field, char **out);
/* A list of them. */
int tby_dec_names(struct tby_dec *d, const json_t *obj, const char *field,
                  struct tby_strv *out);

/* "aa:bb:cc:dd:ee:ff", kept in lower case so that equal addresses compare equal. */
int tby_dec_mac(struct tby_dec *d, const json_t *obj, const char *field, char **out);

/* ---- composites -------------------------------------------------------------------- */

/* A required CIDR string, parsed with tby_cidr_parse's flags. */
int tby_dec_cidr(struct tby_dec *d, const json_t *obj, const char *field, unsigned flags,
                 struct tby_cidr *out);
/* A list of CIDR strings, parsed the same way. */
int tby_dec_cidrs(struct tby_dec *d, const json_t *obj, const char *field, unsigned flags,
                  struct tby_cidr_list *out);
json_t *tby_enc_cidrs(const struct tby_cidr_list *list);
/* A list of {cidr: ...} blocks (BGPConfiguration's service IP ranges); entries without a
 * CIDR are accepted and left out, as Calico ignores them. */
int tby_dec_cidr_blocks(struct tby_dec *d, const json_t *obj, const char *field,
                        unsigned flags, struct tby_cidr_list *out);
json_t *tby_enc_cidr_blocks(const struct tby_cidr_list *list);

/* {secretKeyRef: {name, key}}; *out is NULL when absent. */
int tby_dec_secret_ref(struct tby_dec *d, const json_t *obj, const char *field,
                       struct tby_secret_ref **out);
json_t *tby_enc_secret_ref(const struct tby_secret_ref *ref);
void tby_secret_ref_free(struct tby_secret_ref *ref);

/* Named ports of an endpoint. A workload's ports may also map a host port (hostPort,
 * hostIP) and then need no name; a host endpoint's ports always have one. */
int tby_dec_endpoint_ports(struct tby_dec *d, const json_t *obj, bool workload,
                           struct tby_endpoint_port **ports, size_t *n);
json_t *tby_enc_endpoint_ports(const struct tby_endpoint_port *ports, size_t n);
void tby_endpoint_ports_free(struct tby_endpoint_port *ports, size_t n);

#endif
