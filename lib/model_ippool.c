/* model_ippool.c — IPPool and IPAMConfiguration: decode, validate, default, encode. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "kinds.h"
#include "selector_check.h"

static const char *const encap_names[] = { "Never", "Always", "CrossSubnet", NULL };
static const char *const use_names[] = { "Workload", "Tunnel", "LoadBalancer", NULL };
static const char *const assignment_names[] = { "Automatic", "Manual", NULL };

static const char *const ippool_fields[] = {
    "cidr", "blockSize", "ipipMode", "vxlanMode", "natOutgoing", "disabled",
    "disableBGPExport", "nodeSelector", "allowedUses", "assignmentMode",
    "namespaceSelector", "ipip", "nat-outgoing", NULL
};

/* Calico's fields tabby does not enforce: refused, naming them and why. */
static const struct {
    const char *field;
    const char *why;
} ippool_refused[] = {
    { "namespaceSelector", "is not enforced by tabby: choosing pools by the pod's namespace "
                           "would change which addresses pods get" },
    { "ipip", "is Calico's API v1 form, not taken by tabby: use ipipMode" },
    { "nat-outgoing", "is Calico's API v1 form, not taken by tabby: use natOutgoing" },
};

static int refuse_calico_only(struct tby_dec *d, const json_t *spec)
{
    for (size_t i = 0; i < TBY_ARRAY_SIZE(ippool_refused); i++) {
        int r = tby_dec_get(spec, ippool_refused[i].field)
                    ? tby_dec_refuse_at(d, ippool_refused[i].field, "%s", ippool_refused[i].why)
                    : 0;

        if (r < 0)
            return r;
    }
    return 0;
}

static void ippool_free(void *spec)
{
    struct tby_ippool *p = spec;

    if (!p)
        return;
    free(p->node_selector);
    free(p);
}

static int decode_cidr(struct tby_dec *d, const json_t *spec, struct tby_ippool *p)
{
    _cleanup_free_ char *text = NULL;
    static const struct {
        const char *cidr;
        const char *what;
    } link_local[] = { { "169.254.0.0/16", "IPv4" }, { "fe80::/10", "IPv6" } };
    int r = tby_dec_string(d, spec, "cidr", true, &text);

    if (r < 0)
        return r;
    r = tby_cidr_parse(text, TBY_CIDR_STRICT, &p->cidr, d->err);
    if (r < 0) {
        char msg[TBY_ERROR_MAX];

        snprintf(msg, sizeof(msg), "%s", tby_error_str(d->err));
        return tby_dec_fail_at(d, "cidr", "%s", msg);
    }
    for (size_t i = 0; i < TBY_ARRAY_SIZE(link_local); i++) {
        struct tby_cidr ll;

        tby_cidr_parse(link_local[i].cidr, TBY_CIDR_STRICT, &ll, NULL);
        if (tby_cidr_overlaps(&ll, &p->cidr))
            return tby_dec_fail_at(d, "cidr", "%s overlaps the %s link-local range %s", text,
                                   link_local[i].what, link_local[i].cidr);
    }
    return 0;
}

static int decode_block_size(struct tby_dec *d, const json_t *spec, struct tby_ippool *p)
{
    bool v4 = p->cidr.ip.family == 4;
    int64_t size = v4 ? 26 : 122;
    int r = tby_dec_int(d, spec, "blockSize", v4 ? 20 : 116, v4 ? 32 : 128, &size, NULL);

    if (r < 0)
        return r;
    if (size < p->cidr.prefix_len)
        return tby_dec_fail_at(d, "blockSize",
                               "blocks of /%lld do not fit in the pool's /%u: the pool must "
                               "be at least as large as one block",
                               (long long)size, p->cidr.prefix_len);
    p->block_size = (int)size;
    return 0;
}

static int decode_modes(struct tby_dec *d, const json_t *spec, struct tby_ippool *p)
{
    int ipip = TBY_ENCAP_NEVER, vxlan = TBY_ENCAP_NEVER;
    int r = tby_dec_enum(d, spec, "ipipMode", encap_names, &ipip);

    if (r == 0)
        r = tby_dec_enum(d, spec, "vxlanMode", encap_names, &vxlan);
    if (r < 0)
        return r;
    if (ipip != TBY_ENCAP_NEVER && vxlan != TBY_ENCAP_NEVER)
        return tby_dec_fail_at(d, "vxlanMode",
                               "ipipMode and vxlanMode cannot both be enabled on one pool");
    if (ipip != TBY_ENCAP_NEVER && p->cidr.ip.family == 6)
        return tby_dec_fail_at(d, "ipipMode", "IPIP is not supported on an IPv6 pool");
    p->ipip_mode = (enum tby_encap_mode)ipip;
    p->vxlan_mode = (enum tby_encap_mode)vxlan;
    return 0;
}

static int decode_allowed_uses(struct tby_dec *d, const json_t *spec, struct tby_ippool *p)
{
    const json_t *uses, *item;
    size_t i, mark;
    int r = tby_dec_array(d, spec, "allowedUses", &uses);

    p->allowed_uses = TBY_POOL_USE_WORKLOAD | TBY_POOL_USE_TUNNEL;
    if (r < 0 || !uses)
        return r;
    p->allowed_uses = 0;
    mark = tby_dec_enter(d, "allowedUses");
    json_array_foreach(uses, i, item) {
        size_t m = tby_dec_enter_index(d, i);
        int use = 0;

        r = tby_dec_enum_value(d, item, use_names, &use);
        tby_dec_leave(d, m);
        if (r < 0)
            break;
        p->allowed_uses |= 1u << use;
    }
    tby_dec_leave(d, mark);
    if (r == 0 && (p->allowed_uses & TBY_POOL_USE_LOADBALANCER) &&
        p->allowed_uses != TBY_POOL_USE_LOADBALANCER)
        r = tby_dec_fail_at(d, "allowedUses",
                            "LoadBalancer cannot be combined with Workload or Tunnel");
    return r;
}

static int ippool_decode_spec(struct tby_dec *d, const json_t *spec, struct tby_ippool *p)
{
    int assignment = TBY_ASSIGN_AUTOMATIC;
    int r = tby_dec_known_fields(d, spec, ippool_fields);

    if (r == 0)
        r = refuse_calico_only(d, spec);
    if (r == 0)
        r = decode_cidr(d, spec, p);
    if (r == 0)
        r = decode_block_size(d, spec, p);
    if (r == 0)
        r = decode_modes(d, spec, p);
    if (r == 0)
        r = tby_dec_bool(d, spec, "natOutgoing", &p->nat_outgoing);
    if (r == 0)
        r = tby_dec_bool(d, spec, "disabled", &p->disabled);
    if (r == 0)
        r = tby_dec_bool(d, spec, "disableBGPExport", &p->disable_bgp_export);
    if (r == 0)
        r = tby_dec_string(d, spec, "nodeSelector", false, &p->node_selector);
    if (r == 0 && !p->node_selector && !(p->node_selector = strdup("all()")))
        r = tby_error_set(d->err, -ENOMEM, "out of memory");
    if (r == 0)
        r = tby_check_selector(d, "nodeSelector", p->node_selector);
    if (r == 0)
        r = decode_allowed_uses(d, spec, p);
    if (r == 0)
        r = tby_dec_enum(d, spec, "assignmentMode", assignment_names, &assignment);
    p->assignment_mode = (enum tby_assignment_mode)assignment;
    return r;
}

static int ippool_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    struct tby_ippool *p = calloc(1, sizeof(*p));
    const json_t *spec;
    size_t mark;
    int r;

    if (!p)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    r = tby_kind_spec(d, doc, &spec);
    mark = tby_dec_enter(d, "spec");
    if (r == 0)
        r = ippool_decode_spec(d, spec, p);
    tby_dec_leave(d, mark);
    if (r < 0) {
        ippool_free(p);
        return r;
    }
    res->spec.ippool = p;
    return 0;
}

static void ippool_encode(const struct tby_resource *res, json_t *doc)
{
    const struct tby_ippool *p = res->spec.ippool;
    json_t *spec = json_object();
    json_t *uses = json_array();
    char cidr[TBY_CIDR_STRLEN];

    tby_enc_string(spec, "cidr", tby_cidr_format(&p->cidr, cidr));
    tby_enc_int(spec, "blockSize", p->block_size);
    tby_enc_string(spec, "ipipMode", encap_names[p->ipip_mode]);
    tby_enc_string(spec, "vxlanMode", encap_names[p->vxlan_mode]);
    tby_enc_true(spec, "natOutgoing", p->nat_outgoing);
    tby_enc_true(spec, "disabled", p->disabled);
    tby_enc_true(spec, "disableBGPExport", p->disable_bgp_export);
    tby_enc_string(spec, "nodeSelector", p->node_selector);
    for (int i = 0; use_names[i]; i++)
        if (p->allowed_uses & (1u << i))
            json_array_append_new(uses, json_string(use_names[i]));
    tby_enc_take(spec, "allowedUses", uses);
    tby_enc_string(spec, "assignmentMode", assignment_names[p->assignment_mode]);
    json_object_set_new(doc, "spec", spec);
}

const struct tby_kind_ops tby_ippool_ops = {
    .decode = ippool_decode,
    .encode = ippool_encode,
    .free = ippool_free,
};

/* ---- IPAMConfiguration ---------------------------------------------------------------- */

static const char *const ipamconfig_fields[] = { "strictAffinity", "maxBlocksPerHost",
                                                 "autoAllocateBlocks",
                                                 "kubeVirtVMAddressPersistence", NULL };
static const char *const persistence_names[] = { "", "Enabled", "Disabled", NULL };

static int ipamconfig_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    struct tby_ipamconfig *c = calloc(1, sizeof(*c));
    int64_t max_blocks = 0;
    const json_t *spec;
    size_t mark;
    int r;

    if (!c)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    c->auto_allocate_blocks = true;
    if (strcmp(res->meta.name, "default") != 0) {
        free(c);
        return tby_dec_fail_at(d, "metadata.name",
                               "an IPAMConfiguration must be named \"default\", got \"%s\"",
                               res->meta.name);
    }
    r = tby_kind_spec(d, doc, &spec);
    mark = tby_dec_enter(d, "spec");
    if (r == 0)
        r = tby_dec_known_fields(d, spec, ipamconfig_fields);
    if (r == 0)
        r = tby_dec_bool(d, spec, "strictAffinity", &c->strict_affinity);
    if (r == 0)
        r = tby_dec_int(d, spec, "maxBlocksPerHost", 0, INT32_MAX, &max_blocks, NULL);
    if (r == 0)
        r = tby_dec_bool(d, spec, "autoAllocateBlocks", &c->auto_allocate_blocks);
    if (r == 0 && tby_dec_get(spec, "kubeVirtVMAddressPersistence") &&
        (r = tby_dec_enum(d, spec, "kubeVirtVMAddressPersistence", persistence_names + 1,
                          &c->kubevirt_persistence)) == 0)
        c->kubevirt_persistence++;
    tby_dec_leave(d, mark);
    if (r < 0) {
        free(c);
        return r;
    }
    c->max_blocks_per_host = (int)max_blocks;
    res->spec.ipamconfig = c;
    return 0;
}

static void ipamconfig_encode(const struct tby_resource *res, json_t *doc)
{
    const struct tby_ipamconfig *c = res->spec.ipamconfig;
    json_t *spec = json_object();

    tby_enc_bool(spec, "strictAffinity", c->strict_affinity);
    tby_enc_int(spec, "maxBlocksPerHost", c->max_blocks_per_host);
    tby_enc_bool(spec, "autoAllocateBlocks", c->auto_allocate_blocks);
    if (c->kubevirt_persistence)
        tby_enc_string(spec, "kubeVirtVMAddressPersistence",
                       persistence_names[c->kubevirt_persistence]);
    json_object_set_new(doc, "spec", spec);
}

static int ipamconfig_ignored(const struct tby_resource *res, struct tby_strv *out)
{
    if (!res->spec.ipamconfig->kubevirt_persistence)
        return 0;
    return tby_strv_push(out, "spec.kubeVirtVMAddressPersistence: accepted but not applied: "
                              "it tunes KubeVirt VMs' addresses, and tabby's IPAM has no "
                              "KubeVirt support");
}

const struct tby_kind_ops tby_ipamconfig_ops = {
    .decode = ipamconfig_decode,
    .encode = ipamconfig_encode,
    .free = free,
    .ignored = ipamconfig_ignored,
};
