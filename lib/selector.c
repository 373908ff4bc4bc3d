/* selector.c — Calico label selectors: a recursive-descent parser straight over the text,
 * the canonical printer, the matcher, and the Kubernetes LabelSelector conversion. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/codec.h"
#include "tabby/selector.h"
#include "tabby/validate.h"

/* ---- the tree ----------------------------------------------------------------------- */

enum kind {
    K_ALL,
    K_GLOBAL,
    K_HAS,
    K_EQ,
    K_NE,
    K_IN,
    K_NOT_IN,
    K_CONTAINS,
    K_STARTS,
    K_ENDS,
    K_NOT,
    K_AND,
    K_OR,
};

struct node {
    enum kind kind;
    char *key;            /* every label test */
    char *value;          /* ==, !=, contains, starts with, ends with */
    size_t value_len;
    char **set;           /* in, not in: sorted by strcmp, no duplicates */
    struct node **kids;   /* !: one; &&, ||: two or more, none of the parent's kind */
    size_t n;             /* entries in set or kids */
};

struct tby_sel {
    struct node *root;
    char *canonical;
    const char **keys;    /* point into the tree's nodes */
    size_t n_keys;
    struct tby_label *required; /* point into the tree's nodes; see tby_sel_required */
    size_t n_required;
};

struct node_vec {
    struct node **v;
    size_t n, cap;
};

struct str_vec {
    char **v;
    size_t n, cap;
};

static void node_free(struct node *n)
{
    if (!n)
        return;
    free(n->key);
    free(n->value);
    for (size_t i = 0; n->set && i < n->n; i++)
        free(n->set[i]);
    free(n->set);
    for (size_t i = 0; n->kids && i < n->n; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n);
}

static struct node *node_new(enum kind kind)
{
    struct node *n = calloc(1, sizeof(*n));

    if (n)
        n->kind = kind;
    return n;
}

/* A label test on key[0..len); NULL when out of memory. */
static struct node *node_leaf(enum kind kind, const char *key, size_t len)
{
    struct node *n = node_new(kind);

    if (!n)
        return NULL;
    n->key = strndup(key, len);
    if (!n->key) {
        free(n);
        return NULL;
    }
    return n;
}

static int node_vec_push(struct node_vec *v, struct node *n)
{
    if (TBY_GROW(v->v, v->cap, v->n + 1) < 0)
        return -ENOMEM;
    v->v[v->n++] = n;
    return 0;
}

static void node_vec_free(struct node_vec *v)
{
    for (size_t i = 0; i < v->n; i++)
        node_free(v->v[i]);
    free(v->v);
    *v = (struct node_vec){ 0 };
}

static int str_vec_push(struct str_vec *v, char *s)
{
    if (TBY_GROW(v->v, v->cap, v->n + 1) < 0)
        return -ENOMEM;
    v->v[v->n++] = s;
    return 0;
}

static void str_vec_free(struct str_vec *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    *v = (struct str_vec){ 0 };
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and de-duplicates in place, so that sets print canonically and `in` can bsearch. */
static void str_vec_sort_unique(struct str_vec *v)
{
    size_t out = 0;

    if (v->n == 0)
        return;
    qsort(v->v, v->n, sizeof(*v->v), cmp_str);
    for (size_t i = 1; i < v->n; i++) {
        if (strcmp(v->v[i], v->v[out]) == 0)
            free(v->v[i]);
        else
            v->v[++out] = v->v[i];
    }
    v->n = out + 1;
}

/* A set test taking the strings of `set` (sorted here); consumes set even on failure. */
static struct node *node_set(enum kind kind, const char *key, size_t len, struct str_vec *set)
{
    struct node *n = node_leaf(kind, key, len);

    if (!n) {
        str_vec_free(set);
        return NULL;
    }
    str_vec_sort_unique(set);
    n->set = set->v;
    n->n = set->n;
    *set = (struct str_vec){ 0 };
    return n;
}

/* !n, consuming n. A double negation cancels, so `!!a` and `!(!a)` print as `a`. */
static struct node *node_not(struct node *n)
{
    struct node *neg;

    if (n->kind == K_NOT) {
        struct node *inner = n->kids[0];

        free(n->kids);
        free(n);
        return inner;
    }
    neg = node_new(K_NOT);
    if (neg)
        neg->kids = malloc(sizeof(*neg->kids));
    if (!neg || !neg->kids) {
        free(neg);
        node_free(n);
        return NULL;
    }
    neg->kids[0] = n;
    neg->n = 1;
    return neg;
}

static size_t joined_count(enum kind kind, const struct node_vec *v)
{
    size_t total = 0;

    for (size_t i = 0; i < v->n; i++)
        total += v->v[i]->kind == kind ? v->v[i]->n : 1;
    return total;
}

/* Joins the terms of v with && or ||, consuming v even on failure. A parenthesised term
 * of the same kind is spliced in: `a && (b && c)` is the same selector as `a && b && c`
 * and must print the same. A single term is returned as it is. */
static struct node *node_join(enum kind kind, struct node_vec *v)
{
    struct node *n;
    size_t k = 0;

    if (v->n == 1) {
        n = v->v[0];
        free(v->v);
        *v = (struct node_vec){ 0 };
        return n;
    }
    n = node_new(kind);
    if (n)
        n->kids = malloc(joined_count(kind, v) * sizeof(*n->kids));
    if (!n || !n->kids) {
        free(n);
        node_vec_free(v);
        return NULL;
    }
    for (size_t i = 0; i < v->n; i++) {
        struct node *term = v->v[i];

        if (term->kind != kind) {
            n->kids[k++] = term;
            continue;
        }
        memcpy(n->kids + k, term->kids, term->n * sizeof(*n->kids));
        k += term->n;
        free(term->kids);
        free(term);
    }
    n->n = k;
    free(v->v);
    *v = (struct node_vec){ 0 };
    return n;
}

/* ---- messages ----------------------------------------------------------------------- */

/* Writes s[0..len) into buf as a double-quoted string safe for a log line: quotes,
 * backslashes and bytes outside printable ASCII are escaped, and long text is cut (the
 * start is what identifies it). Returns buf. */
static const char *show(char *buf, size_t size, const char *s, size_t len)
{
    const size_t max_shown = 64;
    size_t o = 0;

    buf[o++] = '"';
    for (size_t i = 0; i < len && i < max_shown && o + 6 < size; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    if (len > max_shown)
        snprintf(buf + o, size - o, "...");
    return buf;
}

#define SHOW_MAX 300 /* room for show() of 64 fully escaped bytes */

/* ---- the parser --------------------------------------------------------------------- */

struct parser {
    const char *text;
    size_t pos;            /* 0-based byte offset; messages add 1 */
    unsigned depth;        /* open parentheses */
    int rc;                /* first failure, 0 while none */
    struct tby_error *err;
};

static char cur(const struct parser *p)
{
    return p->text[p->pos];
}

static const char *here(const struct parser *p)
{
    return p->text + p->pos;
}

/* Calico separates tokens with spaces and tabs only; anything else is refused, so a
 * selector tabby accepts is one Calico accepts too. */
static void skip_ws(struct parser *p)
{
    while (cur(p) == ' ' || cur(p) == '\t')
        p->pos++;
}

static bool starts(const char *s, const char *word)
{
    return strncmp(s, word, strlen(word)) == 0;
}

static bool is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '/' || c == '-';
}

static size_t key_span(const char *s)
{
    size_t n = 0;

    while (is_key_char(s[n]))
        n++;
    return n;
}

static struct node *fail_at(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct node *fail_at(struct parser *p, size_t pos, const char *fmt, ...)
{
    char msg[TBY_ERROR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->rc = tby_error_set(p->err, -EINVAL, "position %zu: %s", pos + 1, msg);
    return NULL;
}

/* Describes what stands at the current position, for "expected X, found Y". */
static const char *found(const struct parser *p, char *buf, size_t size)
{
    const char *s = here(p);
    unsigned char c = (unsigned char)*s;

    if (!c)
        snprintf(buf, size, "end of selector");
    else if (is_key_char(*s))
        show(buf, size, s, key_span(s));
    else if (c == '\'' || c == '"')
        snprintf(buf, size, "a quoted string");
    else if (c > 0x20 && c < 0x7f)
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02x", c);
    return buf;
}

static struct node *fail_expected(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct node *fail_expected(struct parser *p, const char *fmt, ...)
{
    char what[TBY_ERROR_MAX / 2], seen[SHOW_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return fail_at(p, p->pos, "expected %s, found %s", what, found(p, seen, sizeof(seen)));
}

static struct node *oom(struct parser *p)
{
    p->rc = tby_error_set(p->err, -ENOMEM, "out of memory");
    return NULL;
}

static bool accept(struct parser *p, const char *token)
{
    skip_ws(p);
    if (!starts(here(p), token))
        return false;
    p->pos += strlen(token);
    return true;
}

/* A quoted string; Calico strings have no escapes, so the value runs to the next quote of
 * the same kind. Returns 0, or a negative code with the error set. */
static int parse_string(struct parser *p, const char *what, char **out)
{
    const char *start, *end;
    char quote;

    skip_ws(p);
    quote = cur(p);
    if (quote != '\'' && quote != '"') {
        fail_expected(p, "%s", what);
        return p->rc;
    }
    start = here(p) + 1;
    end = strchr(start, quote);
    if (!end) {
        fail_at(p, p->pos, "unterminated string: no closing %c", quote);
        return p->rc;
    }
    *out = strndup(start, (size_t)(end - start));
    if (!*out) {
        oom(p);
        return p->rc;
    }
    p->pos = (size_t)(end - p->text) + 1;
    return 0;
}

/* {'a', "b"}: Calico allows an empty set and a trailing comma. */
static int parse_set(struct parser *p, struct str_vec *set)
{
    char *s;

    skip_ws(p);
    if (cur(p) != '{') {
        fail_expected(p, "'{' to start a set of values");
        return p->rc;
    }
    p->pos++;
    for (;;) {
        if (accept(p, "}"))
            return 0;
        if (parse_string(p, "a quoted string or '}'", &s) < 0)
            return p->rc;
        if (str_vec_push(set, s) < 0) {
            free(s);
            oom(p);
            return p->rc;
        }
        if (accept(p, "}"))
            return 0;
        if (!accept(p, ",")) {
            fail_expected(p, "',' or '}'");
            return p->rc;
        }
    }
}

struct operator {
    const char *word;
    const char *second; /* a two-word operator's second word; Calico allows no space */
    enum kind kind;
};

static const struct operator operators[] = {
    { "==", NULL, K_EQ },
    { "!=", NULL, K_NE },
    { "contains", NULL, K_CONTAINS },
    { "starts", "with", K_STARTS },
    { "ends", "with", K_ENDS },
    { "not", "in", K_NOT_IN },
    { "in", NULL, K_IN },
};

/* The operator after a label key at key[0..len). Returns false with the error set. */
static bool parse_operator(struct parser *p, const char *key, size_t len, enum kind *kind)
{
    char shown[SHOW_MAX];

    skip_ws(p);
    for (size_t i = 0; i < TBY_ARRAY_SIZE(operators); i++) {
        const struct operator *op = &operators[i];

        if (!starts(here(p), op->word))
            continue;
        p->pos += strlen(op->word);
        if (op->second && !accept(p, op->second)) {
            fail_expected(p, "'%s' after '%s'", op->second, op->word);
            return false;
        }
        *kind = op->kind;
        return true;
    }
    fail_expected(p, "an operator (==, !=, in, not in, contains, starts with, ends with) "
                     "after label %s", show(shown, sizeof(shown), key, len));
    return false;
}

/* key <operator> 'value' or key [not] in {set}. */
static struct node *parse_test(struct parser *p)
{
    const char *key = here(p);
    size_t len = key_span(key);
    struct str_vec set = { 0 };
    struct node *n;
    enum kind kind;
    char *value;

    p->pos += len;
    if (!parse_operator(p, key, len, &kind))
        return NULL;
    if (kind == K_IN || kind == K_NOT_IN) {
        if (parse_set(p, &set) < 0) {
            str_vec_free(&set);
            return NULL;
        }
        n = node_set(kind, key, len, &set);
        return n ? n : oom(p);
    }
    if (parse_string(p, "a quoted string", &value) < 0)
        return NULL;
    n = node_leaf(kind, key, len);
    if (!n) {
        free(value);
        return oom(p);
    }
    n->value = value;
    n->value_len = strlen(value);
    return n;
}

static struct node *parse_has(struct parser *p)
{
    const char *key;
    size_t len;
    struct node *n;

    p->pos += strlen("has(");
    skip_ws(p);
    key = here(p);
    len = key_span(key);
    if (!len)
        return fail_expected(p, "a label key inside has()");
    p->pos += len;
    if (!accept(p, ")"))
        return fail_expected(p, "')' to close has(");
    n = node_leaf(K_HAS, key, len);
    return n ? n : oom(p);
}

/* all() and global(), which take no argument. */
static struct node *parse_call(struct parser *p, const char *open, enum kind kind)
{
    struct node *n;

    p->pos += strlen(open);
    if (!accept(p, ")"))
        return fail_expected(p, "')' after %s", open);
    n = node_new(kind);
    return n ? n : oom(p);
}

static struct node *parse_list(struct parser *p, enum kind kind);

static struct node *parse_group(struct parser *p)
{
    size_t open = p->pos;
    struct node *n;

    /* The only recursion in the grammar: bounding it bounds the stack here and in every
     * walk over the tree (&& and || are flat lists, and ! chains collapse). */
    if (p->depth >= TBY_SEL_MAX_DEPTH)
        return fail_at(p, open, "parentheses nested more than %d deep", TBY_SEL_MAX_DEPTH);
    p->pos++;
    p->depth++;
    n = parse_list(p, K_OR);
    p->depth--;
    if (!n)
        return NULL;
    if (!accept(p, ")")) {
        node_free(n);
        return fail_expected(p, "'&&', '||' or ')' to close the '(' at position %zu",
                             open + 1);
    }
    return n;
}

static struct node *parse_primary(struct parser *p)
{
    skip_ws(p);
    /* As in Calico, the call forms win over a label of the same name: `has(` is always
     * has(), while `has == 'x'` tests the label "has". */
    if (cur(p) == '(')
        return parse_group(p);
    if (starts(here(p), "has("))
        return parse_has(p);
    if (starts(here(p), "all("))
        return parse_call(p, "all(", K_ALL);
    if (starts(here(p), "global("))
        return parse_call(p, "global(", K_GLOBAL);
    if (is_key_char(cur(p)))
        return parse_test(p);
    return fail_expected(p, "a label, has(), all(), global(), '!' or '('");
}

/* Any run of '!' applies to the primary that follows; an even run cancels (Calico). */
static struct node *parse_unary(struct parser *p)
{
    bool negate = false;
    struct node *n;

    for (;;) {
        skip_ws(p);
        if (cur(p) != '!' || p->text[p->pos + 1] == '=')
            break;
        negate = !negate;
        p->pos++;
    }
    n = parse_primary(p);
    if (!n || !negate)
        return n;
    n = node_not(n);
    return n ? n : oom(p);
}

/* kind K_OR: and-terms separated by "||"; kind K_AND: unary terms separated by "&&". */
static struct node *parse_list(struct parser *p, enum kind kind)
{
    const char *sep = kind == K_OR ? "||" : "&&";
    struct node_vec terms = { 0 };
    struct node *n;

    do {
        n = kind == K_OR ? parse_list(p, K_AND) : parse_unary(p);
        if (!n) {
            node_vec_free(&terms);
            return NULL;
        }
        if (node_vec_push(&terms, n) < 0) {
            node_free(n);
            node_vec_free(&terms);
            return oom(p);
        }
    } while (accept(p, sep));
    n = node_join(kind, &terms);
    return n ? n : oom(p);
}

static struct node *parse_root(struct parser *p)
{
    struct node *n;

    skip_ws(p);
    if (!cur(p)) {
        n = node_new(K_ALL);
        return n ? n : oom(p);
    }
    n = parse_list(p, K_OR);
    if (!n)
        return NULL;
    skip_ws(p);
    if (cur(p)) {
        node_free(n);
        return fail_expected(p, "'&&', '||' or the end of the selector");
    }
    return n;
}

/* ---- canonical text ----------------------------------------------------------------- */

/* Single quotes unless the value holds one; a value cannot hold both kinds, since the
 * grammar has no escapes, so the result always re-parses to the same value. */
static void buf_quoted(struct tby_buf *b, const char *value)
{
    const char *q = strchr(value, '\'') ? "\"" : "'";

    tby_buf_adds(b, q);
    tby_buf_adds(b, value);
    tby_buf_adds(b, q);
}

static const char *const op_text[] = {
    [K_EQ] = " == ",
    [K_NE] = " != ",
    [K_IN] = " in {",
    [K_NOT_IN] = " not in {",
    [K_CONTAINS] = " contains ",
    [K_STARTS] = " starts with ",
    [K_ENDS] = " ends with ",
};

static void print_node(struct tby_buf *b, const struct node *n);

static bool is_list(const struct node *n)
{
    return n->kind == K_AND || n->kind == K_OR;
}

/* Parentheses only where precedence needs them: around && or || under !, and around ||
 * under && (a list never holds a list of its own kind). */
static void print_operand(struct tby_buf *b, const struct node *n, enum kind parent)
{
    bool paren = parent == K_NOT ? is_list(n) : n->kind == K_OR;

    if (paren)
        tby_buf_adds(b, "(");
    print_node(b, n);
    if (paren)
        tby_buf_adds(b, ")");
}

static void print_list(struct tby_buf *b, const struct node *n)
{
    for (size_t i = 0; i < n->n; i++) {
        if (i)
            tby_buf_adds(b, n->kind == K_AND ? " && " : " || ");
        print_operand(b, n->kids[i], n->kind);
    }
}

static void print_test(struct tby_buf *b, const struct node *n)
{
    tby_buf_adds(b, n->key);
    tby_buf_adds(b, op_text[n->kind]);
    if (n->kind != K_IN && n->kind != K_NOT_IN) {
        buf_quoted(b, n->value);
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        if (i)
            tby_buf_adds(b, ", ");
        buf_quoted(b, n->set[i]);
    }
    tby_buf_adds(b, "}");
}

static void print_node(struct tby_buf *b, const struct node *n)
{
    switch (n->kind) {
    case K_ALL:
        tby_buf_adds(b, "all()");
        break;
    case K_GLOBAL:
        tby_buf_adds(b, "global()");
        break;
    case K_HAS:
        tby_buf_adds(b, "has(");
        tby_buf_adds(b, n->key);
        tby_buf_adds(b, ")");
        break;
    case K_NOT:
        tby_buf_adds(b, "!");
        print_operand(b, n->kids[0], K_NOT);
        break;
    case K_AND:
    case K_OR:
        print_list(b, n);
        break;
    default:
        print_test(b, n);
        break;
    }
}

/* ---- the selector ------------------------------------------------------------------- */

static size_t count_keys(const struct node *n)
{
    size_t total = n->key ? 1 : 0;

    for (size_t i = 0; n->kids && i < n->n; i++)
        total += count_keys(n->kids[i]);
    return total;
}

static void gather_keys(const struct node *n, const char **keys, size_t *k)
{
    if (n->key)
        keys[(*k)++] = n->key;
    for (size_t i = 0; n->kids && i < n->n; i++)
        gather_keys(n->kids[i], keys, k);
}

static int collect_keys(struct tby_sel *sel)
{
    size_t total = count_keys(sel->root), k = 0, out = 0;

    if (!total)
        return 0;
    sel->keys = malloc(total * sizeof(*sel->keys));
    if (!sel->keys)
        return -ENOMEM;
    gather_keys(sel->root, sel->keys, &k);
    qsort(sel->keys, total, sizeof(*sel->keys), cmp_str);
    for (size_t i = 1; i < total; i++)
        if (strcmp(sel->keys[i], sel->keys[out]) != 0)
            sel->keys[++out] = sel->keys[i];
    sel->n_keys = out + 1;
    return 0;
}

/* How many pairs the required list of n holds (see tby_sel_required), or -1 when n can
 * match without any: a conjunction needs its shortest list, a disjunction all of them. */
static long count_required(const struct node *n)
{
    long best = -1, sum = 0;

    switch (n->kind) {
    case K_EQ:
        return 1;
    case K_IN:
        return n->n > 0 ? (long)n->n : -1;
    case K_AND:
        for (size_t i = 0; i < n->n; i++) {
            long k = count_required(n->kids[i]);

            if (k >= 0 && (best < 0 || k < best))
                best = k;
        }
        return best;
    case K_OR:
        for (size_t i = 0; i < n->n; i++) {
            long k = count_required(n->kids[i]);

            if (k < 0)
                return -1;
            sum += k;
        }
        return sum;
    default:
        return -1;
    }
}

static void gather_required(const struct node *n, struct tby_label *out, size_t *k)
{
    long best = -1;
    size_t pick = 0;

    switch (n->kind) {
    case K_EQ:
        out[(*k)++] = (struct tby_label){ n->key, n->value };
        break;
    case K_IN:
        for (size_t i = 0; i < n->n; i++)
            out[(*k)++] = (struct tby_label){ n->key, n->set[i] };
        break;
    case K_AND:
        for (size_t i = 0; i < n->n; i++) {
            long c = count_required(n->kids[i]);

            if (c >= 0 && (best < 0 || c < best)) {
                best = c;
                pick = i;
            }
        }
        gather_required(n->kids[pick], out, k);
        break;
    case K_OR:
        for (size_t i = 0; i < n->n; i++)
            gather_required(n->kids[i], out, k);
        break;
    default:
        break;
    }
}

static int collect_required(struct tby_sel *sel)
{
    long total = count_required(sel->root);
    size_t k = 0;

    if (total <= 0)
        return 0;
    sel->required = malloc((size_t)total * sizeof(*sel->required));
    if (!sel->required)
        return -ENOMEM;
    gather_required(sel->root, sel->required, &k);
    sel->n_required = k;
    return 0;
}

/* Wraps a finished tree (consumed, even on failure) with its canonical text and keys.
 * The length cap holds for the canonical text too (it can be longer than the input, e.g.
 * `a=='b'` prints as `a == 'b'`), so that every selector's canonical form re-parses. */
static int sel_new(struct node *root, struct tby_sel **out, struct tby_error *err)
{
    _cleanup_(tby_sel_freep) struct tby_sel *sel = calloc(1, sizeof(*sel));
    _cleanup_buf_ struct tby_buf b = { 0 };

    if (!sel) {
        node_free(root);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    sel->root = root;
    print_node(&b, root);
    if (tby_buf_error(&b) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (b.len > TBY_SEL_MAX_LEN)
        return tby_error_set(err, -EINVAL, "canonical form is %zu bytes long, more than the "
                             "%d allowed", b.len, TBY_SEL_MAX_LEN);
    sel->canonical = tby_buf_steal(&b, NULL);
    if (collect_keys(sel) < 0 || collect_required(sel) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    *out = TBY_STEAL(sel);
    return 0;
}

int tby_sel_parse(const char *text, struct tby_sel **out, struct tby_error *err)
{
    struct parser p = { .text = text ? text : "", .err = err };
    char shown[SHOW_MAX];
    struct node *root;
    size_t len = strlen(p.text);
    int rc;

    *out = NULL;
    if (len > TBY_SEL_MAX_LEN)
        return tby_error_set(err, -EINVAL, "selector %s: %zu bytes long, more than the %d allowed",
                             show(shown, sizeof(shown), p.text, len), len, TBY_SEL_MAX_LEN);
    root = parse_root(&p);
    rc = root ? sel_new(root, out, err) : p.rc;
    if (rc < 0)
        tby_error_prefix(err, "selector %s", show(shown, sizeof(shown), p.text, len));
    return rc;
}

int tby_sel_text_matches(const char *text, const json_t *labels)
{
    _cleanup_(tby_sel_freep) struct tby_sel *sel = NULL;
    struct tby_labels view = tby_labels_from_json(labels);

    if (tby_sel_parse(text, &sel, NULL) < 0)
        return -1;
    return tby_sel_match(sel, &view);
}

void tby_sel_free(struct tby_sel *sel)
{
    if (!sel)
        return;
    node_free(sel->root);
    free(sel->canonical);
    free(sel->keys);
    free(sel->required);
    free(sel);
}

const char *tby_sel_canonical(const struct tby_sel *sel)
{
    return sel->canonical;
}

bool tby_sel_is_all(const struct tby_sel *sel)
{
    return sel->root->kind == K_ALL;
}

size_t tby_sel_keys(const struct tby_sel *sel, const char *const **keys_out)
{
    *keys_out = sel->keys;
    return sel->n_keys;
}

size_t tby_sel_required(const struct tby_sel *sel, const struct tby_label **out)
{
    *out = sel->required;
    return sel->n_required;
}

/* ---- building selectors from selectors ------------------------------------------------ */

static char *prefixed(const char *prefix, const char *key)
{
    char *s;

    return asprintf(&s, "%s%s", prefix, key) < 0 ? NULL : s;
}

static int copy_set(struct node *dst, const struct node *src)
{
    dst->set = calloc(src->n ? src->n : 1, sizeof(*dst->set));
    if (!dst->set)
        return -ENOMEM;
    dst->n = src->n;
    for (size_t i = 0; i < src->n; i++)
        if (!(dst->set[i] = strdup(src->set[i])))
            return -ENOMEM;
    return 0;
}

static int copy_kids(struct node *dst, const struct node *src, const char *prefix);

/* A deep copy of n with every label key prefixed by `prefix` ("" keeps them). */
static struct node *node_copy(const struct node *n, const char *prefix)
{
    struct node *c = node_new(n->kind);
    int r = 0;

    if (!c)
        return NULL;
    if (n->key && !(c->key = prefixed(prefix, n->key)))
        r = -ENOMEM;
    if (r == 0 && n->value) {
        c->value = strdup(n->value);
        c->value_len = n->value_len;
        r = c->value ? 0 : -ENOMEM;
    }
    if (r == 0 && n->set)
        r = copy_set(c, n);
    if (r == 0 && n->kids)
        r = copy_kids(c, n, prefix);
    if (r < 0) {
        node_free(c);
        return NULL;
    }
    return c;
}

static int copy_kids(struct node *dst, const struct node *src, const char *prefix)
{
    dst->kids = calloc(src->n, sizeof(*dst->kids));
    if (!dst->kids)
        return -ENOMEM;
    dst->n = src->n;
    for (size_t i = 0; i < src->n; i++)
        if (!(dst->kids[i] = node_copy(src->kids[i], prefix)))
            return -ENOMEM;
    return 0;
}

int tby_sel_prefix_keys(const struct tby_sel *sel, const char *prefix, struct tby_sel **out,
                        struct tby_error *err)
{
    struct node *root = node_copy(sel->root, prefix);

    *out = NULL;
    if (!root)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return sel_new(root, out, err);
}

int tby_sel_and(const struct tby_sel *a, const struct tby_sel *b, struct tby_sel **out,
                struct tby_error *err)
{
    struct node_vec terms = { 0 };
    struct node *root;

    *out = NULL;
    /* all() is the identity of &&: leaving it out keeps `all() && x` sharing x's set. */
    if (a->root->kind == K_ALL || b->root->kind == K_ALL) {
        root = node_copy(a->root->kind == K_ALL ? b->root : a->root, "");
        if (!root)
            return tby_error_set(err, -ENOMEM, "out of memory");
        return sel_new(root, out, err);
    }
    for (int i = 0; i < 2; i++) {
        struct node *c = node_copy(i ? b->root : a->root, "");

        if (!c || node_vec_push(&terms, c) < 0) {
            node_free(c);
            node_vec_free(&terms);
            return tby_error_set(err, -ENOMEM, "out of memory");
        }
    }
    root = node_join(K_AND, &terms);
    if (!root)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return sel_new(root, out, err);
}

/* ---- matching ----------------------------------------------------------------------- */

static bool in_set(const struct node *n, const char *value)
{
    /* An empty set ({} is valid) has no array, and bsearch must not be given NULL. */
    return n->n && bsearch(&value, n->set, n->n, sizeof(*n->set), cmp_str) != NULL;
}

static bool ends_with(const char *s, const char *suffix, size_t suffix_len)
{
    size_t len = strlen(s);

    return len >= suffix_len && memcmp(s + len - suffix_len, suffix, suffix_len) == 0;
}

/* One label test; value is NULL when the label is absent. */
static bool eval_test(const struct node *n, const char *value)
{
    /* The tests that hold for an absent label (Calico: != and not in are true). */
    switch (n->kind) {
    case K_HAS:
        return value != NULL;
    case K_NE:
        return !value || strcmp(value, n->value) != 0;
    case K_NOT_IN:
        return !value || !in_set(n, value);
    default:
        break;
    }
    if (!value)
        return false;
    switch (n->kind) {
    case K_EQ:
        return strcmp(value, n->value) == 0;
    case K_IN:
        return in_set(n, value);
    case K_CONTAINS:
        return strstr(value, n->value) != NULL;
    case K_STARTS:
        return strncmp(value, n->value, n->value_len) == 0;
    case K_ENDS:
        return ends_with(value, n->value, n->value_len);
    default:
        return false;
    }
}

static bool eval(const struct node *n, const struct tby_labels *labels)
{
    switch (n->kind) {
    case K_ALL:
    case K_GLOBAL:
        return true;
    case K_NOT:
        return !eval(n->kids[0], labels);
    case K_AND:
        for (size_t i = 0; i < n->n; i++)
            if (!eval(n->kids[i], labels))
                return false;
        return true;
    case K_OR:
        for (size_t i = 0; i < n->n; i++)
            if (eval(n->kids[i], labels))
                return true;
        return false;
    default:
        return eval_test(n, tby_labels_get(labels, n->key));
    }
}

bool tby_sel_match(const struct tby_sel *sel, const struct tby_labels *labels)
{
    return eval(sel->root, labels);
}

const char *tby_labels_get(const struct tby_labels *labels, const char *key)
{
    if (!labels || !labels->get)
        return NULL;
    return labels->get(labels->ctx, key);
}

static const char *pairs_get(const void *ctx, const char *key)
{
    for (const struct tby_label *l = ctx; l->key; l++)
        if (strcmp(l->key, key) == 0)
            return l->value;
    return NULL;
}

struct tby_labels tby_labels_from_pairs(const struct tby_label *pairs)
{
    return (struct tby_labels){ .get = pairs ? pairs_get : NULL, .ctx = pairs };
}

static const char *json_get(const void *ctx, const char *key)
{
    const json_t *value = json_object_get(ctx, key);

    return json_is_string(value) ? json_string_value(value) : NULL;
}

struct tby_labels tby_labels_from_json(const json_t *object)
{
    return (struct tby_labels){ .get = object ? json_get : NULL, .ctx = object };
}

/* ---- Kubernetes LabelSelector ------------------------------------------------------- */

/* Decoded with codec.h's helpers, so that its messages name the field path (and the
 * wrong type) the way every other decoder's do. */

/* A label value, at the current path. A number or boolean is the string kubectl's
 * reader (sigs.k8s.io/yaml) makes of it, as in any string map (codec.h). */
static int k8s_value(struct tby_dec *d, const json_t *v, char **out)
{
    char shown[SHOW_MAX], scalar[TBY_SCALAR_TEXT_MAX];
    const char *text = NULL, *problem;
    int rc = 0;

    if (json_is_null(v))
        text = "";
    else if (!json_is_string(v))
        text = tby_scalar_text(v, scalar);
    if (!text)
        rc = tby_dec_string_value(d, v, &text);
    if (rc < 0)
        return rc;
    problem = tby_label_value_problem(text, strlen(text));
    if (problem)
        return tby_dec_fail(d, "invalid label value %s: %s",
                            show(shown, sizeof(shown), text, strlen(text)), problem);
    *out = strdup(text);
    return *out ? 0 : tby_error_set(d->err, -ENOMEM, "out of memory");
}

/* A label key, refused at the current path. */
static int k8s_check_key(struct tby_dec *d, const char *key)
{
    char shown[SHOW_MAX];
    const char *part, *problem = tby_label_key_problem(key, &part);

    if (!problem)
        return 0;
    return tby_dec_fail(d, "invalid label key %s: %s%s",
                        show(shown, sizeof(shown), key, strlen(key)), part, problem);
}

static int push_term(struct tby_dec *d, struct node_vec *terms, struct node *n)
{
    if (!n || node_vec_push(terms, n) < 0) {
        node_free(n);
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    }
    return 0;
}

/* One matchLabels entry, at matchLabels: key == 'value'. */
static int k8s_label(struct tby_dec *d, const char *key, const json_t *v, struct node_vec *terms)
{
    char *value = NULL;
    struct node *n;
    size_t mark;
    int rc = k8s_check_key(d, key);

    if (rc < 0)
        return rc;
    mark = tby_dec_enter(d, key);
    rc = k8s_value(d, v, &value);
    tby_dec_leave(d, mark);
    if (rc < 0)
        return rc;
    n = node_leaf(K_EQ, key, strlen(key));
    if (!n) {
        free(value);
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    }
    n->value = value;
    n->value_len = strlen(value);
    return push_term(d, terms, n);
}

/* matchLabels, in key order: a map has no order of its own, and the canonical text must
 * not depend on how the JSON happened to be written. */
static int k8s_match_labels(struct tby_dec *d, const json_t *ls, struct node_vec *terms)
{
    _cleanup_free_ const char **keys = NULL;
    const json_t *ml;
    size_t n = 0, mark;
    int rc = tby_dec_object(d, ls, "matchLabels", &ml);

    if (rc < 0 || !ml || json_object_size(ml) == 0)
        return rc;
    keys = malloc(json_object_size(ml) * sizeof(*keys));
    if (!keys)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    for (void *it = json_object_iter((json_t *)ml); it;
         it = json_object_iter_next((json_t *)ml, it))
        keys[n++] = json_object_iter_key(it);
    qsort(keys, n, sizeof(*keys), cmp_str);
    mark = tby_dec_enter(d, "matchLabels");
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = k8s_label(d, keys[i], json_object_get(ml, keys[i]), terms);
    tby_dec_leave(d, mark);
    return rc;
}

enum k8s_op { OP_IN, OP_NOT_IN, OP_EXISTS, OP_DOES_NOT_EXIST };

static const char *const k8s_ops[] = {
    [OP_IN] = "In",
    [OP_NOT_IN] = "NotIn",
    [OP_EXISTS] = "Exists",
    [OP_DOES_NOT_EXIST] = "DoesNotExist",
};

static int k8s_operator(struct tby_dec *d, const json_t *expr, enum k8s_op *op)
{
    _cleanup_free_ char *name = NULL;
    char shown[SHOW_MAX];
    int rc = tby_dec_string(d, expr, "operator", true, &name);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(k8s_ops); i++) {
        if (strcmp(name, k8s_ops[i]) == 0) {
            *op = (enum k8s_op)i;
            return 0;
        }
    }
    return tby_dec_fail_at(d, "operator", "unknown operator %s (expected In, NotIn, Exists or "
                           "DoesNotExist)", show(shown, sizeof(shown), name, strlen(name)));
}

/* The values of an expression: as many as the operator wants (Kubernetes' rule), each a
 * label value, collected into set. */
static int k8s_values(struct tby_dec *d, const json_t *expr, enum k8s_op op,
                      struct str_vec *set)
{
    bool wants_values = op == OP_IN || op == OP_NOT_IN;
    const json_t *values, *v;
    size_t i, mark;
    char *value;
    int rc = tby_dec_array(d, expr, "values", &values);

    if (rc < 0)
        return rc;
    if (wants_values && json_array_size(values) == 0)
        return tby_dec_fail_at(d, "values", "operator %s needs at least one value", k8s_ops[op]);
    if (!wants_values && json_array_size(values) > 0)
        return tby_dec_fail_at(d, "values", "operator %s takes no values", k8s_ops[op]);
    mark = tby_dec_enter(d, "values");
    json_array_foreach(values, i, v) {
        size_t m = tby_dec_enter_index(d, i);

        rc = k8s_value(d, v, &value);
        tby_dec_leave(d, m);
        if (rc < 0)
            break;
        if (str_vec_push(set, value) < 0) {
            free(value);
            rc = tby_error_set(d->err, -ENOMEM, "out of memory");
            break;
        }
    }
    tby_dec_leave(d, mark);
    return rc;
}

static struct node *k8s_node(enum k8s_op op, const char *key, struct str_vec *set)
{
    struct node *n;

    switch (op) {
    case OP_IN:
        return node_set(K_IN, key, strlen(key), set);
    case OP_NOT_IN:
        return node_set(K_NOT_IN, key, strlen(key), set);
    case OP_EXISTS:
        return node_leaf(K_HAS, key, strlen(key));
    default:
        n = node_leaf(K_HAS, key, strlen(key));
        return n ? node_not(n) : NULL;
    }
}

/* One matchExpressions entry, at its own path. */
static int k8s_expression(struct tby_dec *d, const json_t *expr, struct node_vec *terms)
{
    static const char *const fields[] = { "key", "operator", "values", NULL };
    _cleanup_free_ char *key = NULL;
    struct str_vec set = { 0 };
    enum k8s_op op = OP_IN;
    size_t mark;
    int rc = tby_dec_expect_object(d, expr);

    if (rc == 0)
        rc = tby_dec_known_fields(d, expr, fields);
    if (rc == 0)
        rc = tby_dec_string(d, expr, "key", true, &key);
    if (rc == 0) {
        mark = tby_dec_enter(d, "key");
        rc = k8s_check_key(d, key);
        tby_dec_leave(d, mark);
    }
    if (rc == 0)
        rc = k8s_operator(d, expr, &op);
    if (rc == 0)
        rc = k8s_values(d, expr, op, &set);
    if (rc < 0) {
        str_vec_free(&set);
        return rc;
    }
    return push_term(d, terms, k8s_node(op, key, &set));
}

static int k8s_match_expressions(struct tby_dec *d, const json_t *ls, struct node_vec *terms)
{
    const json_t *me, *expr;
    size_t i, mark;
    int rc = tby_dec_array(d, ls, "matchExpressions", &me);

    if (rc < 0 || !me)
        return rc;
    mark = tby_dec_enter(d, "matchExpressions");
    json_array_foreach(me, i, expr) {
        size_t m = tby_dec_enter_index(d, i);

        rc = k8s_expression(d, expr, terms);
        tby_dec_leave(d, m);
        if (rc < 0)
            break;
    }
    tby_dec_leave(d, mark);
    return rc;
}

static int k8s_terms(struct tby_dec *d, const json_t *ls, struct node_vec *terms)
{
    static const char *const fields[] = { "matchLabels", "matchExpressions", NULL };
    int rc;

    if (!ls || json_is_null(ls))
        return 0;
    rc = tby_dec_expect_object(d, ls);
    if (rc == 0)
        rc = tby_dec_known_fields(d, ls, fields);
    if (rc == 0)
        rc = k8s_match_labels(d, ls, terms);
    if (rc == 0)
        rc = k8s_match_expressions(d, ls, terms);
    return rc;
}

int tby_sel_decode_k8s(struct tby_dec *d, const json_t *label_selector, struct tby_sel **out)
{
    struct node_vec terms = { 0 };
    struct tby_error err = { 0 };
    struct node *root;
    int rc;

    *out = NULL;
    rc = k8s_terms(d, label_selector, &terms);
    if (rc < 0) {
        node_vec_free(&terms);
        return rc;
    }
    root = terms.n ? node_join(K_AND, &terms) : node_new(K_ALL);
    if (!root)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    rc = sel_new(root, out, &err);
    if (rc == -EINVAL)
        return tby_dec_fail(d, "%s", err.msg);
    if (rc < 0)
        return tby_error_set(d->err, rc, "%s", err.msg);
    return 0;
}

int tby_sel_from_k8s(const json_t *label_selector, struct tby_sel **out,
                     struct tby_error *err)
{
    struct tby_dec d;

    tby_dec_init(&d, err);
    return tby_sel_decode_k8s(&d, label_selector, out);
}
