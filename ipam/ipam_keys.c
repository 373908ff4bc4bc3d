/* ipam_keys.c — the names and datastore keys of IPAM records, and the time texts they
 * hold. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tabby/kube.h"
#include "ipam_internal.h"

#define NAME_LIMIT 512

char *ipam_block_name(const struct tby_cidr *cidr, char buf[IPAM_NAME_MAX])
{
    char *slash;

    tby_cidr_format(cidr, buf);
    slash = strchr(buf, '/');
    if (slash)
        *slash = '-';
    return buf;
}

int ipam_block_name_parse(const char *name, struct tby_cidr *out)
{
    char buf[IPAM_NAME_MAX];
    char *dash;

    if (strlen(name) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, name);
    /* IPv6 addresses hold no '-', so the last one separates the prefix length. */
    dash = strrchr(buf, '-');
    if (!dash)
        return -EINVAL;
    *dash = '/';
    return tby_cidr_parse(buf, TBY_CIDR_STRICT, out, NULL);
}

char *ipam_block_key(const struct tby_cidr *cidr)
{
    char name[IPAM_NAME_MAX];
    char *key;

    if (asprintf(&key, IPAM_BLOCKS "%s", ipam_block_name(cidr, name)) < 0)
        return NULL;
    return key;
}

char *ipam_affinity_key(const char *node, const struct tby_cidr *cidr)
{
    char name[IPAM_NAME_MAX];
    char *key;

    if (asprintf(&key, IPAM_AFFINITIES "%s/%s", node, ipam_block_name(cidr, name)) < 0)
        return NULL;
    return key;
}

char *ipam_affinity_prefix(const char *node)
{
    char *key;

    if (!node)
        return strdup(IPAM_AFFINITIES);
    if (asprintf(&key, IPAM_AFFINITIES "%s/", node) < 0)
        return NULL;
    return key;
}

int tby_ipam_affinity_key_parse(const char *key, const char **node, size_t *node_len,
                                struct tby_cidr *block)
{
    const char *rest, *slash;

    if (strncmp(key, IPAM_AFFINITIES, strlen(IPAM_AFFINITIES)) != 0)
        return -EINVAL;
    rest = key + strlen(IPAM_AFFINITIES);
    slash = strchr(rest, '/');
    if (!slash || slash == rest || ipam_block_name_parse(slash + 1, block) < 0)
        return -EINVAL;
    *node = rest;
    *node_len = (size_t)(slash - rest);
    return 0;
}

char *ipam_handle_key(const char *handle)
{
    char *key;

    if (asprintf(&key, IPAM_HANDLES "%s", handle) < 0)
        return NULL;
    return key;
}

char *ipam_claims_key(const char *node)
{
    char *key;

    return asprintf(&key, IPAM_CLAIMS "%s", node) < 0 ? NULL : key;
}

int ipam_check_name(const char *what, const char *name, struct tby_error *err)
{
    if (!name || !*name)
        return tby_error_set(err, -EINVAL, "%s: must not be empty", what);
    if (strlen(name) > NAME_LIMIT)
        return tby_error_set(err, -EINVAL, "%s: longer than %d characters", what, NAME_LIMIT);
    /* Kubernetes names and container IDs are printable ASCII; keeping to it keeps every
     * stored record valid JSON text without escapes. */
    for (const char *p = name; *p; p++)
        if (*p == '/' || (unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return tby_error_set(err, -EINVAL, "%s \"%s\": must be printable ASCII without "
                                 "'/' or spaces", what, name);
    return 0;
}

struct tby_cidr ipam_block_of(const struct tby_ip *ip, int block_size)
{
    struct tby_cidr block = { .ip = *ip, .prefix_len = (uint8_t)block_size };

    tby_cidr_mask(&block);
    return block;
}

uint32_t ipam_cidr_size(const struct tby_cidr *cidr)
{
    return 1u << (tby_ip_bits(&cidr->ip) - cidr->prefix_len);
}

/* ---- time texts ------------------------------------------------------------------------ */

uint64_t ipam_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

char *ipam_time_rfc3339(uint64_t ns, char *buf)
{
    time_t secs = (time_t)(ns / 1000000000u);
    struct tm tm;

    gmtime_r(&secs, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

char *ipam_time_go(uint64_t ns, char *buf)
{
    time_t secs = (time_t)(ns / 1000000000u);
    unsigned frac = (unsigned)(ns % 1000000000u);
    char digits[16];
    int width = 9;
    struct tm tm;

    gmtime_r(&secs, &tm);
    strftime(buf, 48, "%Y-%m-%d %H:%M:%S", &tm);
    while (width > 0 && frac % 10 == 0) {
        frac /= 10;
        width--;
    }
    digits[0] = '\0';
    if (width)
        snprintf(digits, sizeof(digits), ".%0*u", width, frac);
    strcat(buf, digits);
    strcat(buf, " +0000 UTC");
    return buf;
}

int ipam_time_parse(const char *text, int64_t *seconds)
{
    return tby_kube_time_parse(text, seconds);
}

int ipam_oom(struct tby_error *err)
{
    return tby_error_set(err, -ENOMEM, "out of memory");
}

int ipam_result_push(struct tby_ipam_result *res, const struct tby_ip *ip,
                     const struct tby_cidr *block, bool existing)
{
    struct tby_ipam_addr *grown = reallocarray(res->items, res->n + 1, sizeof(*grown));

    if (!grown)
        return -ENOMEM;
    res->items = grown;
    grown[res->n].ip = *ip;
    grown[res->n].block = *block;
    grown[res->n].existing = existing;
    res->n++;
    return 0;
}

void tby_ipam_result_clear(struct tby_ipam_result *result)
{
    free(result->items);
    result->items = NULL;
    result->n = 0;
}

const char *ipam_family_name(int family)
{
    return family == 6 ? "IPv6" : "IPv4";
}
