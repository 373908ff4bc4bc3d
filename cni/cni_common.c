/* cni_common.c — reading a CNI call and writing its answer (see cni_common.h). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "cni_common.h"

#define MAX_CONF_BYTES (1 << 20)
#define VALID_ATTACHMENTS "cni.dev/valid-attachments"

static const char *const supported_versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
                                                  NULL };

int cni_fail(struct cni_failure *f, int code, const char *fmt, ...)
{
    va_list ap;

    f->code = code;
    va_start(ap, fmt);
    tby_error_setv(&f->err, -EINVAL, fmt, ap);
    va_end(ap);
    return -1;
}

static int code_of(int errnum)
{
    switch (errnum) {
    case -EAGAIN:
        return CNI_ERR_TRY_AGAIN;
    case -EINVAL:
        return CNI_ERR_INVALID_CONFIG;
    case -EIO:
        return CNI_ERR_IO;
    default:
        return CNI_ERR_ALLOCATION;
    }
}

int cni_fail_from(struct cni_failure *f, const struct tby_error *err)
{
    if (err->code == -EAGAIN)
        return cni_fail(f, CNI_ERR_TRY_AGAIN, "the datastore is unreachable, try again later: "
                        "%s", tby_error_str(err));
    return cni_fail(f, code_of(err->code), "%s", tby_error_str(err));
}

/* ---- versions ----------------------------------------------------------------------------- */

bool cni_version_supported(const char *version)
{
    for (int i = 0; version && supported_versions[i]; i++)
        if (strcmp(version, supported_versions[i]) == 0)
            return true;
    return false;
}

bool cni_version_at_least(const char *version, int major, int minor, int patch)
{
    int v[3] = { 0, 0, 0 };

    if (!version || sscanf(version, "%d.%d.%d", &v[0], &v[1], &v[2]) < 2)
        return false;
    if (v[0] != major)
        return v[0] > major;
    if (v[1] != minor)
        return v[1] > minor;
    return v[2] >= patch;
}

static const char *supported_list(char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (int i = 0; supported_versions[i] && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "",
                                supported_versions[i]);
    return buf;
}

/* ---- the environment -------------------------------------------------------------------- */

static const char *const command_names[] = { [CNI_ADD] = "ADD", [CNI_DEL] = "DEL",
                                              [CNI_CHECK] = "CHECK", [CNI_VERSION] = "VERSION",
                                              [CNI_GC] = "GC", [CNI_STATUS] = "STATUS" };

/* The spec version that brought each command, when later than the first we support. */
static const char *const command_since[] = { [CNI_CHECK] = "0.4.0", [CNI_GC] = "1.1.0",
                                             [CNI_STATUS] = "1.1.0" };

const char *cni_command_name(enum cni_command command)
{
    return command_names[command];
}

static int read_command(enum cni_command *out, struct cni_failure *f)
{
    const char *const *names = command_names;
    const char *cmd = getenv("CNI_COMMAND");

    if (!cmd || !*cmd)
        return cni_fail(f, CNI_ERR_INVALID_ENV, "CNI_COMMAND is not set");
    for (size_t i = 0; i < TBY_ARRAY_SIZE(command_names); i++) {
        if (strcmp(cmd, names[i]) == 0) {
            *out = (enum cni_command)i;
            return 0;
        }
    }
    return cni_fail(f, CNI_ERR_INVALID_ENV, "CNI_COMMAND \"%s\": must be ADD, DEL, CHECK, GC, "
                    "STATUS or VERSION", cmd);
}

/* The spec's form of a container ID: alphanumerics first, then also _ . and -. */
static bool container_id_valid(const char *id)
{
    if (!id || !((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') ||
                 (*id >= '0' && *id <= '9')))
        return false;
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
           strlen(id);
}

static int copy_env(const char *name, bool required, char **out, struct cni_failure *f)
{
    const char *value = getenv(name);

    if (!value || !*value) {
        *out = NULL;
        return required ? cni_fail(f, CNI_ERR_INVALID_ENV, "%s is not set", name) : 0;
    }
    *out = strdup(value);
    return *out ? 0 : cni_fail(f, CNI_ERR_IO, "out of memory");
}

/* Where a key of CNI_ARGS goes; NULL for one tabby does not read. */
static char **arg_slot(struct cni_args *a, const char *key)
{
    static const struct {
        const char *key;
        size_t offset;
    } keys[] = {
        { "K8S_POD_NAMESPACE", offsetof(struct cni_args, pod_namespace) },
        { "K8S_POD_NAME", offsetof(struct cni_args, pod_name) },
        { "K8S_POD_INFRA_CONTAINER_ID", offsetof(struct cni_args, infra_container_id) },
        { "K8S_POD_UID", offsetof(struct cni_args, pod_uid) },
        { "IP", offsetof(struct cni_args, ip) },
    };

    for (size_t i = 0; i < TBY_ARRAY_SIZE(keys); i++)
        if (strcmp(key, keys[i].key) == 0)
            return (char **)((char *)a + keys[i].offset);
    return NULL;
}

/* IgnoreUnknown's value, read as libcni reads it. */
static int ignore_unknown_value(const char *value, bool *out, struct cni_failure *f)
{
    if (strcmp(value, "1") == 0 || strcasecmp(value, "true") == 0)
        *out = true;
    else if (strcmp(value, "0") == 0 || strcasecmp(value, "false") == 0)
        *out = false;
    else
        return cni_fail(f, CNI_ERR_INVALID_ENV, "CNI_ARGS: IgnoreUnknown=%s: must be 1, true, "
                        "0 or false", value);
    return 0;
}

static int set_arg(struct cni_args *a, const char *key, const char *value, const char **unknown,
                   struct cni_failure *f)
{
    char **slot = arg_slot(a, key);

    if (strcmp(key, "IgnoreUnknown") == 0)
        return ignore_unknown_value(value, &a->ignore_unknown, f);
    if (!slot) {
        if (!*unknown)
            *unknown = key;
        return 0;
    }
    free(*slot);
    *slot = *value ? strdup(value) : NULL;
    return !*value || *slot ? 0 : cni_fail(f, CNI_ERR_IO, "out of memory");
}

static int read_args(struct cni_args *a, struct cni_failure *f)
{
    const char *env = getenv("CNI_ARGS"), *unknown = NULL;
    _cleanup_free_ char *copy = env ? strdup(env) : NULL;
    char *save = NULL;

    if (env && !copy)
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    for (char *pair = copy ? strtok_r(copy, ";", &save) : NULL; pair;
         pair = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(pair, '=');

        if (!eq)
            return cni_fail(f, CNI_ERR_INVALID_ENV, "CNI_ARGS: \"%s\" is not KEY=VALUE", pair);
        *eq = '\0';
        if (set_arg(a, pair, eq + 1, &unknown, f) < 0)
            return -1;
    }
    if (unknown && !a->ignore_unknown)
        return cni_fail(f, CNI_ERR_INVALID_ENV, "CNI_ARGS: unknown argument %s (tabby reads "
                        "K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID, "
                        "K8S_POD_UID and IP; IgnoreUnknown=1 lets others pass)", unknown);
    return 0;
}

static int read_env(struct cni_call *call, struct cni_failure *f)
{
    if (copy_env("CNI_CONTAINERID", true, &call->container_id, f) < 0 ||
        copy_env("CNI_IFNAME", true, &call->ifname, f) < 0 ||
        copy_env("CNI_NETNS", false, &call->netns, f) < 0)
        return -1;
    if (!container_id_valid(call->container_id))
        return cni_fail(f, CNI_ERR_INVALID_ENV, "CNI_CONTAINERID \"%s\": must be letters, "
                        "digits, '_', '.' and '-', starting with a letter or digit",
                        call->container_id);
    return read_args(&call->args, f);
}

/* ---- the configuration ------------------------------------------------------------------- */

static int read_all(FILE *in, struct tby_buf *text, struct cni_failure *f)
{
    int r = tby_buf_read_stream(text, in);

    if (r == -ENOMEM)
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    if (r < 0)
        return cni_fail(f, CNI_ERR_IO, "reading the network configuration from standard "
                        "input: %s", r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
    return 0;
}

static int parse_conf(struct cni_call *call, const char *text, size_t len,
                      struct cni_failure *f)
{
    json_error_t jerr;
    const json_t *version, *name;
    char list[64];

    call->conf = json_loadb(text, len, 0, &jerr);
    if (!json_is_object(call->conf))
        return cni_fail(f, CNI_ERR_DECODE, "failed to decode the network configuration: %s",
                        call->conf ? "not a JSON object" : jerr.text);
    version = json_object_get(call->conf, "cniVersion");
    if (!json_is_string(version))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "cniVersion: %s", version ? "must be a "
                        "string" : "missing from the network configuration");
    call->version = json_string_value(version);
    if (!cni_version_supported(call->version) && call->command != CNI_VERSION)
        return cni_fail(f, CNI_ERR_INCOMPATIBLE_VERSION, "incompatible CNI versions: the "
                        "configuration is %s, tabby supports %s", call->version,
                        supported_list(list, sizeof(list)));
    name = json_object_get(call->conf, "name");
    if (call->command != CNI_VERSION && !json_is_string(name))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "name: %s", name ? "must be a string"
                        : "missing from the network configuration");
    call->name = json_string_value(name);
    return 0;
}

static int check_command_version(const struct cni_call *call, struct cni_failure *f)
{
    const char *since = command_since[call->command];
    int v[3];

    if (!since || sscanf(since, "%d.%d.%d", &v[0], &v[1], &v[2]) != 3 ||
        cni_version_at_least(call->version, v[0], v[1], v[2]))
        return 0;
    return cni_fail(f, CNI_ERR_INCOMPATIBLE_VERSION, "%s needs cniVersion %s or later, the "
                    "configuration is %s", command_names[call->command], since, call->version);
}

/* GC's list of the attachments still in use; absent or null, none is (as the reference
 * plugins read it). A malformed list fails the call before anything is removed. */
static int read_valid_attachments(struct cni_call *call, struct cni_failure *f)
{
    const json_t *list = json_object_get(call->conf, VALID_ATTACHMENTS), *item;
    size_t i;

    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, VALID_ATTACHMENTS ": must be a list of "
                        "{\"containerID\", \"ifname\"}");
    call->valid = calloc(json_array_size(list) + 1, sizeof(*call->valid));
    if (!call->valid)
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    json_array_foreach(list, i, item) {
        const char *id = json_string_value(json_object_get(item, "containerID"));
        const char *ifname = json_string_value(json_object_get(item, "ifname"));

        if (!id || !*id || !ifname || !*ifname)
            return cni_fail(f, CNI_ERR_INVALID_CONFIG, VALID_ATTACHMENTS "[%zu]: must hold "
                            "the non-empty strings containerID and ifname", i);
        call->valid[call->n_valid++] = (struct cni_attachment){ id, ifname };
    }
    return 0;
}

int cni_call_read(FILE *in, struct cni_call *call, struct cni_failure *f)
{
    _cleanup_buf_ struct tby_buf text = { .max = MAX_CONF_BYTES };

    memset(call, 0, sizeof(*call));
    if (read_command(&call->command, f) < 0 || read_all(in, &text, f) < 0)
        return -1;
    if (call->command == CNI_VERSION && text.len == 0)
        return 0;
    if (parse_conf(call, text.data ? text.data : "", text.len, f) < 0)
        return -1;
    if (!(call->conf_text = tby_buf_steal(&text, &call->conf_len)))
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    switch (call->command) {
    case CNI_VERSION:
        return 0;
    case CNI_STATUS:
        return check_command_version(call, f);
    case CNI_GC:
        return check_command_version(call, f) < 0 ? -1 : read_valid_attachments(call, f);
    default:
        return check_command_version(call, f) < 0 ? -1 : read_env(call, f);
    }
}

bool cni_attachment_valid(const struct cni_call *call, const char *container_id,
                          const char *ifname)
{
    for (size_t i = 0; container_id && i < call->n_valid; i++)
        if (strcmp(call->valid[i].container_id, container_id) == 0 &&
            (!ifname || strcmp(call->valid[i].ifname, ifname) == 0))
            return true;
    return false;
}

void cni_call_clear(struct cni_call *call)
{
    free(call->container_id);
    free(call->netns);
    free(call->ifname);
    free(call->args.pod_namespace);
    free(call->args.pod_name);
    free(call->args.infra_container_id);
    free(call->args.pod_uid);
    free(call->args.ip);
    json_decref(call->conf);
    free(call->conf_text);
    free(call->valid);
    memset(call, 0, sizeof(*call));
}

/* ---- configuration values ------------------------------------------------------------------ */

const json_t *cni_ipam_conf(const struct cni_call *call)
{
    const json_t *ipam = json_object_get(call->conf, "ipam");

    return json_is_object(ipam) ? ipam : NULL;
}

int cni_conf_bool(const json_t *obj, const char *field, bool *out, struct cni_failure *f)
{
    const json_t *v = json_object_get(obj, field);
    const char *s = json_string_value(v);

    if (!v || json_is_null(v))
        return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (s && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)) {
        *out = strcmp(s, "true") == 0;
        return 0;
    }
    return cni_fail(f, CNI_ERR_INVALID_CONFIG, "ipam.%s: must be true or false", field);
}

int cni_conf_string(const json_t *obj, const char *field, const char **out,
                    struct cni_failure *f)
{
    const json_t *v = json_object_get(obj, field);

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || !*json_string_value(v))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s: must be a non-empty string", field);
    *out = json_string_value(v);
    return 0;
}

const json_t *cni_runtime_arg(const struct cni_call *call, const char *field)
{
    return json_object_get(json_object_get(json_object_get(call->conf, "args"), "cni"), field);
}

int cni_conf_at(const json_t *conf, const char *path, const json_t **out,
                struct cni_failure *f)
{
    const json_t *v = conf;
    const char *part = path;

    *out = NULL;
    for (;;) {
        size_t len = strcspn(part, ".");
        char key[64];

        if (len >= sizeof(key))
            return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s: path too long", path);
        memcpy(key, part, len);
        key[len] = '\0';
        v = json_object_get(v, key);
        if (!v || json_is_null(v))
            return 0;
        if (!part[len])
            break;
        if (!json_is_object(v))
            return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%.*s: must be an object",
                            (int)(part - path + len), path);
        part += len + 1;
    }
    *out = v;
    return 0;
}

int cni_conf_str(const json_t *conf, const char *path, const char **out,
                 struct cni_failure *f)
{
    const json_t *v;

    *out = NULL;
    if (cni_conf_at(conf, path, &v, f) < 0)
        return -1;
    if (v && !json_is_string(v))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s: must be a string", path);
    if (v && *json_string_value(v))
        *out = json_string_value(v);
    return 0;
}

int cni_conf_flag(const json_t *conf, const char *path, bool *out, struct cni_failure *f)
{
    const json_t *v;

    *out = false;
    if (cni_conf_at(conf, path, &v, f) < 0)
        return -1;
    if (v && !json_is_boolean(v))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s: must be true or false", path);
    *out = json_is_true(v);
    return 0;
}

/* ---- answers --------------------------------------------------------------------------------- */

json_t *cni_result_new(const char *version)
{
    return json_pack("{s:s, s:[], s:[], s:{}}", "cniVersion", version, "ips", "routes", "dns");
}

int cni_result_add_ip(json_t *result, const char *version, const struct tby_cidr *address,
                      const struct tby_ip *gateway)
{
    char cidr[TBY_CIDR_STRLEN], gw[TBY_IP_STRLEN];
    json_t *ip = json_pack("{s:s}", "address", tby_cidr_format(address, cidr));

    if (!ip)
        return -ENOMEM;
    /* Before 1.0.0 every entry said its family. */
    if (!cni_version_at_least(version, 1, 0, 0))
        json_object_set_new(ip, "version", json_string(address->ip.family == 6 ? "6" : "4"));
    if (gateway)
        json_object_set_new(ip, "gateway", json_string(tby_ip_format(gateway, gw)));
    return json_array_append_new(json_object_get(result, "ips"), ip) < 0 ? -ENOMEM : 0;
}

int cni_result_add_route(json_t *result, const char *dst, const char *gw)
{
    json_t *route = json_pack("{s:s}", "dst", dst);

    if (!route)
        return -ENOMEM;
    if (gw)
        json_object_set_new(route, "gw", json_string(gw));
    return json_array_append_new(json_object_get(result, "routes"), route) < 0 ? -ENOMEM : 0;
}

static int print_json(FILE *out, const json_t *doc)
{
    if (!doc || json_dumpf(doc, out, JSON_INDENT(2)) < 0)
        return 1;
    fputc('\n', out);
    return fflush(out) == 0 ? 0 : 1;
}

int cni_print_result(FILE *out, const json_t *result)
{
    return print_json(out, result);
}

int cni_print_version(FILE *out, const char *version)
{
    _cleanup_json_ json_t *doc = json_pack("{s:s, s:[]}", "cniVersion",
                                           cni_version_supported(version) ? version : "1.0.0",
                                           "supportedVersions");

    for (int i = 0; doc && supported_versions[i]; i++)
        json_array_append_new(json_object_get(doc, "supportedVersions"),
                              json_string(supported_versions[i]));
    return print_json(out, doc);
}

int cni_print_failure(FILE *out, const char *version, const struct cni_failure *f)
{
    _cleanup_json_ json_t *doc = json_pack("{s:s, s:i, s:s}", "cniVersion",
                                           cni_version_supported(version) ? version : "1.0.0",
                                           "code", f->code, "msg", tby_error_str(&f->err));

    print_json(out, doc);
    return 1;
}

/* ---- a plugin's main ---------------------------------------------------------------------- */

static int run_command(const struct cni_call *call, const struct cni_plugin_ops *ops,
                       void *plugin, struct cni_failure *f)
{
    if (ops->open(plugin, f) < 0)
        return -1;
    switch (call->command) {
    case CNI_ADD:
        return ops->add(plugin, f);
    case CNI_DEL:
        return ops->del(plugin, f);
    case CNI_CHECK:
        return ops->check(plugin, f);
    case CNI_GC:
        return ops->gc(plugin, f);
    case CNI_STATUS:
        return ops->status(plugin, f);
    default:
        return cni_fail(f, CNI_ERR_INVALID_ENV, "unexpected command");
    }
}

int cni_plugin_main(struct cni_call *call, const struct cni_plugin_ops *ops, void *plugin)
{
    struct cni_failure f = { 0 };

    if (cni_call_read(stdin, call, &f) < 0)
        return cni_print_failure(stdout, call->version, &f);
    if (call->command == CNI_VERSION)
        return cni_print_version(stdout, call->version);
    if (run_command(call, ops, plugin, &f) < 0)
        return cni_print_failure(stdout, call->version, &f);
    return 0;
}
