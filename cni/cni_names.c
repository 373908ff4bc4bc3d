/* cni_names.c — veth and WorkloadEndpoint names (see cni_names.h), with the SHA-1 of
 * FIPS 180-4 written out: the veth names must hash exactly as Calico's do, and nothing
 * else in tabby needs a cryptographic library. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni_names.h"

/* ---- SHA-1 ------------------------------------------------------------------------------ */

struct sha1 {
    uint32_t h[5];
    uint8_t block[64];
    size_t used;        /* bytes waiting in block */
    uint64_t total;     /* bytes hashed so far */
};

static uint32_t rol(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t round_f(unsigned t, uint32_t b, uint32_t c, uint32_t d)
{
    if (t < 20)
        return (b & c) | (~b & d);
    if (t < 40 || t >= 60)
        return b ^ c ^ d;
    return (b & c) | (b & d) | (c & d);
}

static void sha1_block(struct sha1 *s, const uint8_t *p)
{
    static const uint32_t k[4] = { 0x5a827999, 0x6ed9eba1, 0x8f1bbcdc, 0xca62c1d6 };
    uint32_t w[80], v[5];

    for (unsigned t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
    for (unsigned t = 16; t < 80; t++)
        w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    memcpy(v, s->h, sizeof(v));
    for (unsigned t = 0; t < 80; t++) {
        uint32_t tmp = rol(v[0], 5) + round_f(t, v[1], v[2], v[3]) + v[4] + k[t / 20] + w[t];

        v[4] = v[3];
        v[3] = v[2];
        v[2] = rol(v[1], 30);
        v[1] = v[0];
        v[0] = tmp;
    }
    for (unsigned i = 0; i < 5; i++)
        s->h[i] += v[i];
}

static void sha1_update(struct sha1 *s, const uint8_t *p, size_t len)
{
    s->total += len;
    while (len > 0) {
        size_t take = 64 - s->used < len ? 64 - s->used : len;

        memcpy(s->block + s->used, p, take);
        s->used += take;
        p += take;
        len -= take;
        if (s->used == 64) {
            sha1_block(s, s->block);
            s->used = 0;
        }
    }
}

void cni_sha1(const void *data, size_t len, uint8_t out[CNI_SHA1_LEN])
{
    struct sha1 s = { .h = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 } };
    uint8_t pad[72] = { 0x80 };
    uint64_t bits;
    size_t n_pad;

    sha1_update(&s, data, len);
    bits = s.total * 8;
    /* 0x80, zeros up to 56 mod 64, then the length in bits, big-endian. */
    n_pad = (s.used < 56 ? 56 : 120) - s.used;
    for (unsigned i = 0; i < 8; i++)
        pad[n_pad + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha1_update(&s, pad, n_pad + 8);
    for (unsigned i = 0; i < CNI_SHA1_LEN; i++)
        out[i] = (uint8_t)(s.h[i / 4] >> (24 - 8 * (i % 4)));
}

/* ---- names ---------------------------------------------------------------------------------- */

void cni_veth_name(const char *namespace, const char *pod, const char *container_id,
                   char out[IFNAMSIZ])
{
    uint8_t digest[CNI_SHA1_LEN];
    char text[512];
    int len;

    if (pod && *pod)
        len = snprintf(text, sizeof(text), "%s.%s", namespace ? namespace : "default", pod);
    else
        len = snprintf(text, sizeof(text), "%s", container_id ? container_id : "");
    if (len < 0 || (size_t)len >= sizeof(text))
        len = (int)strnlen(text, sizeof(text) - 1);
    cni_sha1(text, (size_t)len, digest);
    memcpy(out, CNI_VETH_PREFIX, sizeof(CNI_VETH_PREFIX) - 1);
    for (unsigned i = 0; i < CNI_VETH_HASH_CHARS; i++)
        out[sizeof(CNI_VETH_PREFIX) - 1 + i] = "0123456789abcdef"[(digest[i / 2] >>
                                                                  (i % 2 ? 0 : 4)) & 0xf];
    out[sizeof(CNI_VETH_PREFIX) - 1 + CNI_VETH_HASH_CHARS] = '\0';
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

int cni_wep_name(const char *node, const char *orchestrator, const char *workload,
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
