/* fuzz_kube_watch.c — libFuzzer target for watch streams: the bytes after the first are
 * fed to the splitter in pieces whose sizes the first byte chooses, each object is read
 * as a watch event and applied to a reflector's known objects. Any two cuttings of the
 * same bytes must give the same objects; bad input an error, never a crash, a leak or
 * undefined behaviour. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/kube_watch.h"
#include "kube_known.h"

struct run {
    struct kube_known known;
    struct tby_kube_changes changes;
    uint64_t hash; /* of every object handed out, in order */
    int values;
};

static int on_value(json_t *value, void *ctx, struct tby_error *err)
{
    struct run *r = ctx;
    struct tby_kube_event ev;
    char *text = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);

    for (const char *p = text; p && *p; p++)
        r->hash = (r->hash ^ (unsigned char)*p) * 1099511628211ull;
    free(text);
    r->values++;
    if (tby_kube_event_decode(value, &ev, err) == 0) {
        if (ev.type == TBY_KUBE_EVENT_ERROR)
            (void)tby_kube_status_is_expired(ev.object);
        else if (kube_known_event(&r->known, &ev, 0, &r->changes) < 0)
            __builtin_trap(); /* only memory can fail here */
    }
    return 0;
}

/* Feeds data in pieces of 1 + (step % 17) bytes (all at once when step is 0). */
static int feed(const char *data, size_t size, unsigned step, struct run *r)
{
    struct tby_kube_splitter sp;
    struct tby_error err;
    int rc = 0;

    memset(r, 0, sizeof(*r));
    r->hash = 1469598103934665603ull;
    kube_known_init(&r->known);
    tby_kube_splitter_init(&sp, 1 << 16);
    for (size_t at = 0; at < size && rc == 0;) {
        size_t n = step ? 1 + step % 17 : size;

        if (n > size - at)
            n = size - at;
        rc = tby_kube_splitter_feed(&sp, data + at, n, on_value, r, &err);
        at += n;
    }
    tby_kube_splitter_clear(&sp);
    kube_known_clear(&r->known);
    tby_kube_changes_clear(&r->changes);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run whole, cut;
    int a, b;

    if (size < 1)
        return 0;
    a = feed((const char *)data + 1, size - 1, 0, &whole);
    b = feed((const char *)data + 1, size - 1, data[0] | 1u, &cut);
    /* An error may come at a different object count only if it is an error in both. */
    if ((a == 0) != (b == 0) || (a == 0 && (whole.hash != cut.hash || whole.values != cut.values)))
        __builtin_trap();
    return 0;
}
