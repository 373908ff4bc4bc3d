/* yaml.c — YAML text to jansson trees, built from libyaml's parser events; anchors,
 * merge keys and the caps against alias bombs live here. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/yaml.h"
#include "yaml_scalar.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

struct anchor {
    json_t *value;   /* NULL while the anchored node is still being read */
    char *key;       /* a scalar's text, so that an alias can stand as a mapping key */
    size_t nodes;    /* values the anchored node counts for at every alias */
    unsigned height; /* collection levels in it, itself included */
};

struct loader {
    yaml_parser_t parser;
    const char *text;
    size_t len;
    const char *name;
    struct tby_yaml_limits limits;
    size_t nodes;        /* produced so far in the whole text */
    json_t *anchor_ids;  /* anchor name -> index in anchors; reset at every document */
    struct anchor *anchors;
    size_t n_anchors, cap_anchors;
    struct tby_error *err;
};

/* What reading one node gives. */
struct node {
    json_t *value;
    size_t nodes;
    unsigned height; /* 0 for a scalar, 1 + the highest child for a collection */
};

static int read_node(struct loader *ld, const yaml_event_t *ev, unsigned depth,
                     struct node *out);

static int fail_at(struct loader *ld, yaml_mark_t mark, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(struct loader *ld, yaml_mark_t mark, int code, const char *fmt, ...)
{
    char msg[TBY_ERROR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tby_error_set(ld->err, code, "%s: line %zu column %zu: %s", ld->name,
                         (size_t)mark.line + 1, (size_t)mark.column + 1, msg);
}

/* The byte at a mark, for a friendlier message; marks count characters, not bytes. */
static int char_at(const struct loader *ld, yaml_mark_t mark)
{
    size_t i = 0, line = 0, col = 0;

    while (i < ld->len && line < mark.line)
        if (ld->text[i++] == '\n')
            line++;
    for (; i < ld->len && col < mark.column; col++) {
        i++;
        while (i < ld->len && ((unsigned char)ld->text[i] & 0xC0) == 0x80)
            i++;
    }
    return i < ld->len ? (unsigned char)ld->text[i] : -1;
}

/* Reader errors carry a byte offset only. */
static yaml_mark_t mark_of_offset(const struct loader *ld, size_t offset)
{
    yaml_mark_t mark = { 0 };

    for (size_t i = 0; i < offset && i < ld->len; i++) {
        if (ld->text[i] == '\n') {
            mark.line++;
            mark.column = 0;
        } else if (((unsigned char)ld->text[i] & 0xC0) != 0x80) {
            mark.column++;
        }
    }
    return mark;
}

static int parser_error(struct loader *ld)
{
    const yaml_parser_t *p = &ld->parser;
    const char *problem = p->problem ? p->problem : "unknown error";

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return tby_error_set(ld->err, -ENOMEM, "%s: out of memory", ld->name);
    case YAML_READER_ERROR:
        if (p->problem_value != -1)
            return fail_at(ld, mark_of_offset(ld, p->problem_offset), -EINVAL,
                           "%s (byte 0x%02X)", problem, (unsigned)p->problem_value);
        return fail_at(ld, mark_of_offset(ld, p->problem_offset), -EINVAL, "%s", problem);
    default:
        break;
    }
    if ((strcmp(problem, "found character that cannot start any token") == 0 &&
         char_at(ld, p->problem_mark) == '\t') ||
        strcmp(problem, "found a tab character that violates indentation") == 0)
        return fail_at(ld, p->problem_mark, -EINVAL,
                       "a tab character cannot indent YAML, use spaces");
    if (p->context)
        return fail_at(ld, p->problem_mark, -EINVAL, "%s (%s started at line %zu column %zu)",
                       problem, p->context, (size_t)p->context_mark.line + 1,
                       (size_t)p->context_mark.column + 1);
    return fail_at(ld, p->problem_mark, -EINVAL, "%s", problem);
}

static int next_event(struct loader *ld, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&ld->parser, ev))
        return parser_error(ld);
    return 0;
}

static int count_nodes(struct loader *ld, size_t n, yaml_mark_t mark)
{
    if (n > ld->limits.max_nodes - ld->nodes)
        return fail_at(ld, mark, -E2BIG,
                       "more than %zu values (aliases count at their expanded size)",
                       ld->limits.max_nodes);
    ld->nodes += n;
    return 0;
}

/* n more values, reaching `levels` deep: both are bounded. */
static int count_nested(struct loader *ld, unsigned levels, size_t n, yaml_mark_t mark)
{
    if (levels > ld->limits.max_depth)
        return fail_at(ld, mark, -E2BIG, "nested deeper than %u levels", ld->limits.max_depth);
    return count_nodes(ld, n, mark);
}

static void anchors_reset(struct loader *ld)
{
    for (size_t i = 0; i < ld->n_anchors; i++) {
        json_decref(ld->anchors[i].value);
        free(ld->anchors[i].key);
    }
    ld->n_anchors = 0;
    json_object_clear(ld->anchor_ids);
}

/* Registers `name` as being read now: an alias to it from inside is refused. */
static int anchor_begin(struct loader *ld, const char *name, size_t *id)
{
    json_t *idx;

    if (TBY_GROW(ld->anchors, ld->cap_anchors, ld->n_anchors + 1) < 0)
        return -ENOMEM;
    idx = json_integer((json_int_t)ld->n_anchors);
    /* A later anchor of the same name hides the earlier one, as YAML says. */
    if (!idx || json_object_set_new(ld->anchor_ids, name, idx) < 0)
        return -ENOMEM;
    ld->anchors[ld->n_anchors] = (struct anchor){ 0 };
    *id = ld->n_anchors++;
    return 0;
}

static int anchor_end(struct loader *ld, size_t id, const struct node *node,
                      const yaml_event_t *ev)
{
    struct anchor *a = &ld->anchors[id];

    if (ev->type == YAML_SCALAR_EVENT &&
        strlen((const char *)ev->data.scalar.value) == ev->data.scalar.length) {
        a->key = strdup((const char *)ev->data.scalar.value);
        if (!a->key)
            return -ENOMEM;
    }
    a->value = json_incref(node->value);
    a->nodes = node->nodes;
    a->height = node->height;
    return 0;
}

static int find_anchor(struct loader *ld, const yaml_event_t *ev, struct anchor **out)
{
    const char *name = (const char *)ev->data.alias.anchor;
    json_t *idx = json_object_get(ld->anchor_ids, name);
    struct anchor *a;

    if (!idx)
        return fail_at(ld, ev->start_mark, -EINVAL, "alias *%s names no anchor before it",
                       name);
    a = &ld->anchors[json_integer_value(idx)];
    if (!a->value)
        return fail_at(ld, ev->start_mark, -EINVAL,
                       "alias *%s is inside the node it names, which would never end", name);
    *out = a;
    return 0;
}

static int read_alias(struct loader *ld, const yaml_event_t *ev, unsigned depth,
                      struct node *out)
{
    struct anchor *a;
    int r;

    r = find_anchor(ld, ev, &a);
    if (r < 0)
        return r;
    r = count_nested(ld, depth + a->height, a->nodes, ev->start_mark);
    if (r < 0)
        return r;
    /* A copy, not a shared reference: callers may change one place of the tree. */
    out->value = json_deep_copy(a->value);
    if (!out->value)
        return -ENOMEM;
    out->nodes = a->nodes;
    out->height = a->height;
    return 0;
}

static const char *short_tag(const char *tag, char *buf, size_t size)
{
    if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0) {
        snprintf(buf, size, "!!%s", tag + strlen(TAG_PREFIX));
        return buf;
    }
    return tag;
}

static int unknown_tag(struct loader *ld, const yaml_event_t *ev, const char *tag)
{
    char buf[128];

    if (tag[0] == '!')
        return fail_at(ld, ev->start_mark, -EINVAL,
                       "unsupported tag %s (quote a value that starts with '!')", tag);
    return fail_at(ld, ev->start_mark, -EINVAL, "unsupported tag %s",
                   short_tag(tag, buf, sizeof(buf)));
}

/* The kind a scalar's tag asks for; -1 for a tag that makes no sense on a scalar. */
static int tag_kind(const char *tag)
{
    static const struct {
        const char *tag;
        enum tby_yaml_kind kind;
    } tags[] = {
        { "!", TBY_YAML_STRING }, /* the non-specific tag: "not a plain scalar" */
        { TAG_PREFIX "str", TBY_YAML_STRING },
        { TAG_PREFIX "null", TBY_YAML_NULL },
        { TAG_PREFIX "bool", TBY_YAML_BOOL },
        { TAG_PREFIX "int", TBY_YAML_INT },
        { TAG_PREFIX "float", TBY_YAML_REAL },
    };

    for (size_t i = 0; i < TBY_ARRAY_SIZE(tags); i++)
        if (strcmp(tag, tags[i].tag) == 0)
            return (int)tags[i].kind;
    return -1;
}

static json_t *scalar_json(const struct tby_yaml_scalar *sc, const char *s, size_t n)
{
    switch (sc->kind) {
    case TBY_YAML_NULL:
        return json_null();
    case TBY_YAML_BOOL:
        return json_boolean(sc->boolean);
    case TBY_YAML_INT:
        return json_integer(sc->integer);
    case TBY_YAML_REAL:
        return json_real(sc->real);
    case TBY_YAML_STRING:
        break;
    }
    return json_stringn(s, n);
}

static int read_scalar(struct loader *ld, const yaml_event_t *ev, struct node *out)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    struct tby_yaml_scalar sc = { 0 };
    char buf[128];
    int r;

    if (tag && tag_kind(tag) < 0)
        return unknown_tag(ld, ev, tag);
    if (tag)
        r = tby_yaml_resolve_tagged((enum tby_yaml_kind)tag_kind(tag), s, n, &sc);
    else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        r = tby_yaml_resolve_plain(s, n, &sc);
    else
        r = 0; /* quoted and block scalars are strings */
    if (r == -ENOMEM)
        return r;
    if (r < 0 && tag)
        return fail_at(ld, ev->start_mark, -EINVAL, "cannot read \"%.*s\" as %s",
                       (int)(n > 60 ? 60 : n), s, short_tag(tag, buf, sizeof(buf)));
    if (r < 0)
        return fail_at(ld, ev->start_mark, -EINVAL, "%.*s: %s (quote it to keep a string)",
                       (int)(n > 60 ? 60 : n), s, sc.why);
    r = count_nodes(ld, 1, ev->start_mark);
    if (r < 0)
        return r;
    out->value = scalar_json(&sc, s, n);
    out->nodes = 1;
    out->height = 0;
    return out->value ? 0 : -ENOMEM;
}

static int read_sequence(struct loader *ld, const yaml_event_t *start, unsigned depth,
                         struct node *out)
{
    _cleanup_json_ json_t *array = NULL;
    int r;

    r = count_nested(ld, depth + 1, 1, start->start_mark);
    if (r < 0)
        return r;
    array = json_array();
    if (!array)
        return -ENOMEM;
    *out = (struct node){ .nodes = 1, .height = 1 };
    for (;;) {
        _cleanup_(yaml_event_delete) yaml_event_t ev = { 0 };
        struct node item;

        r = next_event(ld, &ev);
        if (r < 0)
            return r;
        if (ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        r = read_node(ld, &ev, depth + 1, &item);
        if (r < 0)
            return r;
        if (json_array_append_new(array, item.value) < 0)
            return -ENOMEM;
        out->nodes += item.nodes;
        if (item.height + 1 > out->height)
            out->height = item.height + 1;
    }
    out->value = TBY_STEAL(array);
    return 0;
}

static bool is_merge_key(const yaml_event_t *ev)
{
    const char *tag = (const char *)ev->data.scalar.tag;

    if (ev->type != YAML_SCALAR_EVENT)
        return false;
    if (tag)
        return strcmp(tag, TAG_PREFIX "merge") == 0;
    return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev->data.scalar.length == 2 &&
           memcmp(ev->data.scalar.value, "<<", 2) == 0;
}

/* A key is kept as written: JSON keys are strings, whatever the scalar resolves to. */
static int read_key(struct loader *ld, const yaml_event_t *ev, char **key)
{
    const char *tag;
    struct anchor *a;
    int r;

    if (ev->type == YAML_ALIAS_EVENT) {
        r = find_anchor(ld, ev, &a);
        if (r < 0)
            return r;
        if (!a->key)
            return fail_at(ld, ev->start_mark, -EINVAL,
                           "alias *%s cannot be a key: it names a collection",
                           (const char *)ev->data.alias.anchor);
        *key = strdup(a->key);
    } else if (ev->type == YAML_SCALAR_EVENT) {
        tag = (const char *)ev->data.scalar.tag;
        if (tag && tag_kind(tag) < 0)
            return unknown_tag(ld, ev, tag);
        if (strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length)
            return fail_at(ld, ev->start_mark, -EINVAL, "a key cannot hold a NUL character");
        *key = strdup((const char *)ev->data.scalar.value);
    } else {
        return fail_at(ld, ev->start_mark, -EINVAL,
                       "a mapping key must be a scalar, not a collection");
    }
    if (!*key)
        return -ENOMEM;
    return count_nodes(ld, 1, ev->start_mark);
}

static int read_key_node(struct loader *ld, const yaml_event_t *ev, char **key)
{
    const char *anchor = ev->type == YAML_SCALAR_EVENT
                             ? (const char *)ev->data.scalar.anchor : NULL;
    struct node node = { 0 };
    size_t id;
    int r;

    if (anchor && (r = anchor_begin(ld, anchor, &id)) < 0)
        return r;
    r = read_key(ld, ev, key);
    if (r < 0 || !anchor)
        return r;
    node.value = json_string(*key);
    node.nodes = 1;
    if (!node.value)
        return -ENOMEM;
    r = anchor_end(ld, id, &node, ev);
    json_decref(node.value);
    return r;
}

/* `<<: *base` or `<<: [*a, *b]`: remembered now, applied when the mapping ends. What
 * it brings counts towards the mapping's size, or an alias of the mapping would copy
 * more than the node cap saw. */
static int read_merge(struct loader *ld, const yaml_event_t *key, unsigned depth,
                      json_t *merges, struct node *out)
{
    _cleanup_(yaml_event_delete) yaml_event_t ev = { 0 };
    struct node value;
    size_t i;
    json_t *item;
    int r;

    r = next_event(ld, &ev);
    if (r < 0)
        return r;
    r = read_node(ld, &ev, depth, &value);
    if (r < 0)
        return r;
    if (json_array_append_new(merges, value.value) < 0)
        return -ENOMEM;
    out->nodes += value.nodes;
    /* Merged values sit one level higher than they were read: a list's maps' children
     * two levels. */
    if (value.height > out->height + json_is_array(value.value))
        out->height = value.height - json_is_array(value.value);
    if (json_is_object(value.value))
        return 0;
    if (json_is_array(value.value)) {
        json_array_foreach(value.value, i, item)
            if (!json_is_object(item))
                break;
        if (i == json_array_size(value.value))
            return 0;
    }
    return fail_at(ld, key->start_mark, -EINVAL,
                   "the merge key << needs a mapping or a list of mappings");
}

/* Explicit keys win over merged ones, and an earlier merged mapping over a later one. */
static int apply_merges(json_t *object, json_t *merges)
{
    size_t i, j;
    json_t *m, *item;

    json_array_foreach(merges, i, m) {
        if (json_is_object(m) && json_object_update_missing(object, m) < 0)
            return -ENOMEM;
        if (json_is_array(m))
            json_array_foreach(m, j, item)
                if (json_object_update_missing(object, item) < 0)
                    return -ENOMEM;
    }
    return 0;
}

static int read_pair(struct loader *ld, const yaml_event_t *kev, unsigned depth,
                     json_t *object, struct node *out)
{
    _cleanup_(yaml_event_delete) yaml_event_t vev = { 0 };
    _cleanup_free_ char *key = NULL;
    struct node value;
    int r;

    r = read_key_node(ld, kev, &key);
    if (r < 0)
        return r;
    if (json_object_get(object, key))
        return fail_at(ld, kev->start_mark, -EINVAL, "duplicate key \"%s\"", key);
    r = next_event(ld, &vev);
    if (r < 0)
        return r;
    r = read_node(ld, &vev, depth, &value);
    if (r < 0)
        return r;
    if (json_object_set_new(object, key, value.value) < 0)
        return -ENOMEM;
    out->nodes += value.nodes + 1;
    if (value.height + 1 > out->height)
        out->height = value.height + 1;
    return 0;
}

static int read_mapping(struct loader *ld, const yaml_event_t *start, unsigned depth,
                        struct node *out)
{
    _cleanup_json_ json_t *object = NULL, *merges = NULL;
    int r;

    r = count_nested(ld, depth + 1, 1, start->start_mark);
    if (r < 0)
        return r;
    object = json_object();
    merges = json_array();
    if (!object || !merges)
        return -ENOMEM;
    *out = (struct node){ .nodes = 1, .height = 1 };
    for (;;) {
        _cleanup_(yaml_event_delete) yaml_event_t kev = { 0 };

        r = next_event(ld, &kev);
        if (r < 0)
            return r;
        if (kev.type == YAML_MAPPING_END_EVENT)
            break;
        if (is_merge_key(&kev))
            r = read_merge(ld, &kev, depth + 1, merges, out);
        else
            r = read_pair(ld, &kev, depth + 1, object, out);
        if (r < 0)
            return r;
    }
    r = apply_merges(object, merges);
    if (r < 0)
        return r;
    out->value = TBY_STEAL(object);
    return 0;
}

static const char *event_anchor(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return (const char *)ev->data.scalar.anchor;
    case YAML_SEQUENCE_START_EVENT:
        return (const char *)ev->data.sequence_start.anchor;
    case YAML_MAPPING_START_EVENT:
        return (const char *)ev->data.mapping_start.anchor;
    default:
        return NULL;
    }
}

static int collection_tag_ok(struct loader *ld, const yaml_event_t *ev)
{
    const char *tag = (const char *)(ev->type == YAML_SEQUENCE_START_EVENT
                                         ? ev->data.sequence_start.tag
                                         : ev->data.mapping_start.tag);
    const char *want = ev->type == YAML_SEQUENCE_START_EVENT ? TAG_PREFIX "seq"
                                                             : TAG_PREFIX "map";

    if (!tag || strcmp(tag, want) == 0 || strcmp(tag, "!") == 0)
        return 0;
    return unknown_tag(ld, ev, tag);
}

/* Reads the node `ev` starts, `depth` collections deep, into a fresh value. */
static int read_node(struct loader *ld, const yaml_event_t *ev, unsigned depth,
                     struct node *out)
{
    const char *anchor = event_anchor(ev);
    size_t id = 0;
    int r;

    if (ev->type == YAML_ALIAS_EVENT)
        return read_alias(ld, ev, depth, out);
    if (anchor && (r = anchor_begin(ld, anchor, &id)) < 0)
        return r;
    if (ev->type == YAML_SCALAR_EVENT) {
        r = read_scalar(ld, ev, out);
    } else if (ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT) {
        r = collection_tag_ok(ld, ev);
        if (r == 0 && ev->type == YAML_SEQUENCE_START_EVENT)
            r = read_sequence(ld, ev, depth, out);
        else if (r == 0)
            r = read_mapping(ld, ev, depth, out);
    } else {
        r = fail_at(ld, ev->start_mark, -EINVAL, "unexpected YAML event %d", (int)ev->type);
    }
    if (r < 0)
        return r;
    if (anchor && (r = anchor_end(ld, id, out, ev)) < 0) {
        json_decref(out->value);
        return r;
    }
    return 0;
}

/* `---` alone, or a text of only comments, holds no document: not even a null one. */
static bool is_empty_document(const yaml_event_t *root)
{
    return root->type == YAML_SCALAR_EVENT && root->data.scalar.length == 0 &&
           root->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !root->data.scalar.tag &&
           !root->data.scalar.anchor;
}

static int add_document(struct tby_yaml_docs *out, size_t *cap, json_t *doc, size_t line)
{
    size_t n = json_array_size(out->docs);

    if (TBY_GROW(out->lines, *cap, n + 1) < 0) {
        json_decref(doc);
        return -ENOMEM;
    }
    if (json_array_append_new(out->docs, doc) < 0)
        return -ENOMEM;
    out->lines[n] = line;
    return 0;
}

static int read_document(struct loader *ld, const yaml_event_t *start,
                         struct tby_yaml_docs *out, size_t *cap)
{
    _cleanup_(yaml_event_delete) yaml_event_t root = { 0 }, end = { 0 };
    struct node node;
    int r;

    r = next_event(ld, &root);
    if (r < 0)
        return r;
    if (!is_empty_document(&root)) {
        r = read_node(ld, &root, 0, &node);
        if (r < 0)
            return r;
        r = add_document(out, cap, node.value, (size_t)start->start_mark.line + 1);
        if (r < 0)
            return r;
    }
    anchors_reset(ld); /* anchors belong to one document */
    return next_event(ld, &end);
}

static int read_stream(struct loader *ld, struct tby_yaml_docs *out)
{
    size_t cap = 0;
    int r;

    for (;;) {
        _cleanup_(yaml_event_delete) yaml_event_t ev = { 0 };

        r = next_event(ld, &ev);
        if (r < 0)
            return r;
        if (ev.type == YAML_STREAM_END_EVENT)
            return 0;
        if (ev.type == YAML_DOCUMENT_START_EVENT && (r = read_document(ld, &ev, out, &cap)) < 0)
            return r;
    }
}

static void loader_free(struct loader *ld)
{
    anchors_reset(ld);
    free(ld->anchors);
    json_decref(ld->anchor_ids);
    yaml_parser_delete(&ld->parser);
}

void tby_yaml_docs_clear(struct tby_yaml_docs *docs)
{
    if (!docs)
        return;
    json_decref(docs->docs);
    free(docs->lines);
    docs->docs = NULL;
    docs->lines = NULL;
}

int tby_yaml_load_limits(const char *text, size_t len, const char *name,
                         const struct tby_yaml_limits *limits,
                         struct tby_yaml_docs *out, struct tby_error *err)
{
    struct loader ld = {
        .text = text, .len = len, .name = name ? name : "-", .err = err,
        .limits = { TBY_YAML_MAX_NODES, TBY_YAML_MAX_DEPTH },
    };
    int r;

    *out = (struct tby_yaml_docs){ 0 };
    if (limits)
        ld.limits = *limits;
    if (ld.limits.max_depth > TBY_YAML_DEPTH_LIMIT)
        return tby_error_set(err, -EINVAL, "%s: a depth limit above %u is not supported",
                             ld.name, TBY_YAML_DEPTH_LIMIT);
    if (!text && len)
        return tby_error_set(err, -EINVAL, "%s: no text", ld.name);
    if (!yaml_parser_initialize(&ld.parser))
        return tby_error_set(err, -ENOMEM, "%s: out of memory", ld.name);
    yaml_parser_set_input_string(&ld.parser, (const unsigned char *)(text ? text : ""), len);
    ld.anchor_ids = json_object();
    out->docs = json_array();
    r = ld.anchor_ids && out->docs ? read_stream(&ld, out) : -ENOMEM;
    loader_free(&ld);
    if (r == -ENOMEM)
        tby_error_set(err, r, "%s: out of memory", ld.name);
    if (r < 0)
        tby_yaml_docs_clear(out);
    return r;
}

int tby_yaml_load(const char *text, size_t len, const char *name,
                  struct tby_yaml_docs *out, struct tby_error *err)
{
    return tby_yaml_load_limits(text, len, name, NULL, out, err);
}
