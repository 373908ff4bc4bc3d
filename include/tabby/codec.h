/* codec.h — helpers for decoding resources from jansson trees with a field path, and for
 * encoding them back.
 *
 * Owns: the decoder's current field path (a fixed buffer inside struct tby_dec). Every
 * failure message starts with that path, so a decoder deep in a rule writes
 *   spec.ingress[0].destination.ports[1]: port must be 1 to 65535, got 70000
 * without knowing where it is. Strings handed out (char **out) are malloc'd and owned by
 * the caller; a getter replaces (and frees) what *out held before, so defaults can be
 * set first and overridden by what the document says.
 *
 * Absent fields and JSON null are the same: "not set" (Go's omitempty decoders agree).
 */
#ifndef TABBY_CODEC_H
#define TABBY_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tabby/error.h"
#include "tabby/strv.h"

/* A lenient decoder's report of a field it skipped: the path of the object holding it
 * ("spec", "spec.ingress[0]"; "" at the top) and the field's name. */
typedef void (*tby_dec_unknown_fn)(void *ctx, const char *path, const char *field);
/* A survey of the fields a decoder knows: every object it checks with
 * tby_dec_known_fields, its path and the fields it takes there (for the test that holds
 * every field tabby decodes to a test or a refusal). */
typedef void (*tby_dec_survey_fn)(void *ctx, const char *path, const char *const *fields);

struct tby_dec {
    struct tby_error *err;
    char path[512];
    size_t len;
    tby_dec_unknown_fn unknown; /* NULL: unknown fields fail (the default) */
    void *unknown_ctx;
    tby_dec_survey_fn survey;   /* NULL: none (the default) */
    void *survey_ctx;
};

void tby_dec_init(struct tby_dec *d, struct tby_error *err);
/* Makes the decoder lenient: tby_dec_known_fields reports unknown fields to fn and goes
 * on instead of failing. For objects another program wrote (Calico's newer fields). */
void tby_dec_set_lenient(struct tby_dec *d, tby_dec_unknown_fn fn, void *ctx);
/* Reports every list of known fields to fn as the decoder meets it. */
void tby_dec_set_survey(struct tby_dec *d, tby_dec_survey_fn fn, void *ctx);
/* Appends ".field" ("field" at the root) / "[index]" and returns a mark for leave(). */
size_t tby_dec_enter(struct tby_dec *d, const char *field);
size_t tby_dec_enter_index(struct tby_dec *d, size_t index);
void tby_dec_leave(struct tby_dec *d, size_t mark);
/* Fails at the current path: "path: message". Returns -EINVAL. */
int tby_dec_fail(struct tby_dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fails at path.field. */
int tby_dec_fail_at(struct tby_dec *d, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A field tabby refuses (a value it does not enforce): fails at path.field like
 * tby_dec_fail_at; a lenient decoder instead reports the field as it does an unknown one
 * and returns 1, and the caller leaves the value out. */
int tby_dec_refuse_at(struct tby_dec *d, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The value of obj[field], NULL when absent or null. */
const json_t *tby_dec_get(const json_t *obj, const char *field);
/* What a JSON value is, for messages: "an object", "a list", "a string", "an integer",
 * "a number", "a boolean" or "null". */
const char *tby_json_type_name(const json_t *v);

/* Fails on any member of obj not named in `fields` (NULL-terminated): calicoctl refuses
 * unknown fields, which catches typos such as "blocksize". A lenient decoder reports
 * them instead. */
int tby_dec_known_fields(struct tby_dec *d, const json_t *obj, const char *const *fields);
/* Requires obj (the value at the current path) to be an object. */
int tby_dec_expect_object(struct tby_dec *d, const json_t *obj);

/* A value in hand (a list element, a map value) must be a string without NUL bytes;
 * fails at the current path. *out points into the value. */
int tby_dec_string_value(struct tby_dec *d, const json_t *v, const char **out);

/* Typed getters of obj[field]. When absent: fail if `required`, else return 0 and leave
 * *out as it was (the default). */
int tby_dec_string(struct tby_dec *d, const json_t *obj, const char *field, bool required,
                   char **out);
int tby_dec_bool(struct tby_dec *d, const json_t *obj, const char *field, bool *out);
/* Integers within [min, max]; *present (may be NULL) tells whether the field was there. */
int tby_dec_int(struct tby_dec *d, const json_t *obj, const char *field, int64_t min,
                int64_t max, int64_t *out, bool *present);
/* Any JSON number. */
int tby_dec_number(struct tby_dec *d, const json_t *obj, const char *field, double *out,
                   bool *present);
/* One of `names` (NULL-terminated), spelled exactly; *out is the index. */
int tby_dec_enum(struct tby_dec *d, const json_t *obj, const char *field,
                 const char *const *names, int *out);
/* The same for a value already in hand, at the current path (list elements). */
int tby_dec_enum_value(struct tby_dec *d, const json_t *value, const char *const *names,
                       int *out);
/* A list of strings. */
int tby_dec_strv(struct tby_dec *d, const json_t *obj, const char *field,
                 struct tby_strv *out);
/* obj[field] must be an array (or absent: *out = NULL). */
int tby_dec_array(struct tby_dec *d, const json_t *obj, const char *field,
                  const json_t **out);
/* obj[field] must be an object (or absent: *out = NULL). */
int tby_dec_object(struct tby_dec *d, const json_t *obj, const char *field,
                   const json_t **out);
/* A map of strings to strings; *out becomes a new reference (an empty object when
 * absent or empty: one object shared by every such map, so copy a decoded map before
 * changing it). Keys and values are checked as Kubernetes label keys and values when
 * `labels` is true. A value that is a number, a boolean or null becomes the string
 * calicoctl makes of it (tby_scalar_text; null is ""), so `routeReflector: true` is the
 * label "true"; a list or an object is refused. */
/* The text sigs.k8s.io/yaml (calicoctl's and kubectl's reader) gives a scalar that is not
 * a string where the field is a string: an integer's decimal digits, a real in Go's
 * shortest float32 %g form (1.5, 1e+06), "true"/"false". Writes into buf (at least
 * TBY_SCALAR_TEXT_MAX bytes) and returns it; NULL for a string, list, object or null. */
#define TBY_SCALAR_TEXT_MAX 32
const char *tby_scalar_text(const json_t *v, char *buf);
int tby_dec_string_map(struct tby_dec *d, const json_t *obj, const char *field, bool labels,
                       json_t **out);

/* Decodes the list obj[field] into a new array of elements `size` bytes each: item()
 * fills one zeroed element from its value with the path at field[i] (and leaves nothing
 * allocated when it fails). Absent or empty: *items = NULL, *n = 0. On failure clear()
 * (may be NULL) runs on the elements already decoded and nothing is left allocated;
 * on success the caller owns *items. */
typedef int (*tby_dec_item_fn)(struct tby_dec *d, const json_t *value, void *elem, void *ctx);
int tby_dec_list(struct tby_dec *d, const json_t *obj, const char *field, size_t size,
                 tby_dec_item_fn item, void (*clear)(void *elem), void *ctx, void **items,
                 size_t *n);
/* A list of values from `names` (at most 32) as a bit set, bit i for names[i]. With
 * `unique`, a value listed twice fails. Absent: *out = 0. */
int tby_dec_enum_set(struct tby_dec *d, const json_t *obj, const char *field,
                     const char *const *names, bool unique, unsigned *out);

/* ---- encoding: each adds obj[key] only when there is something to say --------- */

void tby_enc_string(json_t *obj, const char *key, const char *value);  /* NULL: skipped */
void tby_enc_bool(json_t *obj, const char *key, bool value);           /* always set */
void tby_enc_true(json_t *obj, const char *key, bool value);           /* only when true */
void tby_enc_int(json_t *obj, const char *key, int64_t value);
void tby_enc_strv(json_t *obj, const char *key, const struct tby_strv *v); /* empty: skipped */
/* Sets obj[key] = value (stealing the reference) unless value is NULL or an empty
 * object/array, which are dropped. */
void tby_enc_take(json_t *obj, const char *key, json_t *value);

#endif
