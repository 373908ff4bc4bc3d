/* kube_stream.c — a watch answer's bytes as consecutive JSON objects, and each object as
 * a watch event. Finding where an object ends needs only its braces, brackets and
 * strings; parsing it is jansson's. */
#include <errno.h>
#include <string.h>

#include "tabby/kube_watch.h"

#define DEFAULT_MAX_BYTES (64u << 20)
/* Deeper nesting than any Kubernetes object has; jansson refuses past 2048 anyway. */
#define MAX_DEPTH 1024

void tby_kube_splitter_init(struct tby_kube_splitter *s, size_t max_bytes)
{
    memset(s, 0, sizeof(*s));
    s->buf.max = max_bytes ? max_bytes : DEFAULT_MAX_BYTES;
}

void tby_kube_splitter_clear(struct tby_kube_splitter *s)
{
    size_t max = s->buf.max;

    tby_buf_clear(&s->buf);
    tby_kube_splitter_init(s, max);
}

void tby_kube_splitter_reset(struct tby_kube_splitter *s)
{
    tby_buf_reset(&s->buf);
    s->scanned = 0;
    s->depth = 0;
    s->in_string = s->escaped = false;
}

bool tby_kube_splitter_pending(const struct tby_kube_splitter *s)
{
    return s->depth > 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int garbage(struct tby_error *err, const char *want, size_t at, char c)
{
    if (c >= 0x20 && c < 0x7f)
        return tby_error_set(err, -EBADMSG, "watch stream: expected %s at byte %zu, got '%c'",
                             want, at, c);
    return tby_error_set(err, -EBADMSG, "watch stream: expected %s at byte %zu, got byte 0x%02x",
                         want, at, (unsigned char)c);
}

/* One object, bytes [start, end) of the buffer, parsed and handed out. */
static int emit(struct tby_kube_splitter *s, size_t start, size_t end, tby_kube_value_fn fn,
                void *ctx, struct tby_error *err)
{
    json_error_t jerr;
    json_t *value = json_loadb(s->buf.data + start, end - start, 0, &jerr);
    int r;

    if (!value)
        return tby_error_set(err, -EBADMSG, "watch stream: an object that is not JSON: %s "
                                            "(at its byte %d)", jerr.text, jerr.position);
    r = fn(value, ctx, err);
    json_decref(value);
    return r;
}

/* Follows the bytes from s->scanned on; `start` is where the current object (or the
 * whitespace before it) begins. */
static int scan(struct tby_kube_splitter *s, size_t *start, tby_kube_value_fn fn, void *ctx,
                struct tby_error *err)
{
    const char *b = s->buf.data;

    for (size_t i = s->scanned; i < s->buf.len; i++) {
        char c = b[i];

        s->scanned = i + 1;
        if (s->depth == 0) {
            if (is_space(c)) {
                *start = i + 1;
                continue;
            }
            if (c != '{')
                return garbage(err, "'{'", i, c);
            s->depth = 1;
            *start = i;
        } else if (s->in_string) {
            if (s->escaped)
                s->escaped = false;
            else if (c == '\\')
                s->escaped = true;
            else if (c == '"')
                s->in_string = false;
        } else if (c == '"') {
            s->in_string = true;
        } else if (c == '{' || c == '[') {
            if (++s->depth > MAX_DEPTH)
                return tby_error_set(err, -EBADMSG, "watch stream: nested deeper than %d",
                                     MAX_DEPTH);
        } else if (c == '}' || c == ']') {
            if (--s->depth == 0) {
                int r = emit(s, *start, i + 1, fn, ctx, err);

                *start = i + 1;
                if (r < 0)
                    return r;
            }
        }
    }
    return 0;
}

int tby_kube_splitter_feed(struct tby_kube_splitter *s, const char *data, size_t len,
                           tby_kube_value_fn fn, void *ctx, struct tby_error *err)
{
    size_t start = 0;
    int r;

    if (tby_buf_add(&s->buf, data, len) < 0) {
        r = tby_buf_error(&s->buf);
        if (r == -EFBIG)
            return tby_error_set(err, r, "watch stream: an object larger than %zu bytes",
                                 s->buf.max);
        return tby_error_set(err, r, "out of memory");
    }
    r = scan(s, &start, fn, ctx, err);
    if (r < 0)
        return r;
    /* What was handed out (and the whitespace after it) goes; the rest stays scanned. */
    tby_buf_consume(&s->buf, start);
    s->scanned -= start;
    return 0;
}

int tby_kube_event_decode(json_t *value, struct tby_kube_event *ev, struct tby_error *err)
{
    static const char *const types[] = {
        [TBY_KUBE_EVENT_ADDED] = "ADDED",       [TBY_KUBE_EVENT_MODIFIED] = "MODIFIED",
        [TBY_KUBE_EVENT_DELETED] = "DELETED",   [TBY_KUBE_EVENT_BOOKMARK] = "BOOKMARK",
        [TBY_KUBE_EVENT_ERROR] = "ERROR",
    };
    const char *type = json_string_value(json_object_get(value, "type"));
    json_t *meta;
    size_t t;

    memset(ev, 0, sizeof(*ev));
    for (t = 0; type && t < sizeof(types) / sizeof(types[0]); t++) {
        if (strcmp(type, types[t]) == 0)
            break;
    }
    if (!type || t == sizeof(types) / sizeof(types[0]))
        return tby_error_set(err, -EINVAL, "watch event: %s%s%s", type ? "unknown type \"" : "",
                             type ? type : "no type", type ? "\"" : "");
    ev->type = (enum tby_kube_event_type)t;
    ev->object = json_object_get(value, "object");
    if (!json_is_object(ev->object))
        return tby_error_set(err, -EINVAL, "watch event %s: no object", type);
    if (ev->type == TBY_KUBE_EVENT_ERROR)
        return 0;
    meta = json_object_get(ev->object, "metadata");
    ev->resource_version = json_string_value(json_object_get(meta, "resourceVersion"));
    ev->ns = json_string_value(json_object_get(meta, "namespace"));
    if (!ev->ns)
        ev->ns = "";
    if (!ev->resource_version || !*ev->resource_version)
        return tby_error_set(err, -EINVAL, "watch event %s: no metadata.resourceVersion", type);
    if (ev->type == TBY_KUBE_EVENT_BOOKMARK)
        return 0;
    ev->name = json_string_value(json_object_get(meta, "name"));
    if (!ev->name || !*ev->name)
        return tby_error_set(err, -EINVAL, "watch event %s: no metadata.name", type);
    return 0;
}
