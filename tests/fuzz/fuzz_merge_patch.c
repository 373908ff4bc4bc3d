/* fuzz_merge_patch.c — libFuzzer target for JSON Merge Patch (tabbyctl patch): a target
 * document and a patch, each read as JSON. Beyond "no crash, no leak": applying the
 * patch a second time changes nothing (a merge patch is idempotent), and the patch's
 * own members with non-null values are in the result.
 *
 * Input: the target, "\n", the patch (either may be any JSON value). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/json_merge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
    if (ok)
        return;
    fprintf(stderr, "invariant broken: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *newline = memchr(data, '\n', size);
    json_t *target, *patch, *once;
    const char *key;
    json_t *value;
    int r;

    if (!newline)
        return 0;
    target = json_loadb((const char *)data, (size_t)(newline - data), JSON_DECODE_ANY, NULL);
    patch = json_loadb((const char *)newline + 1, size - (size_t)(newline - data) - 1,
                       JSON_DECODE_ANY, NULL);
    if (target && patch) {
        r = tby_json_merge_patch(&target, patch);
        check(r == 0 || r == -E2BIG, "fails only when too deep");
        if (r == 0) {
            once = json_deep_copy(target);
            check(tby_json_merge_patch(&target, patch) == 0, "second application succeeds");
            check(json_equal(once, target), "idempotent");
            if (json_is_object(patch)) {
                json_object_foreach(patch, key, value) {
                    if (!json_is_null(value) && !json_is_object(value))
                        check(json_equal(json_object_get(target, key), value),
                              "a member's value is the patch's");
                }
            }
            json_decref(once);
        }
    }
    json_decref(target);
    json_decref(patch);
    return 0;
}
