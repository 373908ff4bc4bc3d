/* fuzz_k8s_objects.c — libFuzzer target for the k8s: datastore's converters: arbitrary
 * bytes are read as an API object of one of the types the backend reads (the first byte
 * picks which), turned into tabby's entries, and each entry written back onto the object
 * as the request a put would send. Never a crash, a leak or undefined behaviour; an entry
 * the reader makes always has a key of its key space. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store_k8s.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes an entry back onto the object it came from, as a put compared on its revision. */
static void write_back(struct k8s_codec *codec, const struct k8s_entry *e, const json_t *obj)
{
    const char *ns = NULL, *name = NULL;
    size_t ns_len = 0;
    const struct k8s_map *m = k8s_map_of_key(e->key, &ns, &ns_len, &name);
    struct k8s_loc loc = { 0 };
    struct k8s_request req = { 0 };
    struct tby_error err;
    char *ns_copy;

    if (!m)
        __builtin_trap(); /* a reader made a key no key space holds */
    if (!m->conv->put || m->conv->access == K8S_READ_ONLY)
        return;
    ns_copy = ns ? strndup(ns, ns_len) : NULL;
    if (m->conv->locate(m, ns_copy, name, &loc, &err) == 0) {
        struct k8s_write w = { .key = e->key, .map = m, .loc = &loc, .value = e->value,
                               .raw = obj, .expect = e->rev };

        if (m->conv->put(codec, &w, &req, &err) == 0)
            k8s_request_clear(&req);
    }
    k8s_loc_clear(&loc);
    free(ns_copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n_types, n = 0, cap = 0;
    const struct tby_kube_resource *const *types = k8s_types(&n_types);
    const struct tby_kube_resource *res;
    struct k8s_entry *entries = NULL;
    struct k8s_codec codec;
    struct tby_error err;
    json_t *obj;

    if (size < 1)
        return 0;
    res = types[data[0] % n_types];
    obj = json_loadb((const char *)data + 1, size - 1, 0, NULL);
    if (!obj)
        return 0;
    k8s_codec_init(&codec);
    if (k8s_read_object(&codec, res, obj, NULL, &entries, &n, &cap, &err) >= 0)
        for (size_t i = 0; i < n; i++)
            write_back(&codec, &entries[i], obj);
    for (size_t i = 0; i < n; i++)
        k8s_entry_clear(&entries[i]);
    free(entries);
    k8s_codec_clear(&codec);
    json_decref(obj);
    return 0;
}
