/* fuzz_selector.c — libFuzzer target for the selector parser, printer and matcher, and for
 * the Kubernetes LabelSelector conversion. Beyond "no crash, no leak" it checks invariants:
 * the canonical form re-parses to itself and matches exactly like the original, and its
 * negation matches exactly the opposite label sets.
 *
 * Input: a selector, then optionally "\n"-separated "key=value" lines giving a label set
 * (a newline can never be part of a valid selector). Input starting with '{' is also tried
 * as a JSON LabelSelector (whose JSON-quoted strings then serve as literals). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/selector.h"
#include "tabby/validate.h"

#define MAX_LABELS 32
#define MAX_LITERALS 32
#define ROTATIONS 4
#define NVIEWS (2 + ROTATIONS)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what, const char *sel)
{
    if (ok)
        return;
    fprintf(stderr, "invariant broken: %s, selector: %s\n", what, sel ? sel : "(none)");
    abort();
}

/* The label sets every selector is matched against: the input's own lines, every key the
 * selector reads set to "", and ROTATIONS sets giving those keys the quoted literals found
 * in the input (so ==, in and friends come out true as well as false) with some keys
 * left out (so the missing-label rules are exercised too). */
struct fixtures {
    struct tby_label from_input[MAX_LABELS + 1];
    struct tby_label from_keys[NVIEWS - 1][MAX_LABELS + 1];
    const char *literals[MAX_LITERALS];
    size_t n_literals;
    struct tby_labels views[NVIEWS];
};

/* Splits "k=v\nk=v..." in place into pairs (a line without '=' is a key with value ""). */
static void parse_label_lines(char *lines, struct tby_label *pairs)
{
    size_t n = 0;
    char *save = NULL;

    for (char *l = strtok_r(lines, "\n", &save); l && n < MAX_LABELS;
         l = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(l, '=');

        if (eq)
            *eq = '\0';
        pairs[n++] = (struct tby_label){ l, eq ? eq + 1 : "" };
    }
    pairs[n] = (struct tby_label){ NULL, NULL };
}

/* Collects the quoted strings of `copy` (a scratch copy of the selector), in place. */
static void find_literals(char *copy, struct fixtures *f)
{
    char *p = copy;

    f->n_literals = 0;
    while (f->n_literals < MAX_LITERALS && (p = strpbrk(p, "'\"")) != NULL) {
        char *end = strchr(p + 1, *p);

        if (!end)
            break;
        *end = '\0';
        f->literals[f->n_literals++] = p + 1;
        p = end + 1;
    }
}

/* from_keys[0]: every key present and empty; from_keys[1 + r]: rotation r of literals. */
static void keys_present(const struct tby_sel *sel, struct fixtures *f)
{
    const char *const *keys;
    size_t n = tby_sel_keys(sel, &keys);

    for (size_t v = 0; v < NVIEWS - 1; v++) {
        struct tby_label *pairs = f->from_keys[v];
        size_t k = 0;

        for (size_t i = 0; i < n && k < MAX_LABELS; i++) {
            const char *value = "";

            if (v > 0 && (i * 7 + v) % 4 == 3)
                continue; /* this key absent in this view */
            if (v > 0 && f->n_literals)
                value = f->literals[(i + v) % f->n_literals];
            pairs[k++] = (struct tby_label){ keys[i], value };
        }
        pairs[k] = (struct tby_label){ NULL, NULL };
        f->views[1 + v] = tby_labels_from_pairs(pairs);
    }
}

static void check_keys_sorted(const struct tby_sel *sel)
{
    const char *const *keys;
    size_t n = tby_sel_keys(sel, &keys);

    for (size_t i = 1; i < n; i++)
        check(strcmp(keys[i - 1], keys[i]) < 0, "keys sorted and unique",
              tby_sel_canonical(sel));
}

/* `prefix(canonical)` must match where sel does (same) or exactly where it does not; skipped
 * when the longer text passes the limits. */
static void check_wrapped(const struct tby_sel *sel, const struct fixtures *f,
                          const char *prefix, bool same)
{
    const char *canon = tby_sel_canonical(sel);
    size_t size = strlen(prefix) + strlen(canon) + 2;
    char *text = malloc(size);
    struct tby_sel *wrapped = NULL;

    if (!text)
        return;
    snprintf(text, size, "%s%s)", prefix, canon);
    if (tby_sel_parse(text, &wrapped, NULL) == 0) {
        for (size_t i = 0; i < NVIEWS; i++)
            check((tby_sel_match(wrapped, &f->views[i]) == tby_sel_match(sel, &f->views[i]))
                      == same, same ? "double negation matches the same" :
                                      "negation matches the opposite", canon);
    }
    tby_sel_free(wrapped);
    free(text);
}

/* Invariants of any selector that exists, however it was made. */
static void check_selector(const struct tby_sel *sel, struct fixtures *f)
{
    const char *canon = tby_sel_canonical(sel);
    struct tby_error err = { 0 };
    struct tby_sel *again = NULL;

    check(strlen(canon) <= TBY_SEL_MAX_LEN, "canonical within the limit", canon);
    check(tby_sel_parse(canon, &again, &err) == 0, "canonical re-parses", canon);
    check(strcmp(tby_sel_canonical(again), canon) == 0, "canonical is a fixed point", canon);
    check_keys_sorted(sel);
    keys_present(sel, f);
    for (size_t i = 0; i < NVIEWS; i++)
        check(tby_sel_match(again, &f->views[i]) == tby_sel_match(sel, &f->views[i]),
              "canonical matches like the original", canon);
    check_wrapped(sel, f, "!(", false);
    check_wrapped(sel, f, "!!(", true);
    tby_sel_free(again);
}

static void fuzz_text(const char *text, struct fixtures *f)
{
    struct tby_error err = { 0 };
    struct tby_sel *sel = NULL;
    int rc = tby_sel_parse(text, &sel, &err);

    if (rc != 0) {
        check(rc == -EINVAL && !sel && err.msg[0], "failure reported with a message", text);
        return;
    }
    check_selector(sel, f);
    tby_sel_free(sel);
}

static void fuzz_json(const uint8_t *data, size_t size, struct fixtures *f)
{
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    struct tby_error err = { 0 };
    struct tby_sel *sel = NULL;

    if (!j)
        return;
    if (tby_sel_from_k8s(j, &sel, &err) == 0)
        check_selector(sel, f);
    else
        check(!sel && err.msg[0], "k8s failure reported with a message", NULL);
    tby_sel_free(sel);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *scratch = malloc(size + 1);
    struct fixtures f;
    char *newline;

    if (!text || !scratch)
        goto out;
    memcpy(text, data, size);
    text[size] = '\0';
    newline = strchr(text, '\n');
    f.from_input[0] = (struct tby_label){ NULL, NULL };
    if (newline) {
        *newline = '\0';
        parse_label_lines(newline + 1, f.from_input);
    }
    f.views[0] = tby_labels_from_pairs(f.from_input);
    memcpy(scratch, data, size);
    scratch[size] = '\0';
    find_literals(scratch, &f);
    fuzz_text(text, &f);
    tby_valid_label_key(text);
    tby_valid_label_value(text);
    if (size && data[0] == '{')
        fuzz_json(data, size, &f);
out:
    free(scratch);
    free(text);
    return 0;
}
