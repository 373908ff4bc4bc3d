/* validate.c — name, label, port name, AS number, duration and MAC syntax. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/validate.h"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Checks [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..len). */
static bool dns_label_span(const char *s, size_t len)
{
    if (len == 0 || len > 63)
        return false;
    if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
        return false;
    for (size_t i = 1; i + 1 < len; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

bool tby_valid_dns1123_label(const char *s)
{
    return dns_label_span(s, strlen(s));
}

bool tby_valid_dns1123_subdomain(const char *s)
{
    size_t len = strlen(s);
    const char *part = s;

    if (len == 0 || len > 253)
        return false;
    for (;;) {
        const char *dot = strchr(part, '.');
        size_t part_len = dot ? (size_t)(dot - part) : strlen(part);

        if (!dns_label_span(part, part_len))
            return false;
        if (!dot)
            return true;
        part = dot + 1;
    }
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The shared form of a label key's name part and of a value (Kubernetes' "qualified
 * name"): NULL when s[0..len) fits, else why not. */
static const char *name_problem(const char *s, size_t len)
{
    if (len == 0)
        return "must not be empty";
    if (len > 63)
        return "must be 63 characters or less";
    if (!is_alnum(s[0]) || !is_alnum(s[len - 1]))
        return "must begin and end with a letter or digit";
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return "may contain only letters, digits, '-', '_' and '.'";
    return NULL;
}

/* A label key's prefix: dot-separated DNS labels, 253 characters in all (Kubernetes
 * checks the total length only, not each label's). */
static bool key_prefix_valid(const char *s, size_t len)
{
    size_t start = 0;

    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            if (!is_lower_alnum(s[i]) && s[i] != '-')
                return false;
            continue;
        }
        if (i == start || !is_lower_alnum(s[start]) || !is_lower_alnum(s[i - 1]))
            return false;
        start = i + 1;
    }
    return true;
}

const char *tby_label_key_problem(const char *key, const char **part)
{
    const char *slash = strchr(key, '/');
    const char *name = slash ? slash + 1 : key;

    *part = "";
    if (slash && strchr(name, '/'))
        return "may contain at most one '/'";
    if (slash && slash - key > 253)
        return "prefix must be 253 characters or less";
    if (slash && !key_prefix_valid(key, (size_t)(slash - key)))
        return "prefix must be a DNS subdomain: lowercase letters, digits, '-' and '.', "
               "with a letter or digit at each end of every part";
    *part = "name ";
    return name_problem(name, strlen(name));
}

const char *tby_label_value_problem(const char *value, size_t len)
{
    return len == 0 ? NULL : name_problem(value, len);
}

bool tby_valid_label_key(const char *s)
{
    const char *part;

    return s && !tby_label_key_problem(s, &part);
}

bool tby_valid_label_value(const char *s)
{
    return s && !tby_label_value_problem(s, strlen(s));
}

bool tby_valid_port_name(const char *s)
{
    size_t len = strlen(s);
    bool letter = false;

    if (len == 0 || len > 15 || s[0] == '-' || s[len - 1] == '-' || strstr(s, "--"))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= 'a' && s[i] <= 'z')
            letter = true;
        else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
            return false;
    }
    return letter;
}

bool tby_valid_interface_name(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '/' || isspace((unsigned char)s[i]) || s[i] == ':' ||
            !isprint((unsigned char)s[i]))
            return false;
    return true;
}

bool tby_valid_mac(const char *s)
{
    if (strlen(s) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2) {
            if (s[i] != ':')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

static int parse_u32(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t n = 0;

    if (len == 0 || len > 10)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        n = n * 10 + (uint64_t)(s[i] - '0');
    }
    if (n > max)
        return -ERANGE;
    *out = n;
    return 0;
}

int tby_asn_parse(const char *text, uint32_t *out, struct tby_error *err)
{
    const char *dot = strchr(text, '.');
    uint64_t high, low;

    if (!dot) {
        if (parse_u32(text, strlen(text), UINT32_MAX, &low) < 0)
            return tby_error_set(err, -EINVAL,
                                 "\"%s\" is not an AS number (0 to 4294967295, or dotted "
                                 "like 1.10)", text);
        *out = (uint32_t)low;
        return 0;
    }
    if (parse_u32(text, (size_t)(dot - text), 65535, &high) < 0 ||
        parse_u32(dot + 1, strlen(dot + 1), 65535, &low) < 0)
        return tby_error_set(err, -EINVAL,
                             "\"%s\" is not a dotted AS number (two parts of 0 to 65535, "
                             "like 1.10)", text);
    *out = (uint32_t)(high * 65536 + low);
    return 0;
}

/* Go's time.ParseDuration units that make sense for BGP timers. */
static int unit_ms(const char *unit, size_t len, double *ms)
{
    static const struct { const char *name; double ms; } units[] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
    };

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strlen(units[i].name) == len && strncmp(unit, units[i].name, len) == 0) {
            *ms = units[i].ms;
            return 0;
        }
    }
    return -EINVAL;
}

int tby_duration_parse(const char *text, uint64_t *ms_out, struct tby_error *err)
{
    const char *p = text;
    double total = 0;

    if (strcmp(text, "0") == 0) {
        *ms_out = 0;
        return 0;
    }
    while (*p) {
        char *end;
        double value, ms;
        size_t unit_len = 0;

        if (!isdigit((unsigned char)*p) && *p != '.')
            goto bad;
        value = strtod(p, &end);
        if (end == p)
            goto bad;
        while (isalpha((unsigned char)end[unit_len]))
            unit_len++;
        if (unit_ms(end, unit_len, &ms) < 0)
            goto bad;
        total += value * ms;
        p = end + unit_len;
    }
    if (p == text || total > 1e15)
        goto bad;
    /* Rounded, not truncated: 1.123 * 1000 is 1122.99… in binary, and the value must
     * survive tby_duration_format and a second parse unchanged. */
    *ms_out = (uint64_t)(total + 0.5);
    return 0;
bad:
    return tby_error_set(err, -EINVAL,
                         "\"%s\" is not a duration (like 120s, 1m30s or 500ms)", text);
}

char *tby_duration_format(uint64_t ms, char *buf)
{
    uint64_t hours = ms / 3600000, minutes = ms / 60000 % 60, secs = ms / 1000 % 60;
    unsigned frac = (unsigned)(ms % 1000);
    size_t len = 0;

    if (ms == 0) {
        snprintf(buf, TBY_DURATION_STRLEN, "0s");
        return buf;
    }
    if (ms < 1000) {
        snprintf(buf, TBY_DURATION_STRLEN, "%" PRIu64 "ms", ms);
        return buf;
    }
    /* Go writes hours and minutes once the duration reaches them, seconds always. */
    if (hours)
        len += (size_t)snprintf(buf, TBY_DURATION_STRLEN, "%" PRIu64 "h", hours);
    if (hours || minutes)
        len += (size_t)snprintf(buf + len, TBY_DURATION_STRLEN - len, "%" PRIu64 "m", minutes);
    len += (size_t)snprintf(buf + len, TBY_DURATION_STRLEN - len, "%" PRIu64, secs);
    if (frac) {
        len += (size_t)snprintf(buf + len, TBY_DURATION_STRLEN - len, ".%03u", frac);
        while (buf[len - 1] == '0')
            buf[--len] = '\0';
    }
    snprintf(buf + len, TBY_DURATION_STRLEN - len, "s");
    return buf;
}
