/* sha3.c — SHA3-256 over the Keccak-f[1600] permutation (FIPS 202), and base32 text.
 *
 * The state is 25 lanes of 64 bits; SHA3-256 absorbs 136 bytes (the rate) per
 * permutation, pads with the domain bits 0x06 and a final 0x80, and squeezes the first
 * 32 bytes. One call hashes one short string (a node name), so the code stays plain:
 * no incremental interface, lanes read and written little-endian byte by byte. */
#include <string.h>

#include "tabby/sha3.h"

#define RATE 136
#define ROUNDS 24

static const uint64_t round_constants[ROUNDS] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL,
    0x8000000080008000ULL, 0x000000000000808bULL, 0x0000000080000001ULL,
    0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008aULL,
    0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL,
    0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL,
    0x000000000000800aULL, 0x800000008000000aULL, 0x8000000080008081ULL,
    0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* ρ offsets and π's lane order, walked together as in the reference's compact form. */
static const unsigned rho[24] = {
    1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44,
};
static const unsigned pi[24] = {
    10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1,
};

static uint64_t rotl(uint64_t x, unsigned n)
{
    return (x << n) | (x >> (64 - n));
}

static void keccak_f(uint64_t a[25])
{
    for (int round = 0; round < ROUNDS; round++) {
        uint64_t c[5], t;

        /* θ */
        for (int x = 0; x < 5; x++)
            c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        for (int x = 0; x < 5; x++) {
            t = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
            for (int y = 0; y < 25; y += 5)
                a[y + x] ^= t;
        }
        /* ρ and π */
        t = a[1];
        for (int i = 0; i < 24; i++) {
            uint64_t next = a[pi[i]];

            a[pi[i]] = rotl(t, rho[i]);
            t = next;
        }
        /* χ */
        for (int y = 0; y < 25; y += 5) {
            for (int x = 0; x < 5; x++)
                c[x] = a[y + x];
            for (int x = 0; x < 5; x++)
                a[y + x] = c[x] ^ (~c[(x + 1) % 5] & c[(x + 2) % 5]);
        }
        /* ι */
        a[0] ^= round_constants[round];
    }
}

static void xor_block(uint64_t a[25], const uint8_t *block)
{
    for (int i = 0; i < RATE / 8; i++) {
        uint64_t lane = 0;

        for (int b = 7; b >= 0; b--)
            lane = (lane << 8) | block[i * 8 + b];
        a[i] ^= lane;
    }
}

void tby_sha3_256(const void *data, size_t len, uint8_t out[TBY_SHA3_256_LEN])
{
    const uint8_t *p = data;
    uint64_t a[25] = { 0 };
    uint8_t last[RATE];

    for (; len >= RATE; p += RATE, len -= RATE) {
        xor_block(a, p);
        keccak_f(a);
    }
    memset(last, 0, sizeof(last));
    if (len)
        memcpy(last, p, len);
    last[len] ^= 0x06;
    last[RATE - 1] ^= 0x80;
    xor_block(a, last);
    keccak_f(a);
    for (int i = 0; i < TBY_SHA3_256_LEN; i++)
        out[i] = (uint8_t)(a[i / 8] >> (8 * (i % 8)));
}

char *tby_base32(const void *data, size_t len, char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const uint8_t *p = data;
    unsigned bits = 0, have = 0;
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        bits = (bits << 8) | p[i];
        have += 8;
        while (have >= 5) {
            have -= 5;
            out[n++] = alphabet[(bits >> have) & 31];
        }
    }
    if (have)
        out[n++] = alphabet[(bits << (5 - have)) & 31];
    out[n] = '\0';
    return out;
}
