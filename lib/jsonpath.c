/* jsonpath.c — kubectl's JSONPath as custom columns use it (tabby/jsonpath.h lists what is
 * taken): parsed once into steps, then walked over each document. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/buf.h"
#include "tabby/jsonpath.h"

enum step_kind { STEP_FIELD, STEP_INDEX, STEP_ALL };

struct step {
    enum step_kind kind;
    char *field;
    long index;
};

struct tby_jsonpath {
    struct step *steps;
    size_t n, cap;
};

void tby_jsonpath_free(struct tby_jsonpath *path)
{
    if (!path)
        return;
    for (size_t i = 0; i < path->n; i++)
        free(path->steps[i].field);
    free(path->steps);
    free(path);
}

static int push(struct tby_jsonpath *path, struct step step)
{
    if (TBY_GROW(path->steps, path->cap, path->n + 1) < 0) {
        free(step.field);
        return -ENOMEM;
    }
    path->steps[path->n++] = step;
    return 0;
}

struct parser {
    const char *text, *p, *end;
    struct tby_error *err;
};

static int fail(struct parser *ps, const char *what)
{
    return tby_error_set(ps->err, -EINVAL, "JSONPath \"%s\": %s at position %zu", ps->text,
                         what, (size_t)(ps->p - ps->text) + 1);
}

/* A name after '.': up to '.', '[' or the end, a backslash taking the next character. */
static int name(struct parser *ps, char **out)
{
    _cleanup_buf_ struct tby_buf b = { 0 };

    while (ps->p < ps->end && *ps->p != '.' && *ps->p != '[') {
        if (*ps->p == '\\' && ps->p + 1 < ps->end)
            ps->p++;
        else if (strchr("]{}()?@,' \"", *ps->p))
            break;
        tby_buf_addc(&b, *ps->p++);
    }
    if (tby_buf_error(&b))
        return tby_error_set(ps->err, -ENOMEM, "out of memory");
    if (b.len == 0)
        return fail(ps, "expected a field name");
    *out = tby_buf_steal(&b, NULL);
    return *out ? 0 : tby_error_set(ps->err, -ENOMEM, "out of memory");
}

/* '[' already taken: `*]`, `N]` or a quoted name and `]`. */
static int bracket(struct parser *ps, struct step *out)
{
    char *end;

    if (ps->p < ps->end && *ps->p == '*') {
        ps->p++;
        *out = (struct step){ .kind = STEP_ALL };
    } else if (ps->p < ps->end && (*ps->p == '\'' || *ps->p == '"')) {
        const char *close = memchr(ps->p + 1, *ps->p, (size_t)(ps->end - ps->p - 1));

        if (!close)
            return fail(ps, "unterminated quoted name");
        *out = (struct step){ .kind = STEP_FIELD,
                              .field = strndup(ps->p + 1, (size_t)(close - ps->p - 1)) };
        if (!out->field)
            return tby_error_set(ps->err, -ENOMEM, "out of memory");
        ps->p = close + 1;
    } else {
        errno = 0;
        out->index = strtol(ps->p, &end, 10);
        if (end == ps->p || errno || end > ps->end || *end == ':' || *end == ',')
            return fail(ps, *end == ':' || *end == ',' ? "slices and unions are not supported"
                                                       : "expected *, a number or a quoted name");
        out->kind = STEP_INDEX;
        ps->p = end;
    }
    if (ps->p >= ps->end || *ps->p != ']') {
        free(out->field);
        return fail(ps, "expected ]");
    }
    ps->p++;
    return 0;
}

static int parse_steps(struct parser *ps, struct tby_jsonpath *path)
{
    if (ps->p < ps->end && *ps->p == '$')
        ps->p++;
    if (ps->end - ps->p == 1 && *ps->p == '.')
        return 0;
    while (ps->p < ps->end) {
        struct step step = { 0 };
        int r;

        if (*ps->p == '.') {
            ps->p++;
            if (ps->p < ps->end && *ps->p == '.')
                return fail(ps, "recursive descent (..) is not supported");
            if (ps->p < ps->end && *ps->p == '*') {
                ps->p++;
                step.kind = STEP_ALL;
            } else if ((r = name(ps, &step.field)) < 0) {
                return r;
            }
        } else if (*ps->p == '[') {
            ps->p++;
            if (ps->p < ps->end && *ps->p == '?')
                return fail(ps, "filters are not supported");
            if ((r = bracket(ps, &step)) < 0)
                return r;
        } else {
            return fail(ps, "expected . or [");
        }
        if (push(path, step) < 0)
            return tby_error_set(ps->err, -ENOMEM, "out of memory");
    }
    return 0;
}

int tby_jsonpath_parse(const char *text, struct tby_jsonpath **out, struct tby_error *err)
{
    _cleanup_(tby_jsonpath_freep) struct tby_jsonpath *path = calloc(1, sizeof(*path));
    size_t len = strlen(text);
    struct parser ps = { text, text, text + len, err };
    int r;

    *out = NULL;
    if (!path)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (len > TBY_JSONPATH_MAX_LEN)
        return tby_error_set(err, -EINVAL, "JSONPath longer than %d characters",
                             TBY_JSONPATH_MAX_LEN);
    /* kubectl's template form: one {…} around the whole path. */
    if (len >= 2 && text[0] == '{' && text[len - 1] == '}') {
        ps.p++;
        ps.end--;
    }
    if (ps.p == ps.end)
        return tby_error_set(err, -EINVAL, "JSONPath \"%s\": empty (use . for the whole "
                                           "document)", text);
    /* kubectl's relaxed form: "metadata.name" is ".metadata.name". */
    if (*ps.p != '.' && *ps.p != '[' && *ps.p != '$') {
        struct step first = { .kind = STEP_FIELD };

        r = name(&ps, &first.field);
        if (r == 0 && push(path, first) < 0)
            r = tby_error_set(err, -ENOMEM, "out of memory");
        if (r < 0)
            return r;
    }
    r = parse_steps(&ps, path);
    if (r < 0)
        return r;
    *out = TBY_STEAL(path);
    return 0;
}

static int walk(const struct tby_jsonpath *path, size_t at, const json_t *v, json_t *out)
{
    const struct step *s;
    const char *key;
    json_t *child;
    size_t i;
    int r = 0;

    if (at == path->n)
        return json_array_append(out, (json_t *)v) < 0 ? -ENOMEM : 0;
    s = &path->steps[at];
    switch (s->kind) {
    case STEP_FIELD:
        child = json_is_object(v) ? json_object_get(v, s->field) : NULL;
        return child ? walk(path, at + 1, child, out) : 0;
    case STEP_INDEX:
        if (!json_is_array(v))
            return 0;
        if (s->index < 0 && (size_t)-(s->index + 1) < json_array_size(v))
            child = json_array_get(v, json_array_size(v) - (size_t)-(s->index + 1) - 1);
        else
            child = s->index >= 0 ? json_array_get(v, (size_t)s->index) : NULL;
        return child ? walk(path, at + 1, child, out) : 0;
    case STEP_ALL:
        if (json_is_array(v)) {
            json_array_foreach(v, i, child) {
                if (r == 0)
                    r = walk(path, at + 1, child, out);
            }
        }
        if (json_is_object(v)) {
            json_object_foreach((json_t *)v, key, child) {
                if (r == 0)
                    r = walk(path, at + 1, child, out);
            }
        }
        return r;
    }
    return 0;
}

int tby_jsonpath_eval(const struct tby_jsonpath *path, const json_t *doc, json_t *out)
{
    return doc ? walk(path, 0, doc, out) : 0;
}

char *tby_jsonpath_text(const json_t *values)
{
    _cleanup_buf_ struct tby_buf b = { 0 };
    const json_t *v;
    size_t i;

    if (json_array_size(values) == 0)
        return strdup("<none>");
    json_array_foreach(values, i, v) {
        _cleanup_free_ char *dumped = NULL;

        if (i)
            tby_buf_addc(&b, ',');
        if (json_is_string(v))
            tby_buf_add(&b, json_string_value(v), json_string_length(v));
        else if ((dumped = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS)))
            tby_buf_adds(&b, dumped);
        else
            return NULL;
    }
    return tby_buf_error(&b) ? NULL : tby_buf_steal(&b, NULL);
}
