/* fuzz_kube_status.c — libFuzzer target for the Kubernetes API's answers: arbitrary bytes
 * are read as a Status (an error for the caller) and as a List page whose items a
 * reflector then diffs against the previous page's. Never a crash, a leak or undefined
 * behaviour; a Status never maps to success. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tabby/kube.h"
#include "kube_client.h"
#include "kube_known.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct tby_error err;
    struct kube_known known;
    struct tby_kube_changes changes = { 0 };
    json_t *items = json_array();
    char *rv = NULL, *cont = NULL;
    long code = size ? 400 + data[0] % 200 : 500;

    if (tby_kube_status_error(&err, "pods default/web", code, text, size) >= 0)
        __builtin_trap();
    if (tby_kube_list_decode(text, size, items, &rv, &cont, &err) == 0) {
        kube_known_init(&known);
        /* Twice: the second relist of the same items must change nothing. */
        if (kube_known_relist(&known, items, 0, &changes, &err) == 0) {
            tby_kube_changes_clear(&changes);
            if (kube_known_relist(&known, items, 0, &changes, &err) < 0 || changes.n != 0)
                __builtin_trap();
        }
        for (size_t i = 0; i < json_array_size(items); i++)
            (void)kube_fill_type(json_array_get(items, i), &tby_kube_pods);
        tby_kube_changes_clear(&changes);
        kube_known_clear(&known);
    }
    free(rv);
    free(cont);
    json_decref(items);
    return 0;
}
