/* fuzz_yaml.c — libFuzzer target for the YAML reader and writer: any input either loads
 * or fails with a message, and whatever loads writes out and reads back the same. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const json_t *docs, const json_t *value, int all)
{
    if (all)
        return json_equal(docs, value);
    return json_array_size(docs) == 1 && json_equal(json_array_get(docs, 0), value);
}

static void check_round_trip(const json_t *value, int flags, int all)
{
    struct tby_yaml_docs back = { 0 };
    struct tby_error err = { 0 };
    char *text = all ? tby_yaml_dump_all(value, flags, &err)
                     : tby_yaml_dump(value, flags, &err);

    if (!text) {
        fprintf(stderr, "dump of a loaded value failed: %s\n", err.msg);
        abort();
    }
    if (tby_yaml_load(text, strlen(text), "dumped", &back, &err) < 0) {
        fprintf(stderr, "reload failed: %s\n--- text:\n%s\n", err.msg, text);
        abort();
    }
    if (!same(back.docs, value, all)) {
        fprintf(stderr, "round trip changed the value\n--- text:\n%s\n", text);
        abort();
    }
    tby_yaml_docs_clear(&back);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Smaller caps than the defaults keep each run fast; the code paths are the same. */
    struct tby_yaml_limits limits = { .max_nodes = 20000, .max_depth = 64 };
    struct tby_yaml_docs docs = { 0 };
    struct tby_error err = { 0 };

    if (tby_yaml_load_limits((const char *)data, size, "fuzz", &limits, &docs, &err) < 0) {
        if (!err.msg[0] || err.code >= 0 || docs.docs)
            abort(); /* a failure always says why and leaves nothing behind */
        return 0;
    }
    for (size_t i = 0; i < json_array_size(docs.docs); i++)
        check_round_trip(json_array_get(docs.docs, i), i & 1 ? TBY_YAML_SORT_KEYS : 0, 0);
    check_round_trip(docs.docs, 0, 1);
    tby_yaml_docs_clear(&docs);
    return 0;
}
