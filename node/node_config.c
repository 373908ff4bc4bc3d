/* node_config.c — tabby-node's settings, the way calico-node takes them: environment
 * variables (Calico's names where Calico has one), the same keys in a YAML config file,
 * and command line flags; a flag beats the environment, which beats the file, which beats
 * the default. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/net.h"
#include "tabby/settings.h"
#include "tabby/yaml.h"
#include "default_pool.h"
#include "node_config.h"

struct setting {
    const char *env;          /* also the config file's key */
    const char *flag;         /* the long option */
    const char *def;          /* NULL: unset */
    const char *help;
};

/* Indexed by enum node_setting. */
static const struct setting settings[NODE_SETTING_COUNT] = {
    [NODE_NODENAME] = { "NODENAME", "node", NULL, "this node's name (default: the host name)" },
    [NODE_STORE] = { "TABBY_STORE", "store", NULL,
                     "the datastore URI (default: as DATASTORE_TYPE says, else tabbyctl's)" },
    [NODE_DATASTORE_TYPE] = { "DATASTORE_TYPE", "datastore-type", NULL,
                              "kubernetes (the Kubernetes API: k8s:) or etcdv3 (etcd: from "
                              "ETCD_ENDPOINTS), as calico-node takes it" },
    [NODE_KUBECONFIG] = { "KUBECONFIG", "kubeconfig", NULL,
                          "the kubeconfig for DATASTORE_TYPE=kubernetes (default: in-cluster, "
                          "then ~/.kube/config)" },
    [NODE_IP] = { "IP", "ip", "autodetect",
                  "IPv4 address: autodetect, none, or ADDRESS/PREFIX" },
    [NODE_IP_METHOD] = { "IP_AUTODETECTION_METHOD", "ip-autodetection-method", "first-found",
                         "first-found, interface=RE, skip-interface=RE, can-reach=ADDR, "
                         "cidr=CIDR" },
    [NODE_IP6] = { "IP6", "ip6", "none", "IPv6 address: autodetect, none, or ADDRESS/PREFIX" },
    [NODE_IP6_METHOD] = { "IP6_AUTODETECTION_METHOD", "ip6-autodetection-method",
                          "first-found", "as IP_AUTODETECTION_METHOD, for IPv6" },
    [NODE_AS] = { "AS", "as", NULL, "this node's AS number (default: the cluster's)" },
    [NODE_BACKEND] = { "TABBY_NETWORKING_BACKEND", "networking-backend", "bird",
                       "bird (BGP through BIRD, and VXLAN), vxlan (no BIRD), none (policy "
                       "only); also CALICO_NETWORKING_BACKEND" },
    [NODE_BIRD_SOCKET] = { "TABBY_BIRD_SOCKET", "bird-socket", "/run/bird/bird.ctl",
                           "BIRD's control socket" },
    [NODE_BIRD_CONFIG] = { "TABBY_BIRD_CONFIG", "bird-config", "/etc/bird/bird.conf",
                           "the file BIRD was started with (-c)" },
    [NODE_SECRETS_DIR] = { "TABBY_SECRETS_DIR", "secrets-dir", "/etc/tabby/secrets",
                           "BGPPeer passwords, laid out as a mounted Secret" },
    [NODE_HEALTH_PORT] = { "TABBY_HEALTH_PORT", "health-port", "9099",
                           "health and metrics HTTP port (0: off)" },
    [NODE_HEALTH_HOST] = { "TABBY_HEALTH_HOST", "health-host", "127.0.0.1",
                           "address the HTTP server listens on" },
    [NODE_METRICS_PORT] = { "TABBY_METRICS_PORT", "metrics-port", "0",
                            "a second HTTP port for /metrics alone (0: none)" },
    [NODE_METRICS_HOST] = { "TABBY_METRICS_HOST", "metrics-host", "0.0.0.0",
                            "address the metrics port listens on" },
    [NODE_LOG_LEVEL] = { "TABBY_LOG_LEVEL", "log-level", "info",
                         "error, warning, info or debug" },
    [NODE_RESYNC] = { "TABBY_RESYNC_INTERVAL", "resync", "300",
                      "seconds between read-backs of the kernel state (0: never)" },
    [NODE_AUTODETECT_INTERVAL] = { "TABBY_AUTODETECT_INTERVAL", "autodetect-interval", "60",
                                   "seconds between checks of the node's addresses" },
    [NODE_IPAM_GC_INTERVAL] = { "TABBY_IPAM_GC_INTERVAL", "ipam-gc-interval", "300",
                                "seconds between IPAM clean-ups (0: never)" },
    [NODE_PID_FILE] = { "TABBY_PID_FILE", "pid-file", "/run/tabby/tabby-node.pid",
                        "where tabbyctl node status finds the pid (\"\": none)" },
    [NODE_CNI_KUBECONFIG] = { "TABBY_CNI_KUBECONFIG", "cni-kubeconfig", NULL,
                              "the CNI plugins' kubeconfig (install-cni's) whose token to "
                              "renew, in a pod (default: none)" },
    [NODE_CNI_ACCOUNT] = { "TABBY_CNI_SERVICE_ACCOUNT", "cni-service-account",
                           "tabby-cni-plugin", "the plugins' ServiceAccount, in this pod's "
                           "namespace" },
    [NODE_CNI_TOKEN_SECONDS] = { "TABBY_CNI_TOKEN_SECONDS", "cni-token-seconds", "86400",
                                 "the life of the plugins' token" },
    [NODE_SA_DIR] = { "TABBY_SERVICEACCOUNT_DIR", "serviceaccount-dir",
                      "/var/run/secrets/kubernetes.io/serviceaccount",
                      "this pod's service account files" },
    [NODE_NODENAME_FILE] = { "CALICO_NODENAME_FILE", "nodename-file", NODE_NODENAME_FILE_DEFAULT,
                             "where the node's name is written for the CNI plugin's "
                             "nodename_file (\"\": not written)" },
    [NODE_CLUSTER_TYPE] = { "CLUSTER_TYPE", "cluster-type", NULL,
                            "on k8s: what ClusterInformation's clusterType gains (k8s,bgp); "
                            "kdd is added" },
    [NODE_NO_DEFAULT_POOLS] = { "NO_DEFAULT_POOLS", "no-default-pools", "false",
                                "true: never create the default pools" },
    [NODE_POOL4_CIDR] = { "CALICO_IPV4POOL_CIDR", "ipv4pool-cidr", NULL,
                          "the default IPv4 pool, made at start when there is no IPv4 pool "
                          "(none: no pool; default: 192.168.0.0/16, or 172.16-31.0.0/16 if "
                          "an address of the node is in it)" },
    [NODE_POOL4_IPIP] = { "CALICO_IPV4POOL_IPIP", "ipv4pool-ipip", "never",
                          "its ipipMode: always, cross-subnet, never (or off)" },
    [NODE_POOL4_VXLAN] = { "CALICO_IPV4POOL_VXLAN", "ipv4pool-vxlan", "never",
                           "its vxlanMode: always, cross-subnet, never (or off)" },
    [NODE_POOL4_NAT] = { "CALICO_IPV4POOL_NAT_OUTGOING", "ipv4pool-nat-outgoing", "true",
                         "its natOutgoing" },
    [NODE_POOL4_BLOCK_SIZE] = { "CALICO_IPV4POOL_BLOCK_SIZE", "ipv4pool-block-size", "26",
                                "its blockSize (20 to 32)" },
    [NODE_POOL4_NODE_SELECTOR] = { "CALICO_IPV4POOL_NODE_SELECTOR", "ipv4pool-node-selector",
                                   "all()", "its nodeSelector" },
    [NODE_POOL4_NO_BGP_EXPORT] = { "CALICO_IPV4POOL_DISABLE_BGP_EXPORT",
                                   "ipv4pool-disable-bgp-export", "false",
                                   "its disableBGPExport" },
    [NODE_POOL6_CIDR] = { "CALICO_IPV6POOL_CIDR", "ipv6pool-cidr", NULL,
                          "the default IPv6 pool, made at start when there is no IPv6 pool "
                          "and the kernel has IPv6 (none: no pool; default: a random ULA "
                          "/48)" },
    [NODE_POOL6_VXLAN] = { "CALICO_IPV6POOL_VXLAN", "ipv6pool-vxlan", "never",
                           "its vxlanMode (IPv6 pools have no IPIP)" },
    [NODE_POOL6_NAT] = { "CALICO_IPV6POOL_NAT_OUTGOING", "ipv6pool-nat-outgoing", "false",
                         "its natOutgoing" },
    [NODE_POOL6_BLOCK_SIZE] = { "CALICO_IPV6POOL_BLOCK_SIZE", "ipv6pool-block-size", "122",
                                "its blockSize (116 to 128)" },
    [NODE_POOL6_NODE_SELECTOR] = { "CALICO_IPV6POOL_NODE_SELECTOR", "ipv6pool-node-selector",
                                   "all()", "its nodeSelector" },
    [NODE_POOL6_NO_BGP_EXPORT] = { "CALICO_IPV6POOL_DISABLE_BGP_EXPORT",
                                   "ipv6pool-disable-bgp-export", "false",
                                   "its disableBGPExport" },
};

void node_config_usage(FILE *out)
{
    fputs("Usage: tabby-node [OPTIONS]\n"
          "The per-node daemon: keeps table inet tabby, the node's routes and BIRD in step\n"
          "with the datastore, registers the node, and serves health and metrics.\n\n"
          "Every setting is a flag, an environment variable, or a key of the config file\n"
          "(YAML, keys as the variables; --config or $TABBY_NODE_CONFIG, default\n"
          TBY_NODE_CONFIG_PATH "). Flags beat variables, which beat the file.\n\n", out);
    for (int i = 0; i < NODE_SETTING_COUNT; i++)
        fprintf(out, "  --%-26s $%s\n  %28s %s%s%s%s\n", settings[i].flag, settings[i].env, "",
                settings[i].help, settings[i].def ? " [" : "",
                settings[i].def ? settings[i].def : "", settings[i].def ? "]" : "");
    fputs("\n  --config FILE                the config file\n"
          "  --dump                       print the table tabby would program and exit\n"
          "  --cleanup                    delete table inet tabby and exit\n"
          "  --uninstall                  remove all of tabby from this node and exit: the\n"
          "                               table, its routes and devices, BIRD's routes\n"
          "                               (protocol bird; once BIRD is gone), and\n"
          "                               (install-cni's settings) its CNI files\n"
          "  --allow-root-netns           run in the host's network namespace (refused "
          "otherwise)\n"
          "  -h, --help\n\n"
          "SIGTERM and SIGINT stop it and leave the kernel state in place: a restart reads it\n"
          "back and programs only the difference.\n", out);
}

/* ---- sources -------------------------------------------------------------------------- */

static int set_value(struct node_config *c, int i, const char *value)
{
    char *copy = strdup(value);

    if (!copy)
        return -ENOMEM;
    free(c->v[i]);
    c->v[i] = copy;
    return 0;
}

static int setting_by_env(const char *name)
{
    for (int i = 0; i < NODE_SETTING_COUNT; i++)
        if (strcmp(settings[i].env, name) == 0)
            return i;
    return -1;
}

/* A scalar of the config file as text: strings, numbers and booleans. */
static int scalar_text(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        snprintf(buf, size, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    else
        return -EINVAL;
    return 0;
}

static int apply_file_doc(struct node_config *c, const char *path, const json_t *doc,
                          struct tby_error *err)
{
    const char *key;
    const json_t *value;
    char buf[PATH_MAX];

    if (!json_is_object(doc))
        return tby_error_set(err, -EINVAL, "%s: must be a mapping of settings", path);
    json_object_foreach((json_t *)doc, key, value) {
        int i = setting_by_env(key);

        if (i < 0)
            return tby_error_set(err, -EINVAL, "%s: %s: unknown setting", path, key);
        if (scalar_text(value, buf, sizeof(buf)) < 0)
            return tby_error_set(err, -EINVAL, "%s: %s: must be a string or a number", path,
                                 key);
        if (set_value(c, i, buf) < 0)
            return tby_error_set(err, -ENOMEM, "out of memory");
        c->explicit[i] = true;
    }
    return 0;
}

/* Settings are a few lines; anything this large is not a config file. */
#define CONFIG_FILE_MAX (1 << 20)

/* A missing file is fine unless it was named explicitly. */
static int read_file(struct node_config *c, const char *path, bool named, struct tby_error *err)
{
    _cleanup_free_ char *text = NULL;
    struct tby_yaml_docs docs = { 0 };
    size_t len = 0;
    int r = tby_read_file(path, CONFIG_FILE_MAX, &text, &len);

    if (r == -ENOENT && !named)
        return 0;
    if (r == -EFBIG)
        return tby_error_set(err, r, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
    if (r < 0)
        return tby_error_set(err, r, "%s: %s", path, strerror(-r));
    r = tby_yaml_load(text, len, path, &docs, err);
    if (r == 0 && json_array_size(docs.docs) > 0)
        r = apply_file_doc(c, path, json_array_get(docs.docs, 0), err);
    tby_yaml_docs_clear(&docs);
    return r;
}

/* calico-node's names of settings tabby names its own way, read where tabby's is not set
 * (so that a DaemonSet configured as calico-node's works unchanged). */
static const struct {
    const char *env;
    enum node_setting setting;
} calico_names[] = {
    { "CALICO_NETWORKING_BACKEND", NODE_BACKEND },
};

static int read_env(struct node_config *c)
{
    for (int i = 0; i < NODE_SETTING_COUNT; i++) {
        const char *v = getenv(settings[i].env);

        if (v && *v && set_value(c, i, v) < 0)
            return -ENOMEM;
        c->explicit[i] = c->explicit[i] || (v && *v);
    }
    for (size_t i = 0; i < TBY_ARRAY_SIZE(calico_names); i++) {
        const char *tabby = getenv(settings[calico_names[i].setting].env);
        const char *v = getenv(calico_names[i].env);

        if ((!tabby || !*tabby) && v && *v && set_value(c, calico_names[i].setting, v) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* ---- flags ------------------------------------------------------------------------------ */

enum { OPT_CONFIG = 1000, OPT_DUMP, OPT_CLEANUP, OPT_UNINSTALL, OPT_ROOT };

static void long_options(struct option *o)
{
    int n = 0;

    for (int i = 0; i < NODE_SETTING_COUNT; i++)
        o[n++] = (struct option){ settings[i].flag, required_argument, NULL, i };
    o[n++] = (struct option){ "config", required_argument, NULL, OPT_CONFIG };
    o[n++] = (struct option){ "dump", no_argument, NULL, OPT_DUMP };
    o[n++] = (struct option){ "cleanup", no_argument, NULL, OPT_CLEANUP };
    o[n++] = (struct option){ "uninstall", no_argument, NULL, OPT_UNINSTALL };
    o[n++] = (struct option){ "allow-root-netns", no_argument, NULL, OPT_ROOT };
    o[n++] = (struct option){ "help", no_argument, NULL, 'h' };
    o[n] = (struct option){ 0 };
}

/* Flags are read twice: first for --config (the file goes under the environment), then
 * for the rest (over it). */
static int read_flags(struct node_config *c, int argc, char **argv, bool settings_too,
                      struct tby_error *err)
{
    struct option opts[NODE_SETTING_COUNT + 7];
    int ch;

    long_options(opts);
    optind = 0; /* glibc: start afresh (1 would keep what an earlier parse left behind) */
    opterr = settings_too;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch >= 0 && ch < NODE_SETTING_COUNT) {
            if (settings_too && set_value(c, ch, optarg) < 0)
                return tby_error_set(err, -ENOMEM, "out of memory");
            c->explicit[ch] = c->explicit[ch] || settings_too;
            continue;
        }
        switch (ch) {
        case OPT_CONFIG: c->config_path = optarg; break;
        case OPT_DUMP: c->dump = true; break;
        case OPT_CLEANUP: c->cleanup = true; break;
        case OPT_UNINSTALL: c->uninstall = true; break;
        case OPT_ROOT: c->allow_root_netns = true; break;
        case 'h': c->help = true; break;
        default:
            if (settings_too)
                return tby_error_set(err, -EINVAL, "unknown option (see --help)");
        }
    }
    if (settings_too && optind < argc)
        return tby_error_set(err, -EINVAL, "unexpected argument \"%s\"", argv[optind]);
    return 0;
}

/* ---- typed values ------------------------------------------------------------------------- */

static int parse_int(const char *name, const char *text, long min, long max, int *out,
                     struct tby_error *err)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return tby_error_set(err, -EINVAL, "%s: \"%s\" is not a number from %ld to %ld", name,
                             text, min, max);
    *out = (int)v;
    return 0;
}

static int parse_backend(const char *text, enum node_backend *out, struct tby_error *err)
{
    static const char *const names[] = { [NODE_BACKEND_BIRD] = "bird",
                                         [NODE_BACKEND_VXLAN] = "vxlan",
                                         [NODE_BACKEND_NONE] = "none" };

    for (size_t i = 0; i < TBY_ARRAY_SIZE(names); i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = (enum node_backend)i;
            return 0;
        }
    }
    return tby_error_set(err, -EINVAL, "TABBY_NETWORKING_BACKEND: \"%s\": must be bird, "
                         "vxlan or none", text);
}

/* IP / IP6: autodetect, none, or the address with its subnet. */
static int check_ip(const char *name, const char *text, int family, struct tby_error *err)
{
    struct tby_cidr cidr;

    if (strcmp(text, "autodetect") == 0 || strcmp(text, "none") == 0)
        return 0;
    if (strchr(text, '/') && tby_cidr_parse(text, 0, &cidr, NULL) == 0 &&
        cidr.ip.family == family)
        return 0;
    return tby_error_set(err, -EINVAL, "%s: \"%s\": must be autodetect, none, or an IPv%d "
                         "address with its prefix length (like %s)", name, text, family,
                         family == 4 ? "10.0.0.5/24" : "fd00::5/64");
}

static int parse_as(const char *text, struct node_config *c, struct tby_error *err)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno || end == text || *end || v == 0 || v > UINT32_MAX)
        return tby_error_set(err, -EINVAL, "AS: \"%s\" is not an AS number (1 to 4294967295)",
                             text);
    c->has_as = true;
    c->as_number = (uint32_t)v;
    return 0;
}

static int typed(struct node_config *c, struct tby_error *err)
{
    int r = parse_backend(c->v[NODE_BACKEND], &c->backend, err);

    if (r == 0)
        r = parse_int("TABBY_HEALTH_PORT", c->v[NODE_HEALTH_PORT], 0, 65535, &c->health_port,
                      err);
    if (r == 0)
        r = parse_int("TABBY_METRICS_PORT", c->v[NODE_METRICS_PORT], 0, 65535,
                      &c->metrics_port, err);
    if (r == 0)
        r = parse_int("TABBY_RESYNC_INTERVAL", c->v[NODE_RESYNC], 0, INT_MAX / 1000,
                      &c->resync_s, err);
    c->policy_resync_s = c->route_resync_s = c->resync_s;
    tby_felix_settings_defaults(&c->dp);
    if (r == 0)
        r = parse_int("TABBY_AUTODETECT_INTERVAL", c->v[NODE_AUTODETECT_INTERVAL], 1,
                      INT_MAX / 1000, &c->autodetect_interval_s, err);
    if (r == 0)
        r = parse_int("TABBY_IPAM_GC_INTERVAL", c->v[NODE_IPAM_GC_INTERVAL], 0,
                      INT_MAX / 1000, &c->ipam_gc_interval_s, err);
    if (r == 0)
        r = parse_int("TABBY_CNI_TOKEN_SECONDS", c->v[NODE_CNI_TOKEN_SECONDS], 10, INT_MAX,
                      &c->cni_token_seconds, err);
    if (r == 0 && tby_log_level_parse(c->v[NODE_LOG_LEVEL], &c->log_level) < 0)
        r = tby_error_set(err, -EINVAL, "TABBY_LOG_LEVEL: \"%s\": must be error, warning, "
                          "info or debug", c->v[NODE_LOG_LEVEL]);
    if (r == 0)
        r = check_ip("IP", c->v[NODE_IP], 4, err);
    if (r == 0)
        r = check_ip("IP6", c->v[NODE_IP6], 6, err);
    if (r == 0 && c->v[NODE_AS])
        r = parse_as(c->v[NODE_AS], c, err);
    if (r == 0)
        r = node_default_pool_config(c, err);
    return r;
}

/* The datastore calico-node's DATASTORE_TYPE (and KUBECONFIG, its first file) names, or
 * NULL (*uri) when it names none. TABBY_STORE, when given too, must agree. */
static int datastore_type(const struct node_config *c, char **uri, struct tby_error *err)
{
    const char *type = c->v[NODE_DATASTORE_TYPE], *store = c->v[NODE_STORE];
    const char *kubeconfig = c->v[NODE_KUBECONFIG] ? c->v[NODE_KUBECONFIG] : "";
    const char *scheme;

    *uri = NULL;
    if (!type || !*type)
        return 0;
    if (strcmp(type, "kubernetes") == 0)
        scheme = "k8s:";
    else if (strcmp(type, "etcdv3") == 0)
        scheme = "etcd:";
    else
        return tby_error_set(err, -EINVAL, "DATASTORE_TYPE: \"%s\": must be kubernetes or "
                             "etcdv3", type);
    if (store && strncmp(store, scheme, strlen(scheme)) != 0)
        return tby_error_set(err, -EINVAL, "DATASTORE_TYPE=%s but TABBY_STORE is %s: give "
                             "one of them", type, store);
    if (store)
        return 0;
    if (asprintf(uri, "%s%.*s", scheme, *scheme == 'k' ? (int)strcspn(kubeconfig, ":") : 0,
                 kubeconfig) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* NODENAME, else the host name; the datastore from TABBY_STORE, else DATASTORE_TYPE,
 * else tabbyctl's. */
static int fill_defaults(struct node_config *c, struct tby_error *err)
{
    char host[HOST_NAME_MAX + 1];
    char *uri = NULL;
    int r;

    for (int i = 0; i < NODE_SETTING_COUNT; i++)
        if (!c->v[i] && settings[i].def && set_value(c, i, settings[i].def) < 0)
            return tby_error_set(err, -ENOMEM, "out of memory");
    if (!c->v[NODE_NODENAME]) {
        if (gethostname(host, sizeof(host)) < 0)
            return tby_error_set(err, -errno, "no node name: set NODENAME or --node");
        host[sizeof(host) - 1] = '\0';
        if (set_value(c, NODE_NODENAME, host) < 0)
            return tby_error_set(err, -ENOMEM, "out of memory");
    }
    r = datastore_type(c, &uri, err);
    if (r < 0)
        return r;
    if (uri) {
        free(c->v[NODE_STORE]);
        c->v[NODE_STORE] = uri;
    }
    if (!c->v[NODE_STORE])
        return tby_settings_store_uri(&c->v[NODE_STORE], err);
    return 0;
}

int node_config_load(struct node_config *c, int argc, char **argv, struct tby_error *err)
{
    const char *env_path = getenv("TABBY_NODE_CONFIG");
    int r;

    memset(c, 0, sizeof(*c));
    r = read_flags(c, argc, argv, false, err);
    if (r == 0 && !c->config_path && env_path && *env_path)
        c->config_path = env_path;
    if (r == 0)
        r = read_file(c, c->config_path ? c->config_path : TBY_NODE_CONFIG_PATH,
                      c->config_path != NULL, err);
    if (r == 0 && read_env(c) < 0)
        r = tby_error_set(err, -ENOMEM, "out of memory");
    if (r == 0)
        r = read_flags(c, argc, argv, true, err);
    if (r == 0 && !c->help)
        r = fill_defaults(c, err);
    if (r == 0 && !c->help)
        r = typed(c, err);
    if (r == 0 && !c->help) {
        /* checked here, so that a bad one stops tabby-node before anything else */
        struct tby_resource *felix = NULL;

        r = node_felix_env(environ, &felix, err);
        tby_resource_free(felix);
    }
    return r;
}

int node_config_set(struct node_config *c, enum node_setting i, const char *value,
                    struct tby_error *err)
{
    struct node_config next = *c;
    char *was = c->v[i];
    int r;

    /* Checked on a copy, so that a bad value changes nothing. */
    next.v[i] = (char *)value;
    r = typed(&next, err);
    if (r < 0)
        return r;
    c->v[i] = strdup(value);
    if (!c->v[i]) {
        c->v[i] = was;
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    free(was);
    next.v[i] = c->v[i];
    *c = next;
    return 0;
}

int node_config_bool(const char *text, bool *out)
{
    static const char *const no[] = { "false", "f", "0", "no", "n" };
    static const char *const yes[] = { "true", "t", "1", "yes", "y" };

    for (size_t i = 0; i < TBY_ARRAY_SIZE(no); i++) {
        if (!strcasecmp(text, no[i]) || !strcasecmp(text, yes[i])) {
            *out = !strcasecmp(text, yes[i]);
            return 0;
        }
    }
    return -EINVAL;
}

const char *node_config_name(enum node_setting i)
{
    return settings[i].env;
}

void node_config_clear(struct node_config *c)
{
    for (int i = 0; i < NODE_SETTING_COUNT; i++)
        free(c->v[i]);
    memset(c, 0, sizeof(*c));
}

const char *node_backend_name(enum node_backend backend)
{
    return backend == NODE_BACKEND_BIRD ? "bird" : backend == NODE_BACKEND_VXLAN ? "vxlan"
                                                                                : "none";
}
