/* digest.c — SHA-1 and SHA-256 (FIPS 180-4), see digest.h. */
#include <string.h>

#include "tabby/digest.h"

/* ---- SHA-1 and SHA-256: 64-byte blocks, big-endian length padding ---------------------- */

struct md {
    uint32_t h[8];
    uint8_t block[64];
    size_t used;        /* bytes waiting in block */
    uint64_t total;     /* bytes hashed so far */
    void (*compress)(uint32_t *h, const uint8_t *p);
};

static uint32_t rol(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t ror(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t sha1_f(unsigned t, uint32_t b, uint32_t c, uint32_t d)
{
    if (t < 20)
        return (b & c) | (~b & d);
    if (t < 40 || t >= 60)
        return b ^ c ^ d;
    return (b & c) | (b & d) | (c & d);
}

static void sha1_compress(uint32_t *h, const uint8_t *p)
{
    static const uint32_t k[4] = { 0x5a827999, 0x6ed9eba1, 0x8f1bbcdc, 0xca62c1d6 };
    uint32_t w[80], v[5];

    for (unsigned t = 0; t < 16; t++)
        w[t] = be32(p + 4 * t);
    for (unsigned t = 16; t < 80; t++)
        w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    memcpy(v, h, sizeof(v));
    for (unsigned t = 0; t < 80; t++) {
        uint32_t tmp = rol(v[0], 5) + sha1_f(t, v[1], v[2], v[3]) + v[4] + k[t / 20] + w[t];

        v[4] = v[3];
        v[3] = v[2];
        v[2] = rol(v[1], 30);
        v[1] = v[0];
        v[0] = tmp;
    }
    for (unsigned i = 0; i < 5; i++)
        h[i] += v[i];
}

static void sha256_compress(uint32_t *h, const uint8_t *p)
{
    static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    };
    uint32_t w[64], v[8];

    for (unsigned t = 0; t < 16; t++)
        w[t] = be32(p + 4 * t);
    for (unsigned t = 16; t < 64; t++) {
        uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);

        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    memcpy(v, h, sizeof(v));
    for (unsigned t = 0; t < 64; t++) {
        uint32_t s1 = ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25);
        uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
        uint32_t t1 = v[7] + s1 + ch + k[t] + w[t];
        uint32_t s0 = ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22);
        uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);

        memmove(v + 1, v, 7 * sizeof(*v));
        v[4] += t1;
        v[0] = t1 + s0 + maj;
    }
    for (unsigned i = 0; i < 8; i++)
        h[i] += v[i];
}

static void md_update(struct md *s, const uint8_t *p, size_t len)
{
    s->total += len;
    while (len > 0) {
        size_t take = 64 - s->used < len ? 64 - s->used : len;

        memcpy(s->block + s->used, p, take);
        s->used += take;
        p += take;
        len -= take;
        if (s->used == 64) {
            s->compress(s->h, s->block);
            s->used = 0;
        }
    }
}

/* Pads (0x80, zeros up to 56 mod 64, the length in bits big-endian) and writes the first
 * `words` words of the state. */
static void md_final(struct md *s, unsigned words, uint8_t *out)
{
    uint8_t pad[72] = { 0x80 };
    uint64_t bits = s->total * 8;
    size_t n_pad = (s->used < 56 ? 56 : 120) - s->used;

    for (unsigned i = 0; i < 8; i++)
        pad[n_pad + i] = (uint8_t)(bits >> (56 - 8 * i));
    md_update(s, pad, n_pad + 8);
    for (unsigned i = 0; i < 4 * words; i++)
        out[i] = (uint8_t)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

void tby_sha1(const void *data, size_t len, uint8_t out[TBY_SHA1_LEN])
{
    struct md s = { .h = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 },
                    .compress = sha1_compress };

    md_update(&s, data, len);
    md_final(&s, TBY_SHA1_LEN / 4, out);
}

void tby_sha256(const void *data, size_t len, uint8_t out[TBY_SHA256_LEN])
{
    struct md s = { .h = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f,
                           0x9b05688c, 0x1f83d9ab, 0x5be0cd19 },
                    .compress = sha256_compress };

    md_update(&s, data, len);
    md_final(&s, TBY_SHA256_LEN / 4, out);
}

int tby_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void tby_hex(const uint8_t *bytes, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = "0123456789abcdef"[bytes[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[bytes[i] & 0xf];
    }
    out[2 * len] = '\0';
}
