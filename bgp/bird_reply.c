/* bird_reply.c — BIRD's control-socket replies: lines into replies, and replies of the show
 * commands into values. Everything here reads untrusted bytes: it bounds what it keeps
 * and reports what it cannot read as -EPROTO. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/bird.h"
#include "tabby/cleanup.h"

void tby_bird_reply_clear(struct tby_bird_reply *reply)
{
    for (size_t i = 0; i < reply->n; i++)
        free(reply->lines[i].text);
    free(reply->lines);
    memset(reply, 0, sizeof(*reply));
}

bool tby_bird_code_is_error(int code)
{
    return code >= 8000;
}

const char *tby_bird_reply_message(const struct tby_bird_reply *reply)
{
    return reply->n ? reply->lines[reply->n - 1].text : "";
}

static int four_digits(const char *s, size_t len)
{
    int code = 0;

    if (len < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        code = code * 10 + (s[i] - '0');
    }
    return code;
}

static int push_line(struct tby_bird_reply *reply, int code, const char *text, size_t len,
                     struct tby_error *err)
{
    char *copy;

    if (reply->bytes + len + 1 > TBY_BIRD_REPLY_MAX)
        return tby_error_set(err, -EPROTO, "BIRD reply longer than %d bytes",
                             TBY_BIRD_REPLY_MAX);
    copy = strndup(text, len);
    if (!copy)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (TBY_GROW(reply->lines, reply->cap, reply->n + 1) < 0) {
        free(copy);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    reply->lines[reply->n++] = (struct tby_bird_line){ .code = code, .text = copy };
    reply->bytes += len + 1;
    return 0;
}

int tby_bird_reply_feed(struct tby_bird_reply *reply, const char *line, size_t len,
                        struct tby_error *err)
{
    int code = four_digits(line, len);
    int r;

    if (reply->done)
        return tby_error_set(err, -EPROTO, "BIRD reply: a line after the final one");
    if (len > TBY_BIRD_LINE_MAX)
        return tby_error_set(err, -EPROTO, "BIRD reply: a line longer than %d bytes",
                             TBY_BIRD_LINE_MAX);
    if (memchr(line, '\0', len))
        return tby_error_set(err, -EPROTO, "BIRD reply: a NUL byte in a line");
    if (len > 0 && line[0] == '+')
        return 0;
    if (len > 0 && line[0] == ' ') {
        if (reply->n == 0)
            return tby_error_set(err, -EPROTO, "BIRD reply: a continuation line without "
                                 "a code before it");
        return push_line(reply, reply->lines[reply->n - 1].code, line + 1, len - 1, err);
    }
    if (code < 0 || len < 5 || (line[4] != '-' && line[4] != ' '))
        return tby_error_set(err, -EPROTO, "BIRD reply: malformed line \"%.*s\"",
                             (int)(len < 60 ? len : 60), line);
    r = push_line(reply, code, line + 5, len - 5, err);
    if (r < 0 || line[4] == '-')
        return r;
    reply->code = code;
    reply->done = true;
    return 1;
}

int tby_bird_reply_parse(const char *buf, size_t len, struct tby_bird_reply *out, size_t *used,
                         struct tby_error *err)
{
    size_t pos = 0;

    memset(out, 0, sizeof(*out));
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        int r;

        if (!nl)
            break;
        r = tby_bird_reply_feed(out, buf + pos, (size_t)(nl - (buf + pos)), err);
        pos = (size_t)(nl - buf) + 1;
        if (r < 0) {
            tby_bird_reply_clear(out);
            return r;
        }
        if (r == 1) {
            *used = pos;
            return 0;
        }
    }
    tby_bird_reply_clear(out);
    if (len - pos > TBY_BIRD_LINE_MAX)
        return tby_error_set(err, -EPROTO, "BIRD reply: a line longer than %d bytes",
                             TBY_BIRD_LINE_MAX);
    return -EAGAIN;
}

/* ---- show status ------------------------------------------------------------------------ */

/* Copies the text after `prefix` into dst when line starts with it. */
static bool take_after(const char *line, const char *prefix, char *dst, size_t size)
{
    size_t n = strlen(prefix);

    if (strncmp(line, prefix, n) != 0)
        return false;
    snprintf(dst, size, "%s", line + n);
    return true;
}

int tby_bird_status_parse(const struct tby_bird_reply *reply, struct tby_bird_status *out,
                          struct tby_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!reply->done || reply->code != 13)
        return tby_error_set(err, -EPROTO, "BIRD: show status: unexpected reply code %04d",
                             reply->code);
    for (size_t i = 0; i < reply->n; i++) {
        const char *t = reply->lines[i].text;

        if (reply->lines[i].code == 1000)
            take_after(t, "BIRD ", out->version, sizeof(out->version));
        take_after(t, "Router ID is ", out->router_id, sizeof(out->router_id));
        take_after(t, "Last reboot on ", out->last_reboot, sizeof(out->last_reboot));
        take_after(t, "Last reconfiguration on ", out->last_reconfiguration,
                   sizeof(out->last_reconfiguration));
    }
    snprintf(out->message, sizeof(out->message), "%s", tby_bird_reply_message(reply));
    return 0;
}

/* ---- show protocols ------------------------------------------------------------------------ */

static void protocol_clear(struct tby_bird_protocol *p)
{
    free(p->name);
    free(p->proto);
    free(p->table);
    free(p->state);
    free(p->since);
    free(p->info);
    free(p->bgp_state);
    free(p->last_error);
}

void tby_bird_protocols_clear(struct tby_bird_protocols *list)
{
    for (size_t i = 0; i < list->n; i++)
        protocol_clear(&list->items[i]);
    free(list->items);
    memset(list, 0, sizeof(*list));
}

/* The next blank-separated word of *p as a new string, or NULL at the end. */
static char *next_word(const char **p)
{
    const char *s = *p + strspn(*p, " \t");
    size_t n = strcspn(s, " \t");

    *p = s + n;
    return n ? strndup(s, n) : NULL;
}

static bool looks_like_date(const char *w)
{
    return w && strlen(w) == 10 && w[4] == '-' && w[7] == '-';
}

static char *trimmed(const char *s)
{
    size_t n;

    s += strspn(s, " \t");
    n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return strndup(s, n);
}

/* "Name Proto Table State Since Info": Since is one word ("01:02:03") or, with
 * `timeformat protocol iso long`, a date and a time. */
static int summary_line(const char *t, struct tby_bird_protocol *p)
{
    const char *s = t;

    p->name = next_word(&s);
    p->proto = next_word(&s);
    p->table = next_word(&s);
    p->state = next_word(&s);
    p->since = next_word(&s);
    if (!p->name || !p->proto || !p->table || !p->state || !p->since)
        return -EPROTO;
    if (looks_like_date(p->since)) {
        const char *save = s;
        _cleanup_free_ char *time = next_word(&s);
        char *joined = NULL;

        if (time && strchr(time, ':') && asprintf(&joined, "%s %s", p->since, time) >= 0) {
            free(p->since);
            p->since = joined;
        } else {
            s = save;
        }
    }
    p->info = trimmed(s);
    return p->info ? 0 : -ENOMEM;
}

static int detail_line(const char *t, struct tby_bird_protocol *p)
{
    const char *v;
    unsigned long long a = 0, b = 0;

    t += strspn(t, " \t");
    if (strncmp(t, "BGP state:", 10) == 0 && !p->bgp_state)
        return (p->bgp_state = trimmed(t + 10)) ? 0 : -ENOMEM;
    if (strncmp(t, "Last error:", 11) == 0 && !p->last_error)
        return (p->last_error = trimmed(t + 11)) ? 0 : -ENOMEM;
    if (strncmp(t, "Neighbor address:", 17) == 0) {
        _cleanup_free_ char *ip = trimmed(t + 17);

        if (!ip)
            return -ENOMEM;
        /* "fe80::1%eth0" for link-local peers: the address is what counts. */
        ip[strcspn(ip, "%")] = '\0';
        p->has_neighbor = tby_ip_parse(ip, &p->neighbor, NULL) == 0;
        return 0;
    }
    if (strncmp(t, "Neighbor AS:", 12) == 0) {
        v = t + 12;
        p->neighbor_as = (uint32_t)strtoul(v, NULL, 10);
        return 0;
    }
    if (strncmp(t, "Routes:", 7) == 0 && sscanf(t + 7, " %llu imported, %llu exported", &a,
                                                 &b) == 2) {
        p->routes_imported += a;
        p->routes_exported += b;
    }
    return 0;
}

static int push_protocol(struct tby_bird_protocols *list)
{
    if (TBY_GROW(list->items, list->cap, list->n + 1) < 0)
        return -ENOMEM;
    memset(&list->items[list->n++], 0, sizeof(*list->items));
    return 0;
}

int tby_bird_protocols_parse(const struct tby_bird_reply *reply, struct tby_bird_protocols *out,
                             struct tby_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!reply->done || tby_bird_code_is_error(reply->code))
        return tby_error_set(err, -EPROTO, "BIRD: show protocols: reply code %04d: %s",
                             reply->code, tby_bird_reply_message(reply));
    for (size_t i = 0; i < reply->n; i++) {
        const struct tby_bird_line *l = &reply->lines[i];
        int r = 0;

        if (l->code == 1002) {
            r = push_protocol(out);
            if (r == 0)
                r = summary_line(l->text, &out->items[out->n - 1]);
        } else if (l->code == 1006 && out->n) {
            r = detail_line(l->text, &out->items[out->n - 1]);
        }
        if (r < 0) {
            tby_bird_protocols_clear(out);
            return tby_error_set(err, r, "BIRD: show protocols: %s \"%.60s\"",
                                 r == -ENOMEM ? "out of memory at" : "cannot read", l->text);
        }
    }
    return 0;
}

/* ---- show route … count ------------------------------------------------------------------ */

/* "0014 Total: 7 of 7 routes for 7 networks in 2 tables" or, for one table, only
 * "1007-7 of 7 routes for 7 networks in table master4" lines. */
int tby_bird_route_count_parse(const struct tby_bird_reply *reply, uint64_t *routes,
                               struct tby_error *err)
{
    uint64_t sum = 0;
    bool any = false;

    if (!reply->done || tby_bird_code_is_error(reply->code))
        return tby_error_set(err, -EPROTO, "BIRD: show route count: reply code %04d: %s",
                             reply->code, tby_bird_reply_message(reply));
    for (size_t i = 0; i < reply->n; i++) {
        const struct tby_bird_line *l = &reply->lines[i];
        uint64_t shown, total;

        if (l->code == 14 && sscanf(l->text, "Total: %" SCNu64 " of %" SCNu64, &shown,
                                    &total) == 2) {
            *routes = shown;
            return 0;
        }
        if (l->code == 1007 && sscanf(l->text, "%" SCNu64 " of %" SCNu64, &shown,
                                      &total) == 2) {
            sum += shown;
            any = true;
        }
    }
    if (!any)
        return tby_error_set(err, -EPROTO, "BIRD: show route count: no count in the reply");
    *routes = sum;
    return 0;
}
