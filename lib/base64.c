/* base64.c — RFC 4648 base64 with the standard alphabet. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "tabby/base64.h"
#include "tabby/cleanup.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *tby_base64_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    char *p = out;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t n = (uint32_t)in[i] << 16;

        if (i + 1 < len)
            n |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            n |= in[i + 2];
        *p++ = alphabet[(n >> 18) & 63];
        *p++ = alphabet[(n >> 12) & 63];
        *p++ = i + 1 < len ? alphabet[(n >> 6) & 63] : '=';
        *p++ = i + 2 < len ? alphabet[n & 63] : '=';
    }
    *p = '\0';
    return out;
}

static int value_of(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    return c == '/' ? 63 : -1;
}

int tby_base64_decode(const char *in, size_t in_len, char **out, size_t *out_len)
{
    _cleanup_free_ char *buf = malloc(in_len / 4 * 3 + 3);
    size_t n = 0, digits = 0, pads = 0;
    uint32_t acc = 0;
    int bits = 0;

    *out = NULL;
    *out_len = 0;
    if (!buf)
        return -ENOMEM;
    for (size_t i = 0; i < in_len; i++) {
        unsigned char c = (unsigned char)in[i];
        int v;

        if (c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pads++;
            continue;
        }
        v = value_of(c);
        if (v < 0 || pads > 0)
            return -EINVAL; /* a foreign character, or data after padding */
        digits++;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    /* One digit left over carries no whole byte; padding must fill the last group. */
    if (digits % 4 == 1 || (pads > 0 && (digits + pads) % 4 != 0) || pads > 2)
        return -EINVAL;
    buf[n] = '\0';
    *out = TBY_STEAL(buf);
    *out_len = n;
    return 0;
}
