/* felix.c — the datastore's layer of tabby-node's settings, a part (node.h): the
 * FelixConfigurations "default" and "node.<this node>", as calico-node's felix reads them,
 * applied as they change, without a restart.
 *
 * A setting given to tabby-node (a flag, the environment, the config file) wins, as
 * calico-node's environment does; otherwise the node's FelixConfiguration, then the
 * default one, then tabby-node's default. What each field sets:
 *   logSeverityScreen                  the log level (Trace and Debug: debug; Fatal: error)
 *   healthEnabled, healthPort, healthHost
 *                                      TABBY_HEALTH_PORT (false: 0, no server), _HOST
 *   prometheusMetricsEnabled, prometheusMetricsPort (9091), prometheusMetricsHost ("": all)
 *                                      TABBY_METRICS_PORT (disabled: 0), TABBY_METRICS_HOST
 *   routeRefreshInterval               the routes' read-back interval
 *   nftablesRefreshInterval (else iptablesRefreshInterval)
 *                                      the table's read-back interval
 * (TABBY_RESYNC_INTERVAL, when given, sets both read-backs.) FELIX_<FIELD> variables
 * (any case, as Felix takes them: FELIX_LOGSEVERITYSCREEN=info) set the same fields and
 * beat both FelixConfigurations, as Felix's environment beats its datastore; booleans,
 * numbers and intervals in seconds are written as Felix reads them, and checked at start
 * as a FelixConfiguration is at apply. The other fields a
 * FelixConfiguration may hold are refused at apply, or skipped when Calico wrote them
 * (model_felixconfig.c). The part owns that layer of n->cfg: the parts read the settings
 * from there as they run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "node.h"

#define CALICO_METRICS_PORT 9091

struct node_felix {
    struct node *n;
    char *own_name;                         /* "node.<this node>" */
    struct tby_resource *def, *own;         /* copies; NULL: none */
    struct tby_resource *env;               /* the FELIX_* variables; NULL: none */
    char *base[NODE_SETTING_COUNT];         /* the values before any FelixConfiguration */
};

/* The settings this part may set. */
static const enum node_setting layered[] = { NODE_LOG_LEVEL, NODE_HEALTH_PORT,
                                             NODE_HEALTH_HOST, NODE_METRICS_PORT,
                                             NODE_METRICS_HOST };

static void felix_stop(void *state)
{
    struct node_felix *f = state;

    if (!f)
        return;
    tby_resource_free(f->def);
    tby_resource_free(f->own);
    tby_resource_free(f->env);
    for (size_t i = 0; i < NODE_SETTING_COUNT; i++)
        free(f->base[i]);
    free(f->own_name);
    free(f);
}

static void apply(struct node_felix *f);

static int felix_start(struct node *n, void **state, struct tby_error *err)
{
    struct node_felix *f = calloc(1, sizeof(*f));
    bool oom = !f || asprintf(&f->own_name, "node.%s", n->name) < 0;

    for (size_t i = 0; !oom && i < TBY_ARRAY_SIZE(layered); i++)
        oom = !(f->base[layered[i]] = strdup(n->cfg.v[layered[i]]));
    if (oom) {
        felix_stop(f);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    f->n = n;
    if (node_felix_env(environ, &f->env, err) < 0) {
        felix_stop(f);
        return -EINVAL;
    }
    *state = f;
    if (f->env)
        apply(f);
    return 0;
}

/* ---- the layer ------------------------------------------------------------------------- */

static const struct tby_felixconfig *spec_of(const struct tby_resource *res)
{
    return res ? res->spec.felixconfig : NULL;
}

/* The layers, first the one that wins: the FELIX_* variables, the node's
 * FelixConfiguration, the default one (NULL: absent). */
#define LAYERS 3
static void layers(const struct node_felix *f, const struct tby_felixconfig *l[LAYERS])
{
    l[0] = spec_of(f->env);
    l[1] = spec_of(f->own);
    l[2] = spec_of(f->def);
}

/* The first layer whose bool at `off` (a has_* field) is set, or NULL. */
static const struct tby_felixconfig *first_with(const struct tby_felixconfig *const *l,
                                                size_t off)
{
    for (size_t i = 0; i < LAYERS; i++)
        if (l[i] && *(const bool *)((const char *)l[i] + off))
            return l[i];
    return NULL;
}
#define FIRST(l, has) first_with(l, offsetof(struct tby_felixconfig, has))

/* The first layer's string at `off` (health_host, metrics_host), or NULL. */
static const char *first_string(const struct tby_felixconfig *const *l, size_t off)
{
    for (size_t i = 0; i < LAYERS; i++)
        if (l[i] && *(char *const *)((const char *)l[i] + off))
            return *(char *const *)((const char *)l[i] + off);
    return NULL;
}

static const char *severity_level(enum tby_felix_severity s)
{
    switch (s) {
    case TBY_FELIX_SEVERITY_TRACE:
    case TBY_FELIX_SEVERITY_DEBUG: return "debug";
    case TBY_FELIX_SEVERITY_INFO: return "info";
    case TBY_FELIX_SEVERITY_WARNING: return "warning";
    default: return "error";
    }
}

static const char *host_address(const char *host, const char *fallback)
{
    if (!host)
        return fallback;
    if (strcmp(host, "localhost") == 0)
        return "127.0.0.1";
    return *host ? host : "0.0.0.0";
}

/* What the layers say for each layered setting ("": nothing). */
static void wanted(const struct node_felix *f, char vals[][64])
{
    const struct tby_felixconfig *l[LAYERS], *health, *port, *metrics, *mport;
    enum tby_felix_severity sev = TBY_FELIX_SEVERITY_UNSET;
    const char *host;

    layers(f, l);
    for (size_t i = 0; i < NODE_SETTING_COUNT; i++)
        vals[i][0] = '\0';
    for (size_t i = 0; i < LAYERS && !sev; i++)
        sev = l[i] ? l[i]->log_severity : sev;
    if (sev)
        snprintf(vals[NODE_LOG_LEVEL], 64, "%s", severity_level(sev));
    health = FIRST(l, has_health_enabled);
    port = FIRST(l, has_health_port);
    if (health && !health->health_enabled)
        snprintf(vals[NODE_HEALTH_PORT], 64, "0");
    else if (port)
        snprintf(vals[NODE_HEALTH_PORT], 64, "%u", port->health_port);
    if ((host = first_string(l, offsetof(struct tby_felixconfig, health_host))))
        snprintf(vals[NODE_HEALTH_HOST], 64, "%s", host_address(host, NULL));
    metrics = FIRST(l, has_metrics_enabled);
    mport = FIRST(l, has_metrics_port);
    if (metrics)
        snprintf(vals[NODE_METRICS_PORT], 64, "%u",
                 !metrics->metrics_enabled ? 0u : mport ? mport->metrics_port
                                                        : CALICO_METRICS_PORT);
    if ((host = first_string(l, offsetof(struct tby_felixconfig, metrics_host))))
        snprintf(vals[NODE_METRICS_HOST], 64, "%s", host_address(host, NULL));
}

/* A read-back interval in seconds from the layers' fields, or -1. */
static int interval_s(const struct node_felix *f, bool route)
{
    const struct tby_felixconfig *l[LAYERS];

    layers(f, l);
    for (size_t i = 0; i < LAYERS; i++) {
        const struct tby_felixconfig *c = l[i];

        if (!c)
            continue;
        if (route && c->has_route_refresh)
            return (int)((c->route_refresh_ms + 999) / 1000);
        if (!route && c->has_nftables_refresh)
            return (int)((c->nftables_refresh_ms + 999) / 1000);
        if (!route && c->has_iptables_refresh)
            return (int)((c->iptables_refresh_ms + 999) / 1000);
    }
    return -1;
}

static void apply_dataplane(struct node_felix *f)
{
    const struct tby_felix_settings *dp = &f->n->cfg.dp;
    const struct tby_felixconfig *l[LAYERS];
    char nat[TBY_IP_STRLEN] = "";

    layers(f, l);
    if (!tby_felix_settings_merge(l, LAYERS, &f->n->cfg.dp))
        return;
    if (dp->has_nat_address)
        tby_ip_format(&dp->nat_address, nat);
    tby_log(TBY_LOG_INFO, "felix", "dataplane settings generation=%llu vxlan_vni=%u "
            "vxlan_port=%u vxlan_mtu=%u vxlan_mtu6=%u ipip_mtu=%u nat_address=%s ipv6=%s "
            "interface_prefix=%s failsafe_in=%zu failsafe_out=%zu",
            (unsigned long long)dp->generation, dp->vxlan_vni, dp->vxlan_port,
            dp->vxlan_mtu[0], dp->vxlan_mtu[1], dp->ipip_mtu, nat[0] ? nat : "masquerade",
            dp->ipv6 ? "true" : "false", dp->interface_prefix, dp->n_failsafe[0],
            dp->n_failsafe[1]);
}

static void apply(struct node_felix *f)
{
    struct node_config *cfg = &f->n->cfg;
    char vals[NODE_SETTING_COUNT][64];
    int policy_s, route_s;

    wanted(f, vals);
    for (size_t i = 0; i < TBY_ARRAY_SIZE(layered); i++) {
        enum node_setting s = layered[i];
        const char *want = vals[s][0] ? vals[s] : f->base[s];
        struct tby_error err = { 0 };

        if (cfg->explicit[s] || strcmp(cfg->v[s], want) == 0)
            continue;
        if (node_config_set(cfg, s, want, &err) < 0) {
            tby_log(TBY_LOG_ERROR, "felix", "FelixConfiguration not applied setting=%s "
                    "error=\"%s\"", node_config_name(s), tby_error_str(&err));
            continue;
        }
        tby_log(TBY_LOG_INFO, "felix", "setting %s %s=%s",
                vals[s][0] ? "from FELIX_* or FelixConfiguration" : "back to tabby-node's own",
                node_config_name(s), want);
    }
    policy_s = interval_s(f, false);
    route_s = interval_s(f, true);
    cfg->policy_resync_s = cfg->explicit[NODE_RESYNC] || policy_s < 0 ? cfg->resync_s
                                                                        : policy_s;
    cfg->route_resync_s = cfg->explicit[NODE_RESYNC] || route_s < 0 ? cfg->resync_s : route_s;
    tby_log_set_level(cfg->log_level);
    apply_dataplane(f);
}

static bool mine(const struct node_felix *f, const struct tby_resource *res,
                 struct tby_resource ***slot)
{
    if (res->info->kind != TBY_KIND_FELIXCONFIG)
        return false;
    if (strcmp(res->meta.name, "default") == 0)
        *slot = &((struct node_felix *)f)->def;
    else if (strcmp(res->meta.name, f->own_name) == 0)
        *slot = &((struct node_felix *)f)->own;
    else
        return false;
    return true;
}

static int on_update(void *ctx, const struct tby_resource *old, const struct tby_resource *res)
{
    struct node_felix *f = ctx;
    struct tby_resource **slot, *copy;

    (void)old;
    if (!mine(f, res, &slot))
        return 0;
    if (!(copy = tby_resource_copy(res)))
        return -ENOMEM;
    tby_resource_free(*slot);
    *slot = copy;
    apply(f);
    return 0;
}

static int on_remove(void *ctx, const struct tby_resource *old)
{
    struct node_felix *f = ctx;
    struct tby_resource **slot;

    if (!mine(f, old, &slot))
        return 0;
    tby_resource_free(*slot);
    *slot = NULL;
    apply(f);
    return 0;
}

static struct tby_syncer_consumer felix_consumer(void *state)
{
    return (struct tby_syncer_consumer){ .name = "felix", .ctx = state, .update = on_update,
                                         .remove = on_remove };
}

const struct node_part node_felix_part = {
    .name = "felix",
    .start = felix_start,
    .stop = felix_stop,
    .consumer = felix_consumer,
};
