/* store_k8s_service.c — EndpointSlices (discovery.k8s.io/v1) on k8s: as records under
 * TBY_EPS_PREFIX<ns>/<name> in the normal form of endpointslice.h, which rules naming a
 * Service match on (tabby-node's policy part keeps them through the syncer). Only what
 * policy reads is kept, so a slice's record changes only when its service, addresses or
 * ports do. None can be written: the cluster's EndpointSlice controller owns them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/endpointslice.h"
#include "tabby/log.h"
#include "store_k8s.h"

/* A slice the API server should not have taken (a field of the wrong type) is logged and
 * left out: it contributes no endpoint. */
static int eps_read(struct k8s_codec *c, const struct k8s_map *m,
                    const struct tby_kube_resource *res, const json_t *obj,
                    struct k8s_entry *out, struct tby_error *err)
{
    _cleanup_(tby_eps_freep) struct tby_eps *eps = NULL;
    struct tby_error why = { 0 };
    int r;

    (void)c;
    (void)res;
    r = tby_eps_decode(obj, &eps, &why);
    if (r == -ENOMEM)
        return tby_error_set(err, r, "out of memory");
    if (r < 0) {
        tby_log(TBY_LOG_WARNING, "k8s", "EndpointSlice left out error=\"%s\"",
                tby_error_str(&why));
        return K8S_SKIP;
    }
    r = k8s_key_of_object(m, eps->namespace, eps->name, &out->key);
    if (r == -ENOMEM)
        return tby_error_set(err, r, "out of memory");
    if (r == 0)
        r = k8s_obj_rev(obj, &out->rev, err);
    if (r == 0 && !(out->value = tby_eps_encode(eps)))
        r = tby_error_set(err, -ENOMEM, "out of memory");
    if (r != 0)
        k8s_entry_clear(out);
    return r;
}

const struct k8s_conv k8s_conv_endpointslice = {
    .access = K8S_READ_ONLY,
    .refusal = "EndpointSlices belong to the cluster's EndpointSlice controller",
    .locate = k8s_locate_object,
    .read = eps_read,
};
