/* model_ipreservation.c — IPReservation: addresses Calico's IPAM must not hand out when it
 * chooses them itself (ipam/ skips them when it picks an address or a block to claim;
 * an address asked for by name, as Calico's ipAddrs annotation does, is still given, as
 * Calico gives it). reservedCIDRs are CIDRs or bare addresses, as Calico's "cidrs"
 * validation takes them; each is kept as the network it names. */
#include <stdlib.h>

#include "kinds.h"
#include "model_rule.h"

static const char *const fields[] = { "reservedCIDRs", NULL };

static void ipreservation_free(void *spec)
{
    struct tby_ipreservation *s = spec;

    if (!s)
        return;
    tby_cidr_list_clear(&s->reserved_cidrs);
    free(s);
}

static int ipreservation_decode_spec(struct tby_dec *d, const json_t *spec,
                                     const struct tby_resource *res, void *out)
{
    struct tby_ipreservation *s = out;
    int r = tby_dec_known_fields(d, spec, fields);

    (void)res;
    if (r == 0)
        r = tby_cidr_list_decode(d, spec, "reservedCIDRs", TBY_CIDR_MASK | TBY_CIDR_ALLOW_IP,
                                 &s->reserved_cidrs);
    return r;
}

static int ipreservation_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    return tby_kind_decode_spec(d, doc, res, sizeof(struct tby_ipreservation),
                                ipreservation_decode_spec);
}

static void ipreservation_encode(const struct tby_resource *res, json_t *doc)
{
    json_t *spec = json_object();

    tby_enc_take(spec, "reservedCIDRs",
                 tby_cidr_list_encode(&res->spec.ipreservation->reserved_cidrs));
    json_object_set_new(doc, "spec", spec);
}

const struct tby_kind_ops tby_ipreservation_ops = {
    .decode = ipreservation_decode,
    .encode = ipreservation_encode,
    .free = ipreservation_free,
};
