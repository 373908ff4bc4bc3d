/* model_networkset.c — NetworkSet (namespaced) and GlobalNetworkSet: labelled lists of
 * nets that policy rule selectors match as Calico's do (felix/policy/calc_index.c). nets
 * are CIDRs or addresses, masked as Calico does; allowedEgressDomains (Calico
 * Enterprise's domain sets) is refused. */
#include <errno.h>
#include <stdlib.h>

#include "kinds.h"
#include "model_fields.h"
#include "model_rule.h"

static const char *const fields[] = { "nets", "allowedEgressDomains", NULL };

static void networkset_free(void *spec)
{
    struct tby_networkset *s = spec;

    if (!s)
        return;
    tby_cidr_list_clear(&s->nets);
    free(s);
}

static int networkset_decode_spec(struct tby_dec *d, const json_t *spec,
                                  const struct tby_resource *res, void *out)
{
    struct tby_networkset *s = out;
    int r = tby_dec_known_fields(d, spec, fields);

    (void)res;
    if (r == 0)
        r = tby_cidr_list_decode(d, spec, "nets", TBY_CIDR_MASK | TBY_CIDR_ALLOW_IP, &s->nets);
    if (r == 0 && tby_dec_get(spec, "allowedEgressDomains"))
        r = tby_dec_refuse_at(d, "allowedEgressDomains", "domain-based network sets are not "
                                                         "enforced by tabby (it matches "
                                                         "addresses, not DNS names)");
    return r < 0 ? r : 0;
}

static int networkset_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    return tby_kind_decode_spec(d, doc, res, sizeof(struct tby_networkset),
                                networkset_decode_spec);
}

static void networkset_encode(const struct tby_resource *res, json_t *doc)
{
    json_t *spec = json_object();

    tby_enc_take(spec, "nets", tby_cidr_list_encode(&res->spec.networkset->nets));
    json_object_set_new(doc, "spec", spec);
}

const struct tby_kind_ops tby_networkset_ops = {
    .decode = networkset_decode,
    .encode = networkset_encode,
    .free = networkset_free,
};
