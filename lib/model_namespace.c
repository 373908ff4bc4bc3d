/* model_namespace.c — Kubernetes Namespace (v1): tabby reads only its labels, which the
 * envelope decodes; spec and status (finalizers, phase) are accepted and ignored. */
#include <errno.h>
#include <stdlib.h>

#include "kinds.h"

static int namespace_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    const json_t *spec;
    int r = tby_kind_spec(d, doc, &spec);

    if (r < 0)
        return r;
    res->spec.ns = calloc(1, sizeof(*res->spec.ns));
    return res->spec.ns ? 0 : tby_error_set(d->err, -ENOMEM, "out of memory");
}

static void namespace_encode(const struct tby_resource *res, json_t *doc)
{
    (void)res;
    (void)doc;
}

const struct tby_kind_ops tby_namespace_ops = {
    .decode = namespace_decode,
    .encode = namespace_encode,
    .free = free,
};
