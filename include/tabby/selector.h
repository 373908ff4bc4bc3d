/* selector.h — Calico label selectors: parse, print canonically, match against label sets.
 *
 * Owns: struct tby_sel, an immutable parsed selector, together with its canonical string
 * and the sorted list of label keys it reads. tby_sel_parse() and tby_sel_from_k8s()
 * allocate one; the caller frees it with tby_sel_free() (or _cleanup_(tby_sel_freep)).
 * Strings returned by tby_sel_canonical() and tby_sel_keys() belong to the selector and
 * live as long as it does. Nothing is shared between selectors and nothing is global, so
 * any number of threads may match against the same selector at once.
 *
 * Needs: jansson and codec.h (only for the Kubernetes LabelSelector conversion and the
 * json label view).
 *
 * Grammar (Calico's, https://docs.tigera.io/calico/latest/reference/resources/networkpolicy):
 *   k == 'v'   k != "v"   k in {'a', "b"}   k not in {...}   has(k)   all()   global()
 *   k contains 's'   k starts with 's'   k ends with 's'   !e   e && e   e || e   (e)
 * "&&" binds tighter than "||"; "!" applies to the operation or parenthesised expression
 * that follows it, so `!a == 'b'` means `!(a == 'b')`. Label keys are [A-Za-z0-9_./-]+.
 * Strings are quoted with ' or " and have no escapes (a value cannot hold its own quote).
 * As in Calico, only spaces and tabs separate tokens, `has(`, `all(` and `global(` take
 * no space before the parenthesis, and an empty (or all-blank) selector means all().
 *
 * Matching: a missing label makes ==, in, contains, starts with and ends with false and
 * != and not in true; has(k) tests presence; all() and global() are true for any label
 * set (global() stays distinct in the canonical form: Calico uses it as a marker).
 *
 * Canonical form: deterministic spelling of the parsed expression, so that selectors that
 * differ only in spelling print identically, and printing re-parses to the same string:
 *   single quotes (double when the value holds a single quote); one space around binary
 *   operators (`a == 'b'`, `a && b`); sets as `a in {'x', 'y'}`, sorted by byte value and
 *   de-duplicated; `has(a)`, `!has(a)`; only the parentheses precedence needs (`(a || b)
 *   && c`, `!(a && b)`); nested && (or ||) flattened; an even run of ! dropped.
 * Operands keep the order they were written in: `a && b` and `b && a` print differently
 * (as in Calico, whose canonical form we mirror apart from the quote style).
 *
 * Errors: input problems return -EINVAL and fill struct tby_error, e.g.
 *   selector "app == ": position 8: expected a quoted string, found end of selector
 * Positions are 1-based byte columns into the selector text (the end of the text is its
 * length + 1). Allocation failure returns -ENOMEM.
 */
#ifndef TABBY_SELECTOR_H
#define TABBY_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"

/* Longest selector text accepted, in bytes, for the input and for the canonical form
 * (which can be longer than a tersely spaced input), so every selector's canonical form
 * re-parses. Calico selectors are in practice far shorter; the cap bounds the work one
 * policy can cause. */
#define TBY_SEL_MAX_LEN 4096
/* Deepest parenthesis nesting accepted; deeper input is an error, not a stack overflow. */
#define TBY_SEL_MAX_DEPTH 128

struct tby_sel;
struct tby_dec;

/* A borrowed view of one endpoint's labels: get(ctx, key) returns the value, or NULL when
 * the label is absent. Matching calls get() once per label test and never allocates, so a
 * caller with its own label store (a hash table, a jansson object) plugs it in directly. */
struct tby_labels {
    const char *(*get)(const void *ctx, const char *key);
    const void *ctx;
};

/* One label, for the array view below. */
struct tby_label {
    const char *key;
    const char *value;
};

/* A view of an array of labels ended by an element whose key is NULL. Lookup scans the
 * array (label sets are small); `pairs` must outlive the view. */
struct tby_labels tby_labels_from_pairs(const struct tby_label *pairs);

/* A view of a jansson object of string values (as in metadata.labels); values that are
 * not strings count as absent. `object` must outlive the view; NULL means no labels. */
struct tby_labels tby_labels_from_json(const json_t *object);

/* The value of `key` in `labels`, or NULL when absent (labels may be NULL: no labels). */
const char *tby_labels_get(const struct tby_labels *labels, const char *key);

/* Parses Calico selector text (NULL or "" means all()). On success *out holds a new
 * selector the caller frees; on failure *out is NULL and err says where and why: -EINVAL
 * for a syntax error, text or canonical form over TBY_SEL_MAX_LEN, or parentheses nested
 * deeper than TBY_SEL_MAX_DEPTH; -ENOMEM when out of memory. */
int tby_sel_parse(const char *text, struct tby_sel **out, struct tby_error *err);

/* Converts a Kubernetes LabelSelector object ({matchLabels, matchExpressions}) to the
 * equivalent Calico selector: every matchLabels entry (in key order) and then every
 * matchExpressions entry (in order), joined with &&. In becomes `in`, NotIn `not in`,
 * Exists `has()`, DoesNotExist `!has()`. NULL, JSON null and {} mean all(). Keys and
 * values are checked as Kubernetes does; unknown fields are refused (a misspelt
 * "matchLabel" must not silently select everything). It is decoded with codec.h's
 * helpers, at the decoder's path: `spec.podSelector.matchExpressions[1].operator: unknown
 * operator "Inn" (expected In, NotIn, Exists or DoesNotExist)`. */
int tby_sel_decode_k8s(struct tby_dec *d, const json_t *label_selector, struct tby_sel **out);
/* The same with the path starting at the selector (`matchExpressions[1].operator: …`). */
int tby_sel_from_k8s(const json_t *label_selector, struct tby_sel **out,
                     struct tby_error *err);

void tby_sel_free(struct tby_sel *sel);
TBY_DEFINE_FREEP(struct tby_sel, tby_sel_free)

/* The canonical text (see above); owned by sel. */
const char *tby_sel_canonical(const struct tby_sel *sel);

/* Whether sel matches the labels (NULL labels: an endpoint without labels). Never
 * allocates and never fails. */
bool tby_sel_match(const struct tby_sel *sel, const struct tby_labels *labels);

/* Whether selector text matches a jansson object of labels (as tby_labels_from_json reads
 * it; NULL: no labels), for a selector used once: 1 it does, 0 it does not, -1 the text
 * does not parse (decoding checked it, so only on corrupt data). */
int tby_sel_text_matches(const char *text, const json_t *labels);

/* Whether sel is exactly all() (also from "" or {}): it matches every label set without
 * reading any label. */
bool tby_sel_is_all(const struct tby_sel *sel);

/* The label keys sel reads, sorted (strcmp) and without duplicates, for an index that
 * re-evaluates a selector only when one of its keys changes. Returns the count and points
 * *keys_out at an array owned by sel (NULL when the count is 0). */
size_t tby_sel_keys(const struct tby_sel *sel, const char *const **keys_out);

/* Label pairs one of which every label set sel matches holds: `k == 'v'` gives (k, v),
 * `k in {...}` one pair per value, `a && b` the shorter list of a and b, `a || b` both
 * lists. For an index that evaluates sel only against endpoints holding one of them.
 * Returns the count and points *out at an array owned by sel; 0 (and NULL) when sel can
 * match without any (all(), has(k), k != 'v', !e, ...). Pairs may repeat. */
size_t tby_sel_required(const struct tby_sel *sel, const struct tby_label **out);

/* A new selector that holds where both a and b hold: `a && b`, with all() dropped (all()
 * && x is x) and nested && flattened, so the result prints canonically. -EINVAL when the
 * canonical form would exceed TBY_SEL_MAX_LEN; -ENOMEM. */
int tby_sel_and(const struct tby_sel *a, const struct tby_sel *b, struct tby_sel **out,
                struct tby_error *err);

/* A copy of sel with every label key prefixed: with "pcns." `k == 'v'` becomes
 * `pcns.k == 'v'` (how Calico evaluates a namespaceSelector against an endpoint's
 * labels, which carry its namespace's labels under that prefix). all() and global() stay
 * as they are. */
int tby_sel_prefix_keys(const struct tby_sel *sel, const char *prefix, struct tby_sel **out,
                        struct tby_error *err);

#endif
