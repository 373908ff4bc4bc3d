/* yaml_scalar.c — what a YAML scalar's text means (the rules tabby/yaml.h lists), and
 * the text a real must be written as to read back the same. */
#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/digest.h"
#include "tabby/cleanup.h"
#include "yaml_scalar.h"

static bool word_in(const char *s, size_t n, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == n && memcmp(*words, s, n) == 0)
            return true;
    return false;
}

static const char *const null_words[] = { "", "~", "null", "Null", "NULL", NULL };
static const char *const true_words[] = {
    "true", "True", "TRUE", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", NULL,
};
static const char *const false_words[] = {
    "false", "False", "FALSE", "n", "N", "no", "No", "NO", "off", "Off", "OFF", NULL,
};
static const char *const inf_nan_words[] = {
    ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
    ".nan", ".NaN", ".NAN", NULL,
};

static unsigned int_base(const char *s, size_t n, size_t *i)
{
    if (n - *i >= 2 && s[*i] == '0') {
        char p = (char)tolower((unsigned char)s[*i + 1]);

        if (p == 'x' || p == 'o' || p == 'b') {
            *i += 2;
            return p == 'x' ? 16 : p == 'o' ? 8 : 2;
        }
        /* YAML 1.1 octal, as go-yaml reads it; with an 8 or 9 it can only be decimal. */
        if (strspn(s + *i, "01234567") == n - *i)
            return 8;
    }
    return 10;
}

/* 1 and *out set for an integer, 0 for text that is not one, -ERANGE for an integer
 * beyond 64 bits. `s` has no underscores. */
static int parse_int(const char *s, size_t n, json_int_t *out)
{
    size_t i = 0;
    bool neg = false, overflow = false;
    uint64_t v = 0, limit;
    unsigned base;

    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    base = int_base(s, n, &i);
    if (i == n)
        return 0;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d = (unsigned)tby_hex_digit(s[i]); /* -1 (not a digit): past any base */

        if (d >= base)
            return 0;
        if (v > (limit - d) / base)
            overflow = true;
        else
            v = v * base + d;
    }
    if (overflow)
        return -ERANGE;
    *out = neg ? (json_int_t)(0 - v) : (json_int_t)v;
    return 1;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? — go-yaml's float syntax. */
static bool float_shaped(const char *s, size_t n)
{
    size_t i = 0, before, digits;

    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    before = i;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    digits = i - before;
    if (i < n && s[i] == '.') {
        before = ++i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        digits += i - before;
    }
    if (digits == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        before = i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == before)
            return false;
    }
    return i == n;
}

/* strtod and printf follow LC_NUMERIC, YAML's decimal point is always '.'. */
static const char *decimal_point(void)
{
    const char *p = localeconv()->decimal_point;

    return p && *p ? p : ".";
}

static int c_strtod(const char *s, double *out)
{
    const char *point = decimal_point();
    char buf[1024];
    const char *dot = strchr(s, '.');

    if (strcmp(point, ".") != 0 && dot) {
        int w = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(dot - s), s, point, dot + 1);

        if (w < 0 || (size_t)w >= sizeof(buf))
            return -ERANGE;
        s = buf;
    }
    errno = 0;
    *out = strtod(s, NULL);
    if (errno == ERANGE && isinf(*out))
        return -ERANGE;
    return 0;
}

static void c_format_double(char *buf, size_t size, int prec, double v)
{
    const char *point = decimal_point();
    char *p;

    snprintf(buf, size, "%.*g", prec, v);
    if (strcmp(point, ".") != 0 && (p = strstr(buf, point))) {
        *p = '.';
        memmove(p + 1, p + strlen(point), strlen(p + strlen(point)) + 1);
    }
}

/* Digits may be grouped with '_' (go-yaml drops them all before parsing). */
static char *without_underscores(const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    size_t j = 0;

    if (!copy)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_')
            copy[j++] = s[i];
    copy[j] = '\0';
    return copy;
}

/* 1 with `out` set when the text is a number, 0 when it is not, -EINVAL (out->why) or
 * -ENOMEM when it is one JSON cannot hold. `want_real` turns integers into reals. */
static int parse_number(const char *s, size_t n, bool want_real,
                        struct tby_yaml_scalar *out)
{
    _cleanup_free_ char *buf = NULL;
    json_int_t i;
    size_t len;
    int r;

    if (word_in(s, n, inf_nan_words)) {
        out->why = "infinity and NaN cannot be represented in JSON";
        return -EINVAL;
    }
    if (n == 0 || !(isdigit((unsigned char)s[0]) || s[0] == '+' || s[0] == '-' || s[0] == '.'))
        return 0;
    if (memchr(s, '\0', n))
        return 0;
    /* go-yaml parses a '.'-led text as it stands, underscores included (so not at all). */
    buf = s[0] == '.' ? strndup(s, n) : without_underscores(s, n);
    if (!buf)
        return -ENOMEM;
    len = strlen(buf);
    r = parse_int(buf, len, &i);
    if (r > 0) {
        out->kind = want_real ? TBY_YAML_REAL : TBY_YAML_INT;
        out->integer = i;
        out->real = (double)i;
        return 1;
    }
    if (r < 0 && !want_real) {
        out->why = "integer does not fit in 64 bits";
        return -EINVAL;
    }
    if (!float_shaped(buf, len))
        return 0;
    if (c_strtod(buf, &out->real) < 0) {
        out->why = "number is beyond the range of a double";
        return -EINVAL;
    }
    out->kind = TBY_YAML_REAL;
    return 1;
}

/* What an untagged plain scalar means: 0 with `out` set, or -EINVAL with out->why. */
int tby_yaml_resolve_plain(const char *s, size_t n, struct tby_yaml_scalar *out)
{
    int r;

    memset(out, 0, sizeof(*out));
    if (word_in(s, n, null_words)) {
        out->kind = TBY_YAML_NULL;
        return 0;
    }
    if (word_in(s, n, true_words) || word_in(s, n, false_words)) {
        out->kind = TBY_YAML_BOOL;
        out->boolean = word_in(s, n, true_words);
        return 0;
    }
    r = parse_number(s, n, false, out);
    if (r < 0)
        return r;
    if (r == 0)
        out->kind = TBY_YAML_STRING;
    return 0;
}

/* What a scalar tagged !!<want> means (any quoting style). */
int tby_yaml_resolve_tagged(enum tby_yaml_kind want, const char *s, size_t n,
                            struct tby_yaml_scalar *out)
{
    int r;

    memset(out, 0, sizeof(*out));
    out->kind = want;
    switch (want) {
    case TBY_YAML_STRING:
        return 0;
    case TBY_YAML_NULL:
        if (word_in(s, n, null_words))
            return 0;
        break;
    case TBY_YAML_BOOL:
        out->boolean = word_in(s, n, true_words);
        if (out->boolean || word_in(s, n, false_words))
            return 0;
        break;
    case TBY_YAML_INT:
    case TBY_YAML_REAL:
        r = parse_number(s, n, want == TBY_YAML_REAL, out);
        if (r < 0)
            return r;
        if (r > 0 && out->kind == want)
            return 0;
        break;
    }
    out->why = "the text does not match the tag";
    return -EINVAL;
}

/* Texts that YAML 1.1 readers (kubectl's go-yaml, PyYAML) take for something other than
 * a string, which tabby's own reader leaves alone: sexagesimal numbers (8000:9000),
 * timestamps (2001-12-14), the merge and value keys. */
static bool yaml11_special(const char *s, size_t n)
{
    size_t i = (n && (s[0] == '+' || s[0] == '-')) ? 1 : 0;

    if (i < n && isdigit((unsigned char)s[i]) && memchr(s, ':', n))
        return true;
    if (n >= 5 && strspn(s, "0123456789") >= 4 && s[4] == '-')
        return true;
    return (n == 2 && memcmp(s, "<<", 2) == 0) || (n == 1 && s[0] == '=');
}

/* Whether a string written plain would read back as itself. libyaml itself quotes what
 * YAML's syntax forbids plain (": ", " #", leading indicators, spaces at the ends). */
bool tby_yaml_plain_reads_back(const char *s, size_t n)
{
    struct tby_yaml_scalar sc;

    if (memchr(s, '\0', n) || yaml11_special(s, n))
        return false;
    return tby_yaml_resolve_plain(s, n, &sc) == 0 && sc.kind == TBY_YAML_STRING;
}

/* Shortest text that reads back as the same double, always with a '.' so that it
 * stays a real (1.0, 1.0e+20). */
void tby_yaml_format_real(double v, char *buf, size_t size)
{
    double back = 0;
    char *e;

    for (int prec = 15; prec <= 17; prec++) {
        c_format_double(buf, size, prec, v);
        if (c_strtod(buf, &back) == 0 && back == v)
            break;
    }
    if (strchr(buf, '.'))
        return;
    e = strpbrk(buf, "eE");
    if (e && strlen(buf) + 3 <= size) {
        memmove(e + 2, e, strlen(e) + 1);
        memcpy(e, ".0", 2);
    } else if (!e) {
        strncat(buf, ".0", size - strlen(buf) - 1);
    }
}
