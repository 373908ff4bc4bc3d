/* yaml.h — YAML (and JSON, which is YAML) text to jansson trees and back.
 *
 * Owns: nothing beyond each call. Needs libyaml and jansson. Ownership: a loaded
 * struct tby_yaml_docs belongs to the caller and is freed with tby_yaml_docs_clear();
 * the string tby_yaml_dump*() returns is malloc'd and freed with free(). The trees are
 * plain jansson values: no node is shared between documents or within one, so a caller
 * may change them freely (aliases are deep copies, see below).
 *
 * How plain (unquoted) scalars resolve. Users bring YAML that kubectl and calicoctl
 * already accepted, and both read it with go-yaml v2 (sigs.k8s.io/yaml and
 * projectcalico/go-yaml-wrapper), which resolves like YAML 1.1, not 1.2's core schema.
 * tabby reads it the same way wherever JSON can hold the result:
 *   null   "", ~, null, Null, NULL
 *   bool   true/True/TRUE, false/False/FALSE, and also, as in go-yaml v2,
 *          y/Y/yes/Yes/YES, n/N/no/No/NO, on/On/ON, off/Off/OFF.
 *          So `natOutgoing: yes` means true, as it did for calicoctl; write
 *          `"yes"` for the string.
 *   int    [-+] then decimal digits, 0x.. hex, 0o.. octal, 0b.. binary, or 0.. octal
 *          (YAML 1.1: `mode: 0644` is 420, as kubectl reads it); `_` between digits
 *          is ignored. A leading-0 number with an 8 or 9 in it is decimal.
 *          An integer that does not fit in 64 signed bits is an error, not a lossy
 *          real (go-yaml would make a decimal one a float): quote it to keep a string.
 *   real   [-+](.digits | digits[.digits])[(e|E)[-+]digits], e.g. 1.5, 1e3, .5.
 *          .inf and .nan (any sign/case spelling) and reals beyond double's range are
 *          errors: JSON cannot hold them.
 *   string everything else, including timestamps (kept as written) and 8000:9000.
 * Quoted ('..', "..") and block (|, >) scalars are always strings. Tags !!str, !!int,
 * !!float, !!bool, !!null, !!map, !!seq and the non-specific `!` (string) are honoured;
 * any other tag is an error. Mapping keys are always strings, taken as written
 * (`123: x` has the key "123"); a key that is not a scalar, or is given twice, is an
 * error, as is a NUL character in a key.
 *
 * Anchors, aliases and merge keys (`<<: *base`, explicit keys win, earlier merged
 * maps win over later ones) are supported. An alias is a deep copy, and against
 * "billion laughs" every alias counts at its expanded size towards a cap on the values
 * one load produces (keys count too); nesting is capped as well.
 *
 * Documents: `---` separates them; a document with no content (only `---` or comments)
 * is skipped, an empty text gives no documents. Known limit: libyaml refuses escaped
 * UTF-16 surrogate pairs ("\ud83d\ude00") that JSON allows.
 *
 * Errors name the text and a 1-based position:
 *   pool.yaml: line 3 column 5: mapping values are not allowed in this context
 */
#ifndef TABBY_YAML_H
#define TABBY_YAML_H

#include <stddef.h>

#include <jansson.h>

#include "tabby/error.h"

#define TBY_YAML_MAX_NODES 1000000u
#define TBY_YAML_MAX_DEPTH 256u
/* Deepest tree tby_yaml_dump() writes and the highest max_depth a load may ask for. */
#define TBY_YAML_DEPTH_LIMIT 1024u

struct tby_yaml_docs {
    json_t *docs;  /* array, one element per non-empty document, in text order */
    size_t *lines; /* lines[i]: 1-based line where document i starts (its `---` if any) */
};

struct tby_yaml_limits {
    size_t max_nodes;   /* values and keys produced, aliases at their expanded size */
    unsigned max_depth; /* collections nested in one another; at most TBY_YAML_DEPTH_LIMIT */
};

/* Parses every document of `text` (`len` bytes, need not be NUL-terminated) into
 * `out`. `name` (a file name, or "-") starts error messages. On failure `out` is left
 * empty (docs NULL) and a negative errno is returned: -EINVAL for bad YAML or a value
 * JSON cannot hold, -E2BIG for a cap exceeded, -ENOMEM. Uses the default limits. */
int tby_yaml_load(const char *text, size_t len, const char *name,
                  struct tby_yaml_docs *out, struct tby_error *err);

/* The same with explicit limits; NULL means the defaults above. */
int tby_yaml_load_limits(const char *text, size_t len, const char *name,
                         const struct tby_yaml_limits *limits,
                         struct tby_yaml_docs *out, struct tby_error *err);

/* Frees what a load produced and leaves `docs` empty; safe to call twice. */
void tby_yaml_docs_clear(struct tby_yaml_docs *docs);

enum {
    TBY_YAML_SORT_KEYS = 1 << 0, /* keys in byte order, not the object's own order */
};

/* Writes `value` as one YAML document: block style, 2-space indent, keys in the order
 * jansson iterates them (insertion order) unless TBY_YAML_SORT_KEYS, {} and [] for
 * empty collections, multi-line strings as `|` blocks where that reads back exactly.
 * Any string that would read back as something else is quoted, so that
 * tby_yaml_load(tby_yaml_dump(x)) gives a value json_equal() to x; this also holds for
 * YAML 1.1 readers such as kubectl (yes, on, 0777, 8000:9000, 2001-12-14 are quoted).
 * Returns a malloc'd NUL-terminated string, or NULL with `err` set. */
char *tby_yaml_dump(const json_t *value, int flags, struct tby_error *err);

/* Writes each element of the array `docs` as one document, separated by `---`; an
 * empty array gives "". */
char *tby_yaml_dump_all(const json_t *docs, int flags, struct tby_error *err);

#endif
