/* felix_env.c — the FELIX_* variables as a FelixConfiguration (node_config.h): FELIX_ and
 * a field's name in any case, as Felix matches its environment, the value written as Felix
 * reads it (booleans, numbers, intervals in seconds; the rest as text), each checked as a
 * FelixConfiguration is at apply, so that the message names the variable. The felix part
 * (felix.c) lays the result over the datastore's FelixConfigurations. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "tabby/cleanup.h"
#include "tabby/model.h"
#include "tabby/resource.h"
#include "node_config.h"

/* How Felix reads the fields that are not strings. */
enum env_type { ENV_STRING, ENV_BOOL, ENV_INT, ENV_SECONDS, ENV_PROTO_PORTS };

static const struct {
    const char *field;
    enum env_type type;
} env_types[] = {
    { "healthEnabled", ENV_BOOL }, { "prometheusMetricsEnabled", ENV_BOOL },
    { "bpfEnabled", ENV_BOOL }, { "ipv6Support", ENV_BOOL }, { "ipipEnabled", ENV_BOOL },
    { "vxlanEnabled", ENV_BOOL }, { "healthPort", ENV_INT }, { "prometheusMetricsPort", ENV_INT },
    { "vxlanVNI", ENV_INT }, { "vxlanPort", ENV_INT }, { "routeRefreshInterval", ENV_SECONDS },
    { "nftablesRefreshInterval", ENV_SECONDS }, { "iptablesRefreshInterval", ENV_SECONDS },
    { "reportingInterval", ENV_SECONDS }, { "failsafeInboundHostPorts", ENV_PROTO_PORTS },
    { "failsafeOutboundHostPorts", ENV_PROTO_PORTS },
};

static const char *const env_wants[] = {
    [ENV_STRING] = "", [ENV_BOOL] = "true or false", [ENV_INT] = "a number",
    [ENV_SECONDS] = "seconds, as Felix reads it",
    [ENV_PROTO_PORTS] = "a list such as tcp:22,udp:68 (or none), as Felix reads it",
};

static enum env_type env_type_of(const char *field)
{
    for (size_t i = 0; i < TBY_ARRAY_SIZE(env_types); i++)
        if (strcmp(env_types[i].field, field) == 0)
            return env_types[i].type;
    return ENV_STRING;
}

/* Felix's "tcp:22,udp:68" (an entry "proto:net:port" keeps its net, which the
 * FelixConfiguration check refuses), "none" or "" for no port: a list of ProtoPorts. */
static json_t *proto_ports(const char *text)
{
    _cleanup_free_ char *copy = strdup(text);
    _cleanup_json_ json_t *list = json_array();
    char *save = NULL;

    if (!copy || !list)
        return NULL;
    if (strcasecmp(text, "none") == 0)
        return TBY_STEAL(list);
    for (char *item = strtok_r(copy, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
        char *first = strchr(item, ':'), *last = strrchr(item, ':'), *end;
        long port;

        if (!first)
            return NULL;
        *first = '\0';
        port = strtol(last + 1, &end, 10);
        if (end == last + 1 || *end || port < 0 || port > 65535)
            return NULL;
        *last = '\0';
        if (json_array_append_new(list, json_pack("{s:s, s:i}", "protocol", item, "port",
                                                  (int)port)) < 0 ||
            (first != last && json_object_set_new(json_array_get(list, json_array_size(list) -
                                                                           1),
                                                  "net", json_string(first + 1)) < 0))
            return NULL;
    }
    return TBY_STEAL(list);
}

/* The variable's value as the field's JSON, or NULL when it is not of the field's type. */
static json_t *env_value(enum env_type type, const char *text)
{
    char *end;

    switch (type) {
    case ENV_BOOL: {
        bool b;

        return node_config_bool(text, &b) == 0 ? json_boolean(b) : NULL;
    }
    case ENV_INT: {
        long long v = strtoll(text, &end, 10);

        return end != text && !*end ? json_integer(v) : NULL;
    }
    case ENV_SECONDS: {
        double v = strtod(text, &end);
        char ms[32];

        if (end == text || *end || !(v >= 0 && v < 1e12))
            return NULL;
        snprintf(ms, sizeof(ms), "%.0fms", v * 1000);
        return json_string(ms);
    }
    case ENV_PROTO_PORTS:
        return proto_ports(text);
    default:
        return json_string(text);
    }
}

/* spec as the FelixConfiguration "default" (the name is not what is checked). */
static int decode_spec(json_t *spec, struct tby_resource **out, struct tby_error *err)
{
    _cleanup_json_ json_t *doc = json_pack("{s:s, s:s, s:{s:s}, s:O}", "apiVersion",
                                           "projectcalico.org/v3", "kind",
                                           "FelixConfiguration", "metadata", "name", "default",
                                           "spec", spec);

    if (!doc)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return tby_resource_decode(doc, out, err);
}

int node_felix_env(char **envp, struct tby_resource **out, struct tby_error *err)
{
    _cleanup_json_ json_t *spec = json_object();

    *out = NULL;
    if (!spec)
        return tby_error_set(err, -ENOMEM, "out of memory");
    for (char **e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '='), *field;
        _cleanup_json_ json_t *one = NULL;
        struct tby_resource *res = NULL;
        char name[128];
        json_t *value;
        int r;

        if (strncasecmp(*e, "FELIX_", 6) != 0 || !eq || eq - *e >= (ptrdiff_t)sizeof(name))
            continue;
        snprintf(name, sizeof(name), "%.*s", (int)(eq - *e - 6), *e + 6);
        if (!(field = tby_felixconfig_field(name)))
            return tby_error_set(err, -EINVAL, "FELIX_%s: not a setting of Felix's that a "
                                 "FelixConfiguration holds", name);
        if (!(value = env_value(env_type_of(field), eq + 1)))
            return tby_error_set(err, -EINVAL, "FELIX_%s: \"%s\": %s must be %s", name,
                                 eq + 1, field, env_wants[env_type_of(field)]);
        one = json_pack("{s:o}", field, value);
        if (!one || json_object_set(spec, field, value) < 0)
            return tby_error_set(err, -ENOMEM, "out of memory");
        /* one at a time, so that the message names the variable */
        r = decode_spec(one, &res, err);
        tby_resource_free(res);
        if (r < 0)
            return tby_error_prefix(err, "FELIX_%s=%s", name, eq + 1);
    }
    return json_object_size(spec) ? decode_spec(spec, out, err) : 0;
}
