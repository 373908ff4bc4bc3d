/* endpoint_names.c — veth and WorkloadEndpoint names (see endpoint_names.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/digest.h"
#include "tabby/endpoint_names.h"

void tby_veth_name(const char *namespace, const char *pod, const char *container_id,
                   char out[IFNAMSIZ])
{
    uint8_t digest[TBY_SHA1_LEN];
    char hex[2 * TBY_SHA1_LEN + 1];
    char text[512];
    int len;

    if (pod && *pod)
        len = snprintf(text, sizeof(text), "%s.%s", namespace ? namespace : "default", pod);
    else
        len = snprintf(text, sizeof(text), "%s", container_id ? container_id : "");
    if (len < 0 || (size_t)len >= sizeof(text))
        len = (int)strnlen(text, sizeof(text) - 1);
    tby_sha1(text, (size_t)len, digest);
    tby_hex(digest, sizeof(digest), hex);
    snprintf(out, IFNAMSIZ, "%s%.*s", TBY_VETH_PREFIX, TBY_VETH_HASH_CHARS, hex);
}

static int check_part(const char *what, const char *part, struct tby_error *err)
{
    size_t len = part ? strlen(part) : 0;

    if (len == 0)
        return tby_error_set(err, -EINVAL, "the endpoint's %s is empty", what);
    if (part[0] == '-' || part[len - 1] == '-')
        return tby_error_set(err, -EINVAL, "the endpoint's %s \"%s\" starts or ends with '-'",
                             what, part);
    return 0;
}

/* Copies part into p with every '-' doubled; returns the end. */
static char *put_escaped(char *p, const char *part)
{
    for (; *part; part++) {
        *p++ = *part;
        if (*part == '-')
            *p++ = '-';
    }
    return p;
}

int tby_wep_name(const char *node, const char *orchestrator, const char *workload,
                 const char *endpoint, char **out, struct tby_error *err)
{
    const char *parts[4] = { node, orchestrator, workload, endpoint };
    static const char *const what[4] = { "node", "orchestrator", "workload", "endpoint" };
    size_t len = 0;
    char *name, *p;

    for (unsigned i = 0; i < 4; i++) {
        int r = check_part(what[i], parts[i], err);

        if (r < 0)
            return r;
        len += 2 * strlen(parts[i]) + 1;
    }
    p = name = malloc(len);
    if (!name)
        return tby_error_set(err, -ENOMEM, "out of memory");
    for (unsigned i = 0; i < 4; i++) {
        if (i)
            *p++ = '-';
        p = put_escaped(p, parts[i]);
    }
    *p = '\0';
    *out = name;
    return 0;
}

void tby_wep_parts_clear(struct tby_wep_parts *parts)
{
    free(parts->node);
    free(parts->orchestrator);
    free(parts->workload);
    free(parts->endpoint);
    memset(parts, 0, sizeof(*parts));
}

int tby_wep_name_parse(const char *name, struct tby_wep_parts *out)
{
    char **slots[4] = { &out->node, &out->orchestrator, &out->workload, &out->endpoint };
    char *buf = malloc(strlen(name) + 1), *p = buf;
    size_t n = 0;
    int r = 0;

    memset(out, 0, sizeof(*out));
    if (!buf)
        return -ENOMEM;
    /* "--" is a '-' of a part; a single '-' (or the end) ends a part. */
    for (const char *c = name; r == 0; c++) {
        if (*c == '-' && c[1] == '-') {
            *p++ = '-';
            c++;
        } else if (*c && *c != '-') {
            *p++ = *c;
        } else {
            *p = '\0';
            if (p == buf || n == 4)
                r = -EINVAL;
            else if (!(*slots[n++] = strdup(buf)))
                r = -ENOMEM;
            p = buf;
            if (!*c)
                break;
        }
    }
    free(buf);
    if (r == 0 && n < 4)
        r = -EINVAL;
    if (r < 0)
        tby_wep_parts_clear(out);
    return r;
}
