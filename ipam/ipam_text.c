/* ipam_text.c — the JSON text IPAM records are made of, written and read by hand on the
 * hot paths (blocks on every allocation, affinity records on every claim's survey): a
 * writer with JSON's escapes, and a cursor that reads exactly what the writer wrote,
 * failing (so the caller falls back to jansson) on anything else. */
#include <stdlib.h>
#include <string.h>

#include "ipam_internal.h"

void ipam_out_uint(struct tby_buf *o, uint64_t v)
{
    char num[24];
    size_t i = sizeof(num);

    do {
        num[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    tby_buf_add(o, num + i, sizeof(num) - i);
}

static bool needs_escape(unsigned char c)
{
    return c == '"' || c == '\\' || c < 0x20;
}

void ipam_out_json_chars(struct tby_buf *o, const char *s)
{
    while (*s) {
        size_t run = 0;

        while (s[run] && !needs_escape((unsigned char)s[run]))
            run++;
        tby_buf_add(o, s, run);
        s += run;
        if (!*s)
            break;
        if (*s == '"' || *s == '\\') {
            tby_buf_addc(o, '\\');
            tby_buf_addc(o, *s);
        } else {
            tby_buf_printf(o, "\\u%04x", (unsigned char)*s);
        }
        s++;
    }
}

void ipam_out_json_string(struct tby_buf *o, const char *s)
{
    tby_buf_addc(o, '"');
    ipam_out_json_chars(o, s);
    tby_buf_addc(o, '"');
}

bool ipam_take_n(struct ipam_cursor *c, const char *lit, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* The characters up to the closing quote, which must come before any escape. */
static bool scan_string(struct ipam_cursor *c, const char **start, size_t *len)
{
    *start = c->p;
    while (c->p < c->end && *c->p != '"' && *c->p != '\\' && (unsigned char)*c->p >= 0x20)
        c->p++;
    if (c->p >= c->end || *c->p != '"')
        return false;
    *len = (size_t)(c->p++ - *start);
    return true;
}

char *ipam_take_string(struct ipam_cursor *c)
{
    const char *start;
    size_t len;

    return scan_string(c, &start, &len) ? strndup(start, len) : NULL;
}

bool ipam_take_string_into(struct ipam_cursor *c, char *buf, size_t size)
{
    const char *start;
    size_t len;

    if (!scan_string(c, &start, &len) || len >= size)
        return false;
    memcpy(buf, start, len);
    buf[len] = '\0';
    return true;
}

bool ipam_take_u64(struct ipam_cursor *c, uint64_t *out)
{
    uint64_t v = 0;
    const char *start = c->p;

    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && c->p - start < 19)
        v = v * 10 + (uint64_t)(*c->p++ - '0');
    *out = v;
    return c->p > start && (c->p >= c->end || *c->p < '0' || *c->p > '9');
}

bool ipam_take_uint(struct ipam_cursor *c, uint32_t *out)
{
    uint64_t v;

    if (!ipam_take_u64(c, &v) || v > INT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}
