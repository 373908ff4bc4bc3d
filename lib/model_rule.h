/* model_rule.h — Calico policy rules (private to lib/): the Rule of NetworkPolicy,
 * GlobalNetworkPolicy and Profile, decoded and checked as Calico's validator does and
 * encoded in normal form; and the small value decoders Kubernetes policy shares.
 *
 * Owns nothing by itself: a decoded list belongs to the caller's spec struct and is freed
 * with tby_rule_list_clear (or tby_cidr_list_clear, tby_port_list_clear). Decoders leave
 * nothing allocated on failure.
 */
#ifndef TABBY_MODEL_RULE_H
#define TABBY_MODEL_RULE_H

#include <stdbool.h>

#include "tabby/codec.h"
#include "tabby/model.h"

/* Where a list of rules sits: the direction decides which side may name services, and
 * in a cluster-wide resource (GlobalNetworkPolicy, Profile) a service needs a namespace. */
struct tby_rule_place {
    bool ingress;
    bool global;
};

/* obj[field] (absent: an empty list) as a list of Calico rules. */
int tby_rule_list_decode(struct tby_dec *d, const json_t *obj, const char *field,
                         struct tby_rule_place place, struct tby_rule_list *out);
/* An array of the rules in normal form (empty when there are none). New reference. */
json_t *tby_rule_list_encode(const struct tby_rule_list *list);
void tby_rule_list_clear(struct tby_rule_list *list);

/* Where global() may appear in a Calico selector: only as the whole of a rule's
 * namespaceSelector (it picks non-namespaced endpoints). */
enum tby_global_use { TBY_GLOBAL_FORBIDDEN, TBY_GLOBAL_ALONE };

/* obj[field] as a Calico selector string that must parse; *out unchanged when absent. */
int tby_dec_selector(struct tby_dec *d, const json_t *obj, const char *field,
                     enum tby_global_use global, char **out);

/* obj[field] as a list of CIDRs parsed with `flags` (net.h); messages name the item. */
int tby_cidr_list_decode(struct tby_dec *d, const json_t *obj, const char *field,
                         unsigned flags, struct tby_cidr_list *out);
/* One CIDR from a JSON string, failing at the current path. */
int tby_dec_cidr_value(struct tby_dec *d, const json_t *v, unsigned flags,
                       struct tby_cidr *out);
json_t *tby_cidr_list_encode(const struct tby_cidr_list *list);
void tby_cidr_list_clear(struct tby_cidr_list *list);

/* A whole JSON number (YAML may hand 80 over as 80.0). */
bool tby_json_int(const json_t *v, int64_t *out);
/* Fails at the current path unless 1 <= n <= 65535. */
int tby_check_port_number(struct tby_dec *d, int64_t n);
/* Fails at the current path unless s is a valid port name. */
int tby_check_port_name(struct tby_dec *d, const char *s);
/* "a string \"x\"", "80", "a list": the value for a message. Writes into buf. */
const char *tby_json_show(const json_t *v, char *buf, size_t size);

#endif
