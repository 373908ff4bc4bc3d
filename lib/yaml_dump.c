/* yaml_dump.c — jansson trees to YAML text through libyaml's emitter, quoting every
 * string that tabby's reader (or a YAML 1.1 reader such as kubectl's) would misread. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/yaml.h"
#include "yaml_scalar.h"

struct dumper {
    yaml_emitter_t emitter;
    struct tby_buf out;
    int flags;
    struct tby_error *err;
};

static int write_out(void *data, unsigned char *bytes, size_t size)
{
    struct dumper *d = data;

    return tby_buf_add(&d->out, bytes, size) == 0;
}

/* `made` is what the event's initializer returned. */
static int emit(struct dumper *d, yaml_event_t *ev, int made)
{
    if (!made)
        return tby_error_set(d->err, -ENOMEM, "cannot write YAML: out of memory");
    /* The emitter owns the event from here on, whether it succeeds or not. */
    if (yaml_emitter_emit(&d->emitter, ev))
        return 0;
    if (d->emitter.error == YAML_MEMORY_ERROR || d->emitter.error == YAML_WRITER_ERROR)
        return tby_error_set(d->err, -ENOMEM, "cannot write YAML: out of memory");
    return tby_error_set(d->err, -EINVAL, "cannot write YAML: %s",
                         d->emitter.problem ? d->emitter.problem : "unknown error");
}

static int emit_scalar(struct dumper *d, const char *s, size_t n, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    int plain = style == YAML_PLAIN_SCALAR_STYLE || style == YAML_ANY_SCALAR_STYLE;

    if (n > INT32_MAX)
        return tby_error_set(d->err, -E2BIG, "cannot write YAML: a string is over 2 GiB");
    /* jansson checks UTF-8 when it makes a string, so this fails for a string made
     * with json_string_nocheck() (or for want of memory). */
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, plain, 1,
                                      style))
        return tby_error_set(d->err, -EINVAL, "cannot write YAML: a string is not UTF-8");
    return emit(d, &ev, 1);
}

/* Line breaks YAML folds or normalises when it reads them back (all but '\n'). */
static bool has_odd_break(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const unsigned char *u = (const unsigned char *)s + i;

        if (u[0] == '\r')
            return true;
        if (u[0] == 0xC2 && i + 1 < n && u[1] == 0x85) /* NEL */
            return true;
        if (u[0] == 0xE2 && i + 2 < n && u[1] == 0x80 && (u[2] == 0xA8 || u[2] == 0xA9))
            return true; /* LS, PS */
    }
    return false;
}

static int emit_string(struct dumper *d, const char *s, size_t n)
{
    yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;

    if (memchr(s, '\n', n) || has_odd_break(s, n))
        /* libyaml falls back to double quotes where a literal block cannot hold it. */
        style = has_odd_break(s, n) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                    : YAML_LITERAL_SCALAR_STYLE;
    else if (!tby_yaml_plain_reads_back(s, n))
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    return emit_scalar(d, s, n, style);
}

static int dump_value(struct dumper *d, const json_t *value, unsigned depth);

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys in the order to write them; the caller frees the array (not the keys). */
static const char **object_keys(const json_t *object, bool sorted)
{
    size_t n = json_object_size(object), i = 0;
    const char **keys = malloc((n ? n : 1) * sizeof(*keys));
    const char *key;
    json_t *child;

    if (!keys)
        return NULL;
    /* jansson's iteration takes a non-const object but does not change it. */
    json_object_foreach((json_t *)object, key, child)
        keys[i++] = key;
    if (sorted)
        qsort(keys, n, sizeof(*keys), cmp_keys);
    return keys;
}

static int dump_object(struct dumper *d, const json_t *object, unsigned depth)
{
    size_t n = json_object_size(object);
    _cleanup_free_ const char **keys = NULL;
    yaml_event_t ev;
    int r;

    r = emit(d, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                        n ? YAML_BLOCK_MAPPING_STYLE
                                                          : YAML_FLOW_MAPPING_STYLE));
    if (r < 0)
        return r;
    keys = object_keys(object, d->flags & TBY_YAML_SORT_KEYS);
    if (!keys)
        return tby_error_set(d->err, -ENOMEM, "cannot write YAML: out of memory");
    for (size_t i = 0; i < n; i++) {
        r = emit_string(d, keys[i], strlen(keys[i]));
        if (r < 0)
            return r;
        r = dump_value(d, json_object_get(object, keys[i]), depth + 1);
        if (r < 0)
            return r;
    }
    return emit(d, &ev, yaml_mapping_end_event_initialize(&ev));
}

static int dump_array(struct dumper *d, const json_t *array, unsigned depth)
{
    size_t n = json_array_size(array);
    yaml_event_t ev;
    int r;

    r = emit(d, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                         n ? YAML_BLOCK_SEQUENCE_STYLE
                                                           : YAML_FLOW_SEQUENCE_STYLE));
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        r = dump_value(d, json_array_get(array, i), depth + 1);
        if (r < 0)
            return r;
    }
    return emit(d, &ev, yaml_sequence_end_event_initialize(&ev));
}

static int dump_value(struct dumper *d, const json_t *value, unsigned depth)
{
    char num[64];

    /* `depth` counts the collections around `value`, as the reader's limit does. */
    if ((json_is_object(value) || json_is_array(value)) && depth >= TBY_YAML_DEPTH_LIMIT)
        return tby_error_set(d->err, -E2BIG, "cannot write YAML: nested deeper than %u levels",
                             TBY_YAML_DEPTH_LIMIT);
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return dump_object(d, value, depth);
    case JSON_ARRAY:
        return dump_array(d, value, depth);
    case JSON_STRING:
        return emit_string(d, json_string_value(value), json_string_length(value));
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        return emit_scalar(d, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
    case JSON_REAL:
        tby_yaml_format_real(json_real_value(value), num, sizeof(num));
        return emit_scalar(d, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
    case JSON_TRUE:
        return emit_scalar(d, "true", 4, YAML_PLAIN_SCALAR_STYLE);
    case JSON_FALSE:
        return emit_scalar(d, "false", 5, YAML_PLAIN_SCALAR_STYLE);
    case JSON_NULL:
        break;
    }
    return emit_scalar(d, "null", 4, YAML_PLAIN_SCALAR_STYLE);
}

static int dump_document(struct dumper *d, const json_t *value)
{
    yaml_event_t ev;
    int r;

    /* libyaml writes the `---` itself before every document but the first. */
    r = emit(d, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    if (r < 0)
        return r;
    r = dump_value(d, value, 0);
    if (r < 0)
        return r;
    return emit(d, &ev, yaml_document_end_event_initialize(&ev, 1));
}

static int dump_stream(struct dumper *d, const json_t *const *values, size_t n)
{
    yaml_event_t ev;
    int r;

    r = emit(d, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    for (size_t i = 0; r == 0 && i < n; i++)
        r = dump_document(d, values[i]);
    if (r == 0)
        r = emit(d, &ev, yaml_stream_end_event_initialize(&ev));
    if (r == 0 && !yaml_emitter_flush(&d->emitter))
        r = tby_error_set(d->err, -ENOMEM, "cannot write YAML: out of memory");
    return r;
}

static char *dump_values(const json_t *const *values, size_t n, int flags,
                         struct tby_error *err)
{
    struct dumper d = { .flags = flags, .err = err };
    char *text;
    int r;

    for (size_t i = 0; i < n; i++)
        if (!values[i]) {
            tby_error_set(err, -EINVAL, "cannot write YAML: no value");
            return NULL;
        }
    if (!yaml_emitter_initialize(&d.emitter)) {
        tby_error_set(err, -ENOMEM, "cannot write YAML: out of memory");
        return NULL;
    }
    yaml_emitter_set_output(&d.emitter, write_out, &d);
    yaml_emitter_set_indent(&d.emitter, 2);
    yaml_emitter_set_width(&d.emitter, -1); /* no folding of long lines */
    yaml_emitter_set_unicode(&d.emitter, 1);
    yaml_emitter_set_break(&d.emitter, YAML_LN_BREAK);
    r = dump_stream(&d, values, n);
    yaml_emitter_delete(&d.emitter);
    if (r < 0) {
        tby_buf_clear(&d.out);
        return NULL;
    }
    if (!(text = tby_buf_steal(&d.out, NULL)))
        tby_error_set(err, -ENOMEM, "cannot write YAML: out of memory");
    return text;
}

char *tby_yaml_dump(const json_t *value, int flags, struct tby_error *err)
{
    return dump_values(&value, 1, flags, err);
}

char *tby_yaml_dump_all(const json_t *docs, int flags, struct tby_error *err)
{
    size_t n = json_array_size(docs);
    _cleanup_free_ const json_t **values = NULL;

    if (!json_is_array(docs)) {
        tby_error_set(err, -EINVAL, "cannot write YAML documents: not an array");
        return NULL;
    }
    values = malloc((n ? n : 1) * sizeof(*values));
    if (!values) {
        tby_error_set(err, -ENOMEM, "cannot write YAML: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        values[i] = json_array_get(docs, i);
    return dump_values(values, n, flags, err);
}
