/* codec.c — path-tracking decode helpers and omit-empty encode helpers. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/codec.h"
#include "tabby/validate.h"

void tby_dec_init(struct tby_dec *d, struct tby_error *err)
{
    d->err = err;
    d->path[0] = '\0';
    d->len = 0;
    d->unknown = NULL;
    d->unknown_ctx = NULL;
    d->survey = NULL;
    d->survey_ctx = NULL;
}

void tby_dec_set_survey(struct tby_dec *d, tby_dec_survey_fn fn, void *ctx)
{
    d->survey = fn;
    d->survey_ctx = ctx;
}

void tby_dec_set_lenient(struct tby_dec *d, tby_dec_unknown_fn fn, void *ctx)
{
    d->unknown = fn;
    d->unknown_ctx = ctx;
}

static size_t append(struct tby_dec *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static size_t append(struct tby_dec *d, const char *fmt, ...)
{
    size_t mark = d->len;
    va_list ap;
    int n;

    if (d->len < sizeof(d->path) - 1) {
        va_start(ap, fmt);
        n = vsnprintf(d->path + d->len, sizeof(d->path) - d->len, fmt, ap);
        va_end(ap);
        if (n > 0)
            d->len += (size_t)n;
        if (d->len >= sizeof(d->path))
            d->len = sizeof(d->path) - 1;
    }
    return mark;
}

size_t tby_dec_enter(struct tby_dec *d, const char *field)
{
    return d->len ? append(d, ".%s", field) : append(d, "%s", field);
}

size_t tby_dec_enter_index(struct tby_dec *d, size_t index)
{
    return append(d, "[%zu]", index);
}

void tby_dec_leave(struct tby_dec *d, size_t mark)
{
    d->len = mark;
    d->path[mark] = '\0';
}

static int failv(struct tby_dec *d, const char *fmt, va_list ap)
{
    char msg[TBY_ERROR_MAX];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (d->len)
        return tby_error_set(d->err, -EINVAL, "%s: %s", d->path, msg);
    return tby_error_set(d->err, -EINVAL, "%s", msg);
}

int tby_dec_fail(struct tby_dec *d, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = failv(d, fmt, ap);
    va_end(ap);
    return r;
}

int tby_dec_fail_at(struct tby_dec *d, const char *field, const char *fmt, ...)
{
    size_t mark = tby_dec_enter(d, field);
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = failv(d, fmt, ap);
    va_end(ap);
    tby_dec_leave(d, mark);
    return r;
}

const json_t *tby_dec_get(const json_t *obj, const char *field)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, field) : NULL;

    return json_is_null(v) ? NULL : v;
}

const char *tby_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

int tby_dec_expect_object(struct tby_dec *d, const json_t *obj)
{
    if (!json_is_object(obj))
        return tby_dec_fail(d, "must be an object, got %s", tby_json_type_name(obj));
    return 0;
}

int tby_dec_refuse_at(struct tby_dec *d, const char *field, const char *fmt, ...)
{
    char msg[TBY_ERROR_MAX];
    va_list ap;

    if (d->unknown) {
        d->unknown(d->unknown_ctx, d->path, field);
        return 1;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tby_dec_fail_at(d, field, "%s", msg);
}

int tby_dec_known_fields(struct tby_dec *d, const json_t *obj, const char *const *fields)
{
    const char *key;
    json_t *value;

    if (d->survey)
        d->survey(d->survey_ctx, d->path, fields);
    json_object_foreach((json_t *)obj, key, value) {
        bool known = false;

        for (size_t i = 0; fields[i] && !known; i++)
            known = strcmp(fields[i], key) == 0;
        if (!known && d->unknown)
            d->unknown(d->unknown_ctx, d->path, key);
        else if (!known)
            return tby_dec_fail_at(d, key, "unknown field");
    }
    return 0;
}

static int wrong_type(struct tby_dec *d, const char *field, const char *want, const json_t *v)
{
    return tby_dec_fail_at(d, field, "must be %s, got %s", want, tby_json_type_name(v));
}

int tby_dec_string_value(struct tby_dec *d, const json_t *v, const char **out)
{
    if (!json_is_string(v))
        return tby_dec_fail(d, "must be a string, got %s", tby_json_type_name(v));
    if (strlen(json_string_value(v)) != json_string_length(v))
        return tby_dec_fail(d, "must not contain NUL characters");
    *out = json_string_value(v);
    return 0;
}

int tby_dec_string(struct tby_dec *d, const json_t *obj, const char *field, bool required,
                   char **out)
{
    const json_t *v = tby_dec_get(obj, field);
    const char *text = NULL;
    size_t mark;
    char *copy;
    int r;

    if (!v)
        return required ? tby_dec_fail_at(d, field, "is required") : 0;
    mark = tby_dec_enter(d, field);
    r = tby_dec_string_value(d, v, &text);
    tby_dec_leave(d, mark);
    if (r < 0)
        return r;
    copy = strdup(text);
    if (!copy)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    free(*out);
    *out = copy;
    return 0;
}

int tby_dec_bool(struct tby_dec *d, const json_t *obj, const char *field, bool *out)
{
    const json_t *v = tby_dec_get(obj, field);

    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return wrong_type(d, field, "true or false", v);
    *out = json_is_true(v);
    return 0;
}

int tby_dec_int(struct tby_dec *d, const json_t *obj, const char *field, int64_t min,
                int64_t max, int64_t *out, bool *present)
{
    const json_t *v = tby_dec_get(obj, field);
    int64_t n;

    if (present)
        *present = v != NULL;
    if (!v)
        return 0;
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        fabs(json_real_value(v)) < 9e15)
        n = (int64_t)json_real_value(v);
    else if (json_is_integer(v))
        n = json_integer_value(v);
    else
        return wrong_type(d, field, "an integer", v);
    if (n < min || n > max)
        return tby_dec_fail_at(d, field, "must be between %lld and %lld, got %lld",
                               (long long)min, (long long)max, (long long)n);
    *out = n;
    return 0;
}

int tby_dec_number(struct tby_dec *d, const json_t *obj, const char *field, double *out,
                   bool *present)
{
    const json_t *v = tby_dec_get(obj, field);

    if (present)
        *present = v != NULL;
    if (!v)
        return 0;
    if (!json_is_number(v))
        return wrong_type(d, field, "a number", v);
    *out = json_number_value(v);
    return 0;
}

int tby_dec_enum_value(struct tby_dec *d, const json_t *value, const char *const *names,
                       int *out)
{
    char choices[256] = "";
    size_t len = 0;

    if (json_is_string(value)) {
        for (int i = 0; names[i]; i++) {
            if (strcmp(names[i], json_string_value(value)) == 0) {
                *out = i;
                return 0;
            }
        }
    }
    for (int i = 0; names[i] && len < sizeof(choices); i++)
        len += (size_t)snprintf(choices + len, sizeof(choices) - len, "%s%s",
                                i ? (names[i + 1] ? ", " : " or ") : "", names[i]);
    if (!json_is_string(value))
        return tby_dec_fail(d, "must be one of %s, got %s", choices, tby_json_type_name(value));
    return tby_dec_fail(d, "must be one of %s, got \"%s\"", choices,
                        json_string_value(value));
}

int tby_dec_enum(struct tby_dec *d, const json_t *obj, const char *field,
                 const char *const *names, int *out)
{
    const json_t *v = tby_dec_get(obj, field);
    size_t mark;
    int r;

    if (!v)
        return 0;
    mark = tby_dec_enter(d, field);
    r = tby_dec_enum_value(d, v, names, out);
    tby_dec_leave(d, mark);
    return r;
}

int tby_dec_array(struct tby_dec *d, const json_t *obj, const char *field, const json_t **out)
{
    const json_t *v = tby_dec_get(obj, field);

    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_array(v))
        return wrong_type(d, field, "a list", v);
    *out = v;
    return 0;
}

int tby_dec_object(struct tby_dec *d, const json_t *obj, const char *field,
                   const json_t **out)
{
    const json_t *v = tby_dec_get(obj, field);

    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_object(v))
        return wrong_type(d, field, "an object", v);
    *out = v;
    return 0;
}

int tby_dec_strv(struct tby_dec *d, const json_t *obj, const char *field,
                 struct tby_strv *out)
{
    const json_t *arr, *item;
    size_t i, mark;
    int r = tby_dec_array(d, obj, field, &arr);

    tby_strv_clear(out);
    if (r < 0 || !arr)
        return r;
    mark = tby_dec_enter(d, field);
    json_array_foreach(arr, i, item) {
        const char *text = NULL;
        size_t m = tby_dec_enter_index(d, i);

        r = tby_dec_string_value(d, item, &text);
        tby_dec_leave(d, m);
        if (r < 0)
            break;
        if (tby_strv_push(out, text) < 0) {
            r = tby_error_set(d->err, -ENOMEM, "out of memory");
            break;
        }
    }
    tby_dec_leave(d, mark);
    if (r < 0)
        tby_strv_clear(out);
    return r;
}

int tby_dec_list(struct tby_dec *d, const json_t *obj, const char *field, size_t size,
                 tby_dec_item_fn item, void (*clear)(void *elem), void *ctx, void **items,
                 size_t *n)
{
    const json_t *arr, *value;
    size_t i, mark, done = 0;
    char *array;
    int r = tby_dec_array(d, obj, field, &arr);

    *items = NULL;
    *n = 0;
    if (r < 0 || !arr || json_array_size(arr) == 0)
        return r;
    array = calloc(json_array_size(arr), size);
    if (!array)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    mark = tby_dec_enter(d, field);
    json_array_foreach(arr, i, value) {
        size_t m = tby_dec_enter_index(d, i);

        r = item(d, value, array + i * size, ctx);
        tby_dec_leave(d, m);
        if (r < 0)
            break;
        done = i + 1;
    }
    tby_dec_leave(d, mark);
    if (r < 0) {
        for (i = 0; clear && i < done; i++)
            clear(array + i * size);
        free(array);
        return r;
    }
    *items = array;
    *n = done;
    return 0;
}

int tby_dec_enum_set(struct tby_dec *d, const json_t *obj, const char *field,
                     const char *const *names, bool unique, unsigned *out)
{
    const json_t *arr, *item;
    size_t i, mark;
    int r = tby_dec_array(d, obj, field, &arr);

    *out = 0;
    if (r < 0 || !arr)
        return r;
    mark = tby_dec_enter(d, field);
    json_array_foreach(arr, i, item) {
        size_t m = tby_dec_enter_index(d, i);
        int value = 0;

        r = tby_dec_enum_value(d, item, names, &value);
        if (r == 0 && unique && (*out & (1u << value)))
            r = tby_dec_fail(d, "\"%s\" is listed more than once", names[value]);
        tby_dec_leave(d, m);
        if (r < 0)
            break;
        *out |= 1u << value;
    }
    tby_dec_leave(d, mark);
    return r;
}

/* Go's strconv.FormatFloat(v, 'g', -1, 32): the fewest digits that read back as the
 * same float32, in %e form when the exponent is below -4 or at least 6 (Go decides on
 * 6 for the shortest form, where C's %g would use the digit count). */
static void go_float32_text(double value, char buf[TBY_SCALAR_TEXT_MAX])
{
    float f = (float)value;
    char digits[TBY_SCALAR_TEXT_MAX];
    int n, exp;

    for (n = 1; n < 9; n++) {
        snprintf(digits, sizeof(digits), "%.*e", n - 1, (double)f);
        if (strtof(digits, NULL) == f)
            break;
    }
    snprintf(digits, sizeof(digits), "%.*e", n - 1, (double)f);
    exp = atoi(strchr(digits, 'e') + 1);
    if (exp < -4 || exp >= 6)
        memcpy(buf, digits, sizeof(digits));
    else
        snprintf(buf, TBY_SCALAR_TEXT_MAX, "%.*f", n - 1 - exp > 0 ? n - 1 - exp : 0,
                 (double)f);
}

const char *tby_scalar_text(const json_t *v, char *buf)
{
    if (json_is_integer(v))
        snprintf(buf, TBY_SCALAR_TEXT_MAX, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        go_float32_text(json_real_value(v), buf);
    else if (json_is_boolean(v))
        snprintf(buf, TBY_SCALAR_TEXT_MAX, "%s", json_is_true(v) ? "true" : "false");
    else
        return NULL;
    return buf;
}

/* Checks one entry and adds it to `map` as a string. */
static int map_entry(struct tby_dec *d, const char *key, const json_t *value, bool labels,
                     json_t *map)
{
    char scalar[TBY_SCALAR_TEXT_MAX];
    const char *part, *problem, *text;
    size_t len;

    if (json_is_string(value)) {
        text = json_string_value(value);
        len = json_string_length(value);
    } else if (json_is_null(value) || tby_scalar_text(value, scalar)) {
        text = json_is_null(value) ? "" : scalar;
        len = strlen(text);
    } else {
        return tby_dec_fail_at(d, key, "must be a string, got %s", tby_json_type_name(value));
    }
    if (labels) {
        problem = tby_label_key_problem(key, &part);
        if (problem)
            return tby_dec_fail_at(d, key, "invalid label key: %s%s", part, problem);
        problem = tby_label_value_problem(text, len);
        if (problem)
            return tby_dec_fail_at(d, key, "invalid label value \"%s\": %s", text, problem);
    }
    if (json_object_set_new(map, key, json_is_string(value) ? json_deep_copy(value)
                                                            : json_string(text)) < 0)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    return 0;
}

/* The one empty map that decoding hands out (a new reference each time): most resources
 * have no annotations, many no labels, and an empty jansson object costs some 200 bytes
 * (its hash table) per resource held. Made once, never freed. */
static json_t *shared_empty_map(void)
{
    static json_t *empty;
    json_t *e = __atomic_load_n(&empty, __ATOMIC_ACQUIRE), *fresh;

    if (!e) {
        if (!(fresh = json_object()))
            return NULL;
        e = NULL;
        if (__atomic_compare_exchange_n(&empty, &e, fresh, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            e = fresh;
        else
            json_decref(fresh);
    }
    return json_incref(e);
}

int tby_dec_string_map(struct tby_dec *d, const json_t *obj, const char *field, bool labels,
                       json_t **out)
{
    _cleanup_json_ json_t *copy = NULL;
    const json_t *map;
    const char *key;
    json_t *value;
    size_t mark;
    int r = tby_dec_object(d, obj, field, &map);

    *out = NULL;
    if (r < 0)
        return r;
    if (!map || json_object_size(map) == 0) {
        *out = shared_empty_map();
        return *out ? 0 : tby_error_set(d->err, -ENOMEM, "out of memory");
    }
    copy = json_object();
    if (!copy)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    mark = tby_dec_enter(d, field);
    json_object_foreach((json_t *)map, key, value) {
        r = map_entry(d, key, value, labels, copy);
        if (r < 0)
            break;
    }
    tby_dec_leave(d, mark);
    if (r < 0)
        return r;
    *out = TBY_STEAL(copy);
    return 0;
}

/* ---- encoding ------------------------------------------------------------------ */

void tby_enc_string(json_t *obj, const char *key, const char *value)
{
    if (value)
        json_object_set_new(obj, key, json_string(value));
}

void tby_enc_bool(json_t *obj, const char *key, bool value)
{
    json_object_set_new(obj, key, json_boolean(value));
}

void tby_enc_true(json_t *obj, const char *key, bool value)
{
    if (value)
        json_object_set_new(obj, key, json_true());
}

void tby_enc_int(json_t *obj, const char *key, int64_t value)
{
    json_object_set_new(obj, key, json_integer(value));
}

void tby_enc_strv(json_t *obj, const char *key, const struct tby_strv *v)
{
    json_t *arr;

    if (!v->n)
        return;
    arr = json_array();
    for (size_t i = 0; i < v->n; i++)
        json_array_append_new(arr, json_string(v->items[i]));
    json_object_set_new(obj, key, arr);
}

void tby_enc_take(json_t *obj, const char *key, json_t *value)
{
    if (!value)
        return;
    if ((json_is_object(value) && json_object_size(value) == 0) ||
        (json_is_array(value) && json_array_size(value) == 0)) {
        json_decref(value);
        return;
    }
    json_object_set_new(obj, key, value);
}
