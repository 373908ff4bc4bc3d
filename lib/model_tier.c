/* model_tier.c — Tier: an ordered group of policies (spec.order, spec.defaultAction), as
 * Calico's. The tier "default" exists without being written; written, its order must
 * stay Calico's 1,000,000. What a tier does to traffic: docs/DISPATCH.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/validate.h"
#include "kinds.h"
#include "model_fields.h"

static const char *const fields[] = { "order", "defaultAction", NULL };
static const char *const action_names[] = { "Deny", "Pass", NULL };

static void tier_free(void *spec)
{
    free(spec);
}

static int tier_decode_spec(struct tby_dec *d, const json_t *spec,
                            const struct tby_resource *res, void *out)
{
    struct tby_tier *t = out;
    bool is_default = strcmp(res->meta.name, TBY_TIER_DEFAULT) == 0;
    int action = TBY_TIER_DENY;
    int r = tby_dec_known_fields(d, spec, fields);

    if (r == 0 && !tby_valid_dns1123_label(res->meta.name))
        return tby_dec_fail_at(d, "metadata.name", "\"%s\" is not a valid tier name "
                                                   "(lower-case letters, digits and '-', at "
                                                   "most 63)", res->meta.name);
    if (r == 0)
        r = tby_dec_order(d, spec, "order", &t->order, &t->has_order);
    if (r == 0 && is_default && t->has_order && t->order != TBY_TIER_DEFAULT_ORDER)
        r = tby_dec_fail_at(d, "order", "the default tier's order is 1000000, got %g",
                            t->order);
    if (r == 0 && is_default) {
        t->has_order = true;
        t->order = TBY_TIER_DEFAULT_ORDER;
    }
    if (r == 0)
        r = tby_dec_enum(d, spec, "defaultAction", action_names, &action);
    t->default_action = (enum tby_tier_action)action;
    return r < 0 ? r : 0;
}

static int tier_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    return tby_kind_decode_spec(d, doc, res, sizeof(struct tby_tier), tier_decode_spec);
}

static void tier_encode(const struct tby_resource *res, json_t *doc)
{
    const struct tby_tier *t = res->spec.tier;
    json_t *spec = json_object();

    tby_enc_order(spec, "order", t->has_order, t->order);
    tby_enc_string(spec, "defaultAction", action_names[t->default_action]);
    json_object_set_new(doc, "spec", spec);
}

const struct tby_kind_ops tby_tier_ops = {
    .decode = tier_decode,
    .encode = tier_encode,
    .free = tier_free,
};
