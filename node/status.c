/* status.c — what tabby-node says on /status: one JSON object for `tabbyctl node diagnose`
 * and for people with curl. The core says who the node is, whether it is ready and why
 * not, where its datastore, BIRD and pid file are, and how the datastore answers; each
 * part with a status hook adds an object of its own under "parts". Parts may read the
 * kernel to compare what they programmed with what is there (policy reads its table
 * back); nothing here changes anything.
 *
 * {"node": "n1", "ready": true, "reason": "", "degraded": "",
 *  "settings": {"store": …, "backend": "bird", "bird_socket": …, "bird_config": …,
 *               "secrets_dir": …, "pid_file": …},
 *  "datastore": {"online": true, "in_sync": true, "error": ""},
 *  "parts": {"policy": {…}, "routes": {…}, "bgp": {…}}}
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "node.h"

#define READY_PREFIX "degraded: "

static int put(json_t *obj, const char *key, json_t *value)
{
    return json_object_set_new(obj, key, value) == 0 ? 0 : -ENOMEM;
}

static json_t *settings(const struct node *n)
{
    static const struct {
        const char *key;
        enum node_setting setting;
    } shown[] = {
        { "store", NODE_STORE },
        { "bird_socket", NODE_BIRD_SOCKET },
        { "bird_config", NODE_BIRD_CONFIG },
        { "secrets_dir", NODE_SECRETS_DIR },
        { "pid_file", NODE_PID_FILE },
    };
    json_t *obj = json_object();

    if (!obj || put(obj, "backend", json_string(node_backend_name(n->cfg.backend))) < 0) {
        json_decref(obj);
        return NULL;
    }
    for (size_t i = 0; i < TBY_ARRAY_SIZE(shown); i++) {
        const char *v = n->cfg.v[shown[i].setting];

        if (put(obj, shown[i].key, v ? json_string(v) : json_null()) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *datastore(const struct node *n)
{
    const char *error = n->syncer ? tby_syncer_stats(n->syncer)->last_error : "file missing";

    return json_pack("{s:b, s:b, s:s}", "online", n->syncer && tby_syncer_online(n->syncer),
                     "in_sync", n->syncer && tby_syncer_in_sync(n->syncer), "error", error);
}

static json_t *parts(struct node *n)
{
    _cleanup_json_ json_t *all = json_object();

    if (!all)
        return NULL;
    for (size_t i = 0; i < n->n_parts; i++) {
        json_t *mine;

        if (!n->state[i] || !n->parts[i]->status)
            continue;
        if (!(mine = json_object()) || put(all, n->parts[i]->name, mine) < 0 ||
            n->parts[i]->status(n->state[i], n, mine) < 0)
            return NULL;
    }
    return TBY_STEAL(all);
}

json_t *node_status(struct node *n)
{
    _cleanup_json_ json_t *out = json_object();
    char why[512];
    bool ready = node_ready(n, why, sizeof(why));
    bool degraded = ready && strncmp(why, READY_PREFIX, strlen(READY_PREFIX)) == 0;

    if (!out || put(out, "node", json_string(n->name ? n->name : "")) < 0 ||
        put(out, "ready", json_boolean(ready)) < 0 ||
        put(out, "reason", json_string(ready ? "" : why)) < 0 ||
        put(out, "degraded", json_string(degraded ? why + strlen(READY_PREFIX) : "")) < 0 ||
        put(out, "settings", settings(n)) < 0 || put(out, "datastore", datastore(n)) < 0 ||
        put(out, "parts", parts(n)) < 0)
        return NULL;
    return TBY_STEAL(out);
}

/* ---- denied flows ------------------------------------------------------------------------ */

const char *node_deny_rule(const struct node *n, const char *id, const char **tier)
{
    const char *rule = NULL;

    *tier = NULL;
    for (size_t i = 0; !rule && i < n->n_parts; i++)
        if (n->state[i] && n->parts[i]->deny_rule)
            rule = n->parts[i]->deny_rule(n->state[i], id, tier);
    return rule;
}

json_t *node_flows(struct node *n, uint64_t since, bool *none)
{
    *none = true;
    for (size_t i = 0; i < n->n_parts; i++) {
        json_t *o;

        if (!n->state[i] || !n->parts[i]->flows)
            continue;
        *none = false;
        o = n->parts[i]->flows(n->state[i], since);
        if (o && json_object_set_new(o, "node", json_string(n->name ? n->name : "")) < 0) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    return NULL;
}
