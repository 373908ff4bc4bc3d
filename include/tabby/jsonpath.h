/* jsonpath.h — the part of kubectl's JSONPath that `-o custom-columns=HEADER:PATH` uses:
 * a path of steps from the document's root, evaluated against a jansson tree.
 *
 *   .metadata.name   .spec.ports[0].port   .items[*].metadata.name   .metadata.labels.*
 *   .metadata.annotations['projectcalico.org/metadata']   {.spec.cidr}   $.kind
 *
 * A step is `.field` (a backslash takes the next character as it is, so `app\.io` is one
 * name), `['field']` or `["field"]`, `[N]` (N < 0 counts from the end), `[*]` or `.*`
 * (every element of a list, every value of an object). `.` alone is the whole document;
 * a path that starts with a name reads as if it started with a dot (kubectl's relaxed
 * form: metadata.name).
 * Filters, unions, slices and recursive descent are refused with a message.
 *
 * Owns: struct tby_jsonpath (tby_jsonpath_free). Values handed out are new references.
 */
#ifndef TABBY_JSONPATH_H
#define TABBY_JSONPATH_H

#include <jansson.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"

/* Paths longer than this are refused (a column spec is typed by hand). */
#define TBY_JSONPATH_MAX_LEN 1024

struct tby_jsonpath;

/* -EINVAL with a message naming the position on a path it does not take. */
int tby_jsonpath_parse(const char *text, struct tby_jsonpath **out, struct tby_error *err);
/* Appends every value the path selects in doc to the array `out`, in document order; a
 * step that finds nothing (a missing field, an index past the end) selects nothing. */
int tby_jsonpath_eval(const struct tby_jsonpath *path, const json_t *doc, json_t *out);
void tby_jsonpath_free(struct tby_jsonpath *path);
TBY_DEFINE_FREEP(struct tby_jsonpath, tby_jsonpath_free)

/* The text kubectl prints for selected values: strings as they are, other scalars and
 * objects as compact JSON, several joined by ",", none as "<none>". Caller frees. */
char *tby_jsonpath_text(const json_t *values);

#endif
