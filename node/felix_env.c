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
enum env_type { ENV_STRING, ENV_BOOL, ENV_INT, ENV_SECONDS, ENV_PORTS };

static const struct {
    const char *field;
    enum env_type type;
} env_types[] = {
    { "healthEnabled", ENV_BOOL }, { "prometheusMetricsEnabled", ENV_BOOL },
    { "bpfEnabled", ENV_BOOL }, { "ipv6Support", ENV_BOOL }, { "ipipEnabled", ENV_BOOL },
    { "vxlanEnabled", ENV_BOOL }, { "healthPort", ENV_INT }, { "prometheusMetricsPort", ENV_INT },
    { "vxlanVNI", ENV_INT }, { "vxlanPort", ENV_INT }, { "routeRefreshInterval", ENV_SECONDS },
    { "nftablesRefreshInterval", ENV_SECONDS }, { "iptablesRefreshInterval", ENV_SECONDS },
    { "reportingInterval", ENV_SECONDS }, { "vxlanMTU", ENV_INT }, { "vxlanMTUV6", ENV_INT },
    { "ipipMTU", ENV_INT }, { "failsafeInboundHostPorts", ENV_PORTS },
    { "failsafeOutboundHostPorts", ENV_PORTS },
};

/* Felix's own (v1) names where they differ from the field's. */
static const struct {
    const char *env;
    const char *field;
} env_aliases[] = {
    { "IPINIPMTU", "ipipMTU" }, { "IPINIPENABLED", "ipipEnabled" },
};

static const char *const env_wants[] = {
    [ENV_STRING] = "", [ENV_BOOL] = "true or false", [ENV_INT] = "a number",
    [ENV_SECONDS] = "seconds, as Felix reads it",
    [ENV_PORTS] = "a list of [protocol:][net:]port (tcp:22,udp:68) or none",
};

static enum env_type env_type_of(const char *field)
{
    for (size_t i = 0; i < TBY_ARRAY_SIZE(env_types); i++)
        if (strcmp(env_types[i].field, field) == 0)
            return env_types[i].type;
    return ENV_STRING;
}

/* One "[protocol:][net:]port" of Felix's port lists ("[fd00::/8]" for an IPv6 net) as a
 * failsafe port's JSON; the values are checked as the field's when it decodes. */
static json_t *env_port(char *item)
{
    char *net = NULL, *proto = "tcp", *port = item, *close, *colon;

    if (*item == '[' || strstr(item, ":[")) {
        char *open = strchr(item, '[');

        if (!(close = strstr(open, "]:")))
            return NULL;
        *close = '\0';
        net = open + 1;
        port = close + 2;
        if (open != item) {
            open[-1] = '\0';
            proto = item;
        }
    } else if ((colon = strchr(item, ':'))) {
        *colon = '\0';
        proto = item;
        port = colon + 1;
        if ((colon = strchr(port, ':'))) {
            *colon = '\0';
            net = port;
            port = colon + 1;
        }
    }
    char *end;
    long v = strtol(port, &end, 10);

    if (end == port || *end)
        return NULL;
    return net ? json_pack("{s:s, s:I, s:s}", "protocol", proto, "port", (json_int_t)v, "net", net)
               : json_pack("{s:s, s:I}", "protocol", proto, "port", (json_int_t)v);
}

static json_t *env_ports(const char *text)
{
    _cleanup_free_ char *copy = strdup(text);
    json_t *list = json_array();
    char *save = NULL;

    if (!copy || !list || strcasecmp(text, "none") == 0)
        return list;
    for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        json_t *one;

        while (*p == ' ')
            p++;
        if (!*p)
            continue;
        if (!(one = env_port(p)) || json_array_append_new(list, one) < 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
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
    case ENV_PORTS:
        return env_ports(text);
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
        field = tby_felixconfig_field(name);
        for (size_t i = 0; !field && i < TBY_ARRAY_SIZE(env_aliases); i++)
            if (strcasecmp(env_aliases[i].env, name) == 0)
                field = env_aliases[i].field;
        if (!field)
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
