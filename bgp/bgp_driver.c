/* bgp_driver.c — one node's BIRD kept in step with the datastore: gather, render, apply,
 * with backoff while BIRD is away and counters for status and metrics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tabby/bgp.h"
#include "tabby/bgp_driver.h"
#include "tabby/bird.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"

struct tby_bgp_driver {
    struct tby_store *store;
    const struct tby_syncer *syncer; /* the input's source when set, else the store */
    char *node;
    char *config_path;
    char *secrets_dir;
    struct tby_cidr *extra;
    size_t n_extra;
    struct tby_bird *bird;
    char *last_text;        /* the last text rendered, to say its warnings only once */
    struct tby_bgp_stats stats;
};

void tby_bgp_driver_free(struct tby_bgp_driver *d)
{
    if (!d)
        return;
    tby_bird_free(d->bird);
    free(d->last_text);
    free(d->node);
    free(d->config_path);
    free(d->secrets_dir);
    free(d->extra);
    free(d);
}

int tby_bgp_driver_new(struct tby_store *store, const struct tby_bgp_driver_config *cfg,
                       struct tby_bgp_driver **out, struct tby_error *err)
{
    _cleanup_(tby_bgp_driver_freep) struct tby_bgp_driver *d = calloc(1, sizeof(*d));
    int r;

    if (!cfg->node || !cfg->bird_socket || !cfg->bird_config || (!store && !cfg->syncer))
        return tby_error_set(err, -EINVAL, "BGP driver: node, BIRD socket, BIRD "
                             "configuration file and a datastore or syncer are required");
    if (!d || !(d->node = strdup(cfg->node)) ||
        !(d->config_path = strdup(cfg->bird_config)) ||
        !(d->secrets_dir = strdup(cfg->secrets_dir ? cfg->secrets_dir : TBY_BGP_SECRETS_DIR)))
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (cfg->n_extra_blocks) {
        d->extra = calloc(cfg->n_extra_blocks, sizeof(*d->extra));
        if (!d->extra)
            return tby_error_set(err, -ENOMEM, "out of memory");
        memcpy(d->extra, cfg->extra_blocks, cfg->n_extra_blocks * sizeof(*d->extra));
        d->n_extra = cfg->n_extra_blocks;
    }
    r = tby_bird_new(cfg->bird_socket, &d->bird, err);
    if (r < 0)
        return r;
    d->store = store;
    d->syncer = cfg->syncer;
    *out = TBY_STEAL(d);
    return 0;
}

uint64_t tby_bgp_driver_retry_at(const struct tby_bgp_driver *d)
{
    return tby_bird_retry_at(d->bird);
}

const struct tby_bgp_stats *tby_bgp_driver_stats(const struct tby_bgp_driver *d)
{
    return &d->stats;
}

static double mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* `talking`: the error came from talking to BIRD (not from gathering or rendering). A
 * transport failure always drops the connection, so a lost connection tells "BIRD is not
 * there (any more)" from "BIRD said no" or a file that could not be written. */
static int record(struct tby_bgp_driver *d, int r, bool talking, const struct tby_error *err)
{
    snprintf(d->stats.last_error, sizeof(d->stats.last_error), "%s", tby_error_str(err));
    if (talking && !tby_bird_connected(d->bird)) {
        d->stats.unreachable++;
        return -EAGAIN;
    }
    d->stats.failures++;
    tby_log(TBY_LOG_ERROR, "bgp", "BIRD configuration not applied node=%s error=\"%s\"",
            d->node, tby_error_str(err));
    return r;
}

/* Gathers and renders; warnings are logged when the text is new (so a missing secret is
 * said once, not on every sync). */
static int render(struct tby_bgp_driver *d, char **text, size_t *len, struct tby_error *err)
{
    bool is_new;
    _cleanup_(tby_bgp_input_clear) struct tby_bgp_input in = { 0 };
    int r = d->syncer
                ? tby_bgp_gather_from_syncer(d->syncer, d->node, d->extra, d->n_extra,
                                             tby_bgp_secret_from_dir, d->secrets_dir, &in, err)
                : tby_bgp_gather_from_store(d->store, d->node, d->extra, d->n_extra,
                                            tby_bgp_secret_from_dir, d->secrets_dir, &in, err);

    if (r == 0)
        r = tby_bgp_render(&in, text, len, err);
    if (r < 0)
        return r;
    d->stats.peers = in.n_peers;
    d->stats.blocks = in.n_blocks;
    d->stats.warnings = in.warnings.n;
    is_new = !d->last_text || strcmp(d->last_text, *text) != 0;
    for (size_t i = 0; is_new && i < in.warnings.n; i++)
        tby_log(TBY_LOG_WARNING, "bgp", "%s node=%s", in.warnings.items[i], d->node);
    if (is_new) {
        free(d->last_text);
        d->last_text = strdup(*text); /* NULL only costs a repeated warning */
    }
    return 0;
}

int tby_bgp_driver_sync(struct tby_bgp_driver *d, uint64_t now_ms, bool *reloaded,
                        struct tby_error *err)
{
    _cleanup_free_ char *text = NULL;
    double start = mono_ms();
    bool changed = false;
    size_t len;
    int r;

    if (reloaded)
        *reloaded = false;
    r = tby_bird_ensure(d->bird, now_ms, err);
    if (r < 0)
        return record(d, r, true, err);
    r = render(d, &text, &len, err);
    if (r < 0)
        return record(d, r, false, err);
    d->stats.syncs++;
    r = tby_bird_apply(d->bird, d->config_path, text, len, &changed, err);
    if (r < 0)
        return record(d, r, true, err);
    d->stats.last_error[0] = '\0';
    if (!changed) {
        d->stats.unchanged++;
        return 0;
    }
    d->stats.reloads++;
    d->stats.last_apply_ms = mono_ms() - start;
    tby_log(TBY_LOG_INFO, "bgp", "BIRD reconfigured node=%s peers=%zu blocks=%zu ms=%.1f",
            d->node, d->stats.peers, d->stats.blocks, d->stats.last_apply_ms);
    if (reloaded)
        *reloaded = true;
    return 0;
}
