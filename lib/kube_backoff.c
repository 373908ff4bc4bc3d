/* kube_backoff.c — pauses before a reflector connects again: from 0.8 s doubling to
 * 30 s, each jittered by ±25 % so that many clients cut off together do not come back
 * together. */
#include "tabby/kube_informer.h"

void tby_kube_backoff_init(struct tby_kube_backoff *b, uint64_t seed)
{
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
    tby_kube_backoff_reset(b);
}

void tby_kube_backoff_reset(struct tby_kube_backoff *b)
{
    b->base_ms = TBY_KUBE_BACKOFF_MIN_MS;
}

/* xorshift64*: enough for jitter, and no global state. */
uint64_t tby_kube_backoff_random(struct tby_kube_backoff *b, uint64_t n)
{
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return n ? (b->rng * 0x2545f4914f6cdd1dull) % n : 0;
}

long tby_kube_backoff_next(struct tby_kube_backoff *b)
{
    long base = b->base_ms;
    /* base * [0.75, 1.25] */
    long pause = base - base / 4 + (long)tby_kube_backoff_random(b, (uint64_t)(base / 2) + 1);

    b->base_ms = base * 2 > TBY_KUBE_BACKOFF_MAX_MS ? TBY_KUBE_BACKOFF_MAX_MS : base * 2;
    return pause > TBY_KUBE_BACKOFF_MAX_MS ? TBY_KUBE_BACKOFF_MAX_MS : pause;
}
