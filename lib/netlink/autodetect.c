/* autodetect.c — IP autodetection methods: parsing them, and choosing an address from a
 * list of interfaces. Pure; autodetect_kernel.c feeds it this namespace's interfaces. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "autodetect_method.h"

/* Pod-network devices (tabby's, and Calico's when migrating): their addresses come from
 * the pools and are never the node's own, so even cidr= passes over them. */
static const char *const pod_network_prefixes[] = {
    "tby", "cali", "tunl", "vxlan.", "vxlan-v6.", "wireguard.cali", "wg-v6.cali",
};

/* What first-found and skip-interface pass over as well, as calico-node's defaults do
 * ("^docker.*", …). */
static const char *const internal_prefixes[] = {
    "docker", "cbr", "dummy", "virbr", "lxcbr", "veth", "lo", "flannel", "kube-ipvs", "cni",
    "nodelocaldns",
};

static const struct {
    const char *prefix;
    enum autodetect_kind kind;
} methods[] = {
    { "interface=", AUTODETECT_INTERFACE },
    { "skip-interface=", AUTODETECT_SKIP_INTERFACE },
    { "can-reach=", AUTODETECT_CAN_REACH },
    { "cidr=", AUTODETECT_CIDR },
};

void tby_autodetect_free(struct tby_autodetect *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_regexes; i++)
        regfree(&m->regexes[i]);
    free(m->regexes);
    free(m->cidrs.items);
    free(m->target);
    free(m->text);
    free(m);
}

/* ---- parsing -------------------------------------------------------------------------- */

static int add_regex(struct tby_autodetect *m, const char *item, struct tby_error *err)
{
    regex_t *grown = reallocarray(m->regexes, m->n_regexes + 1, sizeof(*grown));
    char why[128];
    int rc;

    if (!grown)
        return tby_error_set(err, -ENOMEM, "out of memory");
    m->regexes = grown;
    if ((rc = regcomp(&m->regexes[m->n_regexes], item, REG_EXTENDED | REG_NOSUB)) != 0) {
        regerror(rc, &m->regexes[m->n_regexes], why, sizeof(why));
        regfree(&m->regexes[m->n_regexes]);
        return tby_error_set(err, -EINVAL, "\"%s\" is not a regular expression: %s", item, why);
    }
    m->n_regexes++;
    return 0;
}

static int add_cidr(struct tby_autodetect *m, const char *item, struct tby_error *err)
{
    struct tby_cidr *grown = reallocarray(m->cidrs.items, m->cidrs.n + 1, sizeof(*grown));

    if (!grown)
        return tby_error_set(err, -ENOMEM, "out of memory");
    m->cidrs.items = grown;
    if (tby_cidr_parse(item, TBY_CIDR_MASK, &m->cidrs.items[m->cidrs.n], err) < 0)
        return -EINVAL;
    m->cidrs.n++;
    return 0;
}

/* Splits "a, b ,c" at commas, trimming blanks, and hands each item to add(). */
static int parse_list(struct tby_autodetect *m, const char *list,
                      int (*add)(struct tby_autodetect *, const char *, struct tby_error *),
                      struct tby_error *err)
{
    _cleanup_free_ char *copy = strdup(list);
    char *save = NULL;
    int rc;

    if (!copy)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (list[strspn(list, " \t")] == '\0' || list[strlen(list) - 1] == ',' || list[0] == ',' ||
        strstr(list, ",,"))
        return tby_error_set(err, -EINVAL, "an empty item in the list");
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *end;

        item += strspn(item, " \t");
        end = item + strlen(item);
        while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (!*item)
            return tby_error_set(err, -EINVAL, "an empty item in the list");
        if ((rc = add(m, item, err)) < 0)
            return rc;
    }
    return 0;
}

static int parse_argument(struct tby_autodetect *m, const char *arg, struct tby_error *err)
{
    switch (m->kind) {
    case AUTODETECT_INTERFACE:
    case AUTODETECT_SKIP_INTERFACE:
        return parse_list(m, arg, add_regex, err);
    case AUTODETECT_CIDR:
        return parse_list(m, arg, add_cidr, err);
    case AUTODETECT_CAN_REACH:
        if (!*arg || strpbrk(arg, " \t,"))
            return tby_error_set(err, -EINVAL, "give one address or host name");
        return (m->target = strdup(arg)) ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
    case AUTODETECT_FIRST_FOUND:
        break;
    }
    return 0;
}

static int parse_kind(const char *text, enum autodetect_kind *kind, const char **arg,
                      struct tby_error *err)
{
    *arg = "";
    if (!*text || strcmp(text, "first-found") == 0) {
        *kind = AUTODETECT_FIRST_FOUND;
        return 0;
    }
    for (size_t i = 0; i < TBY_ARRAY_SIZE(methods); i++) {
        if (strncmp(text, methods[i].prefix, strlen(methods[i].prefix)) == 0) {
            *kind = methods[i].kind;
            *arg = text + strlen(methods[i].prefix);
            return 0;
        }
    }
    if (strcmp(text, "kubernetes-internal-ip") == 0)
        return tby_error_set(err, -EOPNOTSUPP, "IP autodetection method kubernetes-internal-ip "
                             "needs Kubernetes' Node object, which tabby-node does not read; "
                             "use interface=, can-reach= or cidr= instead");
    return tby_error_set(err, -EINVAL, "unknown IP autodetection method \"%s\": use "
                         "first-found, interface=REGEX, skip-interface=REGEX, "
                         "can-reach=ADDRESS or cidr=CIDR", text);
}

int tby_autodetect_parse(const char *method, struct tby_autodetect **out,
                         struct tby_error *err)
{
    _cleanup_(tby_autodetect_freep) struct tby_autodetect *m = calloc(1, sizeof(*m));
    const char *text = method ? method : "";
    const char *arg;
    int rc;

    *out = NULL;
    if (!m || !(m->text = strdup(*text ? text : "first-found")))
        return tby_error_set(err, -ENOMEM, "out of memory");
    if ((rc = parse_kind(text, &m->kind, &arg, err)) < 0)
        return rc;
    if ((rc = parse_argument(m, arg, err)) < 0) {
        tby_error_prefix(err, "IP autodetection method \"%s\"", text);
        return rc;
    }
    *out = TBY_STEAL(m);
    return 0;
}

/* ---- choosing ------------------------------------------------------------------------- */

static bool has_prefix(const char *name, const char *const *prefixes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

static bool pod_network_iface(const char *name)
{
    return has_prefix(name, pod_network_prefixes, TBY_ARRAY_SIZE(pod_network_prefixes));
}

static bool internal_iface(const char *name)
{
    return pod_network_iface(name) ||
           has_prefix(name, internal_prefixes, TBY_ARRAY_SIZE(internal_prefixes));
}

static bool matches_any(const struct tby_autodetect *m, const char *name)
{
    for (size_t i = 0; i < m->n_regexes; i++)
        if (regexec(&m->regexes[i], name, 0, NULL, 0) == 0)
            return true;
    return false;
}

static bool iface_accepted(const struct tby_autodetect *m, const struct tby_autodetect_iface *i)
{
    if (!i->up)
        return false;
    switch (m->kind) {
    case AUTODETECT_FIRST_FOUND:
        return !internal_iface(i->name);
    case AUTODETECT_INTERFACE:
        return matches_any(m, i->name);
    case AUTODETECT_SKIP_INTERFACE:
        return !internal_iface(i->name) && !matches_any(m, i->name);
    case AUTODETECT_CIDR:
        return !pod_network_iface(i->name);
    case AUTODETECT_CAN_REACH:
        break;
    }
    return true;
}

/* As Go's IP.IsGlobalUnicast, which calico-node uses. */
static bool global_unicast(const struct tby_ip *ip)
{
    static const uint8_t zero[16];
    const uint8_t *b = ip->bytes;

    if (ip->family == 4)
        return !(b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0) && b[0] != 127 &&
               b[0] < 224 && !(b[0] == 169 && b[1] == 254);
    if (!memcmp(b, zero, 16) || (!memcmp(b, zero, 15) && b[15] == 1))
        return false;
    return b[0] != 0xff && !(b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
}

static bool addr_accepted(const struct tby_autodetect *m, int family, const struct tby_cidr *a)
{
    if (a->ip.family != family || !global_unicast(&a->ip))
        return false;
    if (m->kind != AUTODETECT_CIDR)
        return true;
    for (size_t i = 0; i < m->cidrs.n; i++)
        if (tby_cidr_contains(&m->cidrs.items[i], &a->ip))
            return true;
    return false;
}

static const char *none_found(enum autodetect_kind kind)
{
    switch (kind) {
    case AUTODETECT_FIRST_FOUND:
        return "on an interface that is up, past internal ones (lo, docker*, veth*, cali*, "
               "tby*, vxlan.*, …)";
    case AUTODETECT_INTERFACE:
        return "on an interface that is up and matches";
    case AUTODETECT_SKIP_INTERFACE:
        return "on an interface that is up, matches none of the expressions and is not "
               "internal (lo, docker*, veth*, cali*, tby*, vxlan.*, …)";
    case AUTODETECT_CIDR:
        return "inside the CIDRs on an interface that is up (pod network devices such as "
               "tby*, cali* and vxlan.* are skipped)";
    case AUTODETECT_CAN_REACH:
        break;
    }
    return "";
}

int tby_autodetect_choose(const struct tby_autodetect *m, int family,
                          const struct tby_autodetect_iface *ifaces, size_t n_ifaces,
                          struct tby_autodetect_result *out, struct tby_error *err)
{
    memset(out, 0, sizeof(*out));
    if (m->kind == AUTODETECT_CAN_REACH)
        return tby_error_set(err, -EINVAL, "IP autodetection method \"%s\" needs a route "
                             "lookup: use tby_autodetect_run", m->text);
    for (size_t i = 0; i < n_ifaces; i++) {
        const struct tby_autodetect_iface *iface = &ifaces[i];

        if (!iface_accepted(m, iface) || strlen(iface->name) >= IFNAMSIZ)
            continue;
        for (size_t j = 0; j < iface->n_addrs; j++) {
            if (!addr_accepted(m, family, &iface->addrs[j]))
                continue;
            out->address = iface->addrs[j];
            strcpy(out->ifname, iface->name);
            return 0;
        }
    }
    return tby_error_set(err, -ENOENT, "IP autodetection method \"%s\" found no global IPv%d "
                         "address %s", m->text, family, none_found(m->kind));
}
