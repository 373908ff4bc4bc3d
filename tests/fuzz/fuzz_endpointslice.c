/* fuzz_endpointslice.c — libFuzzer target for EndpointSlices as policy reads them
 * (endpointslice.h): arbitrary bytes read as an API object, decoded, encoded in the normal
 * form the k8s: store keeps, and that decoded again. Never a crash, a leak or undefined
 * behaviour; the normal form always decodes, to the same normal form. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/endpointslice.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *obj = json_loadb((const char *)data, size, 0, NULL), *norm, *again;
    struct tby_eps *eps = NULL, *back = NULL;
    struct tby_error err;
    char *a, *b;

    if (!obj)
        return 0;
    if (tby_eps_decode(obj, &eps, &err) < 0) {
        json_decref(obj);
        return 0;
    }
    norm = tby_eps_encode(eps);
    if (!norm || tby_eps_decode(norm, &back, &err) < 0)
        __builtin_trap(); /* the normal form must decode */
    again = tby_eps_encode(back);
    a = json_dumps(norm, JSON_SORT_KEYS);
    b = json_dumps(again, JSON_SORT_KEYS);
    if (!a || !b || strcmp(a, b) != 0)
        __builtin_trap(); /* and be a fixed point */
    free(a);
    free(b);
    json_decref(again);
    json_decref(norm);
    tby_eps_free(back);
    tby_eps_free(eps);
    json_decref(obj);
    return 0;
}
