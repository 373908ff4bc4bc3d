/* test_selector.c — Calico selector parsing, matching, canonical form and errors, and the
 * Kubernetes LabelSelector conversion; table-driven, every table case also re-parses its
 * canonical form and checks it is a fixed point. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/cleanup.h"
#include "tabby/selector.h"
#include "tabby/validate.h"
#include "alloc_fail.h"

/* ---- helpers ------------------------------------------------------------------------ */

#define MAX_LABELS 16

struct labelset {
    struct tby_label pairs[MAX_LABELS + 1];
    char buf[512];
};

/* A test's label set written "k=v,k2=v2": "" is no labels, "k=" an empty value. */
static struct tby_labels labels_of(struct labelset *ls, const char *spec)
{
    char *save = NULL, *tok;
    size_t n = 0;

    assert_true(strlen(spec) < sizeof(ls->buf));
    strcpy(ls->buf, spec);
    for (tok = strtok_r(ls->buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');

        assert_non_null(eq);
        assert_true(n < MAX_LABELS);
        *eq = '\0';
        ls->pairs[n++] = (struct tby_label){ tok, eq + 1 };
    }
    ls->pairs[n] = (struct tby_label){ NULL, NULL };
    return tby_labels_from_pairs(ls->pairs);
}

static struct tby_sel *parse_ok(const char *text)
{
    struct tby_error err = { 0 };
    struct tby_sel *sel = NULL;
    int rc = tby_sel_parse(text, &sel, &err);

    if (rc != 0)
        fail_msg("parsing \"%s\" failed: %s", text, tby_error_str(&err));
    return sel;
}

/* The canonical form parses back to itself. */
static void assert_canonical_fixed_point(const struct tby_sel *sel)
{
    _cleanup_(tby_sel_freep) struct tby_sel *again = parse_ok(tby_sel_canonical(sel));

    if (strcmp(tby_sel_canonical(again), tby_sel_canonical(sel)) != 0)
        fail_msg("canonical \"%s\" re-parses as \"%s\"", tby_sel_canonical(sel),
                 tby_sel_canonical(again));
}

struct match_case {
    const char *sel;
    const char *labels;
    bool match;
};

static void check_match(const struct match_case *c)
{
    _cleanup_(tby_sel_freep) struct tby_sel *sel = parse_ok(c->sel);
    _cleanup_(tby_sel_freep) struct tby_sel *canon = NULL;
    struct labelset ls;
    struct tby_labels labels = labels_of(&ls, c->labels);

    if (tby_sel_match(sel, &labels) != c->match)
        fail_msg("\"%s\" on {%s}: expected %s", c->sel, c->labels,
                 c->match ? "match" : "no match");
    assert_canonical_fixed_point(sel);
    canon = parse_ok(tby_sel_canonical(sel));
    if (tby_sel_match(canon, &labels) != c->match)
        fail_msg("canonical \"%s\" of \"%s\" on {%s}: expected %s", tby_sel_canonical(sel),
                 c->sel, c->labels, c->match ? "match" : "no match");
}

static size_t match_cases_run;

static void run_match_table(const struct match_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        check_match(&cases[i]);
    match_cases_run += n;
}

#define RUN_MATCH_TABLE(t) run_match_table((t), TBY_ARRAY_SIZE(t))

/* ---- matching, by operator ---------------------------------------------------------- */

static void test_equal_matches_only_the_exact_value(void **state)
{
    static const struct match_case cases[] = {
        { "a == 'b'", "a=b", true },
        { "a == 'b'", "a=b,c=d", true },
        { "a == 'b'", "a=c", false },
        { "a == 'b'", "a=bb", false },
        { "a == 'b'", "a=", false },
        { "a == 'b'", "a=B", false },
        { "A == 'b'", "a=b", false },
        { "a == 'b'", "c=b", false },
        { "a == ''", "a=", true },
        { "a == ''", "a=x", false },
        { "a == 'b c'", "a=b c", true },
        { "a == 'b c'", "a=b", false },
        { "a=='b'", "a=b", true },
        { "a == \"b\"", "a=b", true },
        { "a == 'b' && c == 'd'", "a=b,c=d", true },
        { "a == 'b' && c == 'd'", "a=b,c=e", false },
        { "a == 'b' && c == 'd'", "a=c,c=d", false },
        { "a == 'b' && c == 'd'", "a=b", false },
        { "a == 'b' || c == 'd'", "a=b", true },
        { "a == 'b' || c == 'd'", "c=d", true },
        { "a == 'b' || c == 'd'", "a=e,c=e", false },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_not_equal_matches_other_values(void **state)
{
    static const struct match_case cases[] = {
        { "a != 'b'", "a=b", false },
        { "a != 'b'", "a=c", true },
        { "a != 'b'", "a=B", true },
        { "a != 'b'", "a=", true },
        { "a != ''", "a=", false },
        { "a != ''", "a=x", true },
        { "a!='b'", "a=b", false },
        { "a != \"b\"", "a=bb", true },
        { "a != 'b' && c != 'd'", "a=x,c=y", true },
        { "a != 'b' && c != 'd'", "a=b,c=y", false },
        { "a != 'b' || c != 'd'", "a=b,c=d", false },
        { "a != 'b' || c != 'd'", "a=b,c=x", true },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_in_matches_any_member_of_the_set(void **state)
{
    static const struct match_case cases[] = {
        { "a in {'x', 'y'}", "a=x", true },
        { "a in {'x', 'y'}", "a=y", true },
        { "a in {'x', 'y'}", "a=z", false },
        { "a in {'x', 'y'}", "a=xy", false },
        { "a in {'x', 'y'}", "a=", false },
        { "a in {'x'}", "a=x", true },
        { "a in {'x'}", "b=x", false },
        { "a in {}", "a=x", false },
        { "a in {}", "a=", false },
        { "a in {''}", "a=", true },
        { "a in {''}", "a=x", false },
        { "a in {'x', 'x'}", "a=x", true },
        { "a in {'z', 'y', 'x'}", "a=y", true },
        { "a in {'x', 'y',}", "a=y", true },
        { "a in {\"x\", 'y'}", "a=x", true },
        { "a in {'1', '2', '3', '4', '5', '6', '7', '8', '9', '10'}", "a=7", true },
        { "a in {'1', '2', '3', '4', '5', '6', '7', '8', '9', '10'}", "a=10", true },
        { "a in {'1', '2', '3', '4', '5', '6', '7', '8', '9', '10'}", "a=11", false },
        { "a in {'1', '2', '3', '4', '5', '6', '7', '8', '9', '10'}", "a=0", false },
        { "a in {'b'} && c in {'d'}", "a=b,c=d", true },
        { "a in {'b'} && c in {'d'}", "a=b,c=e", false },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_not_in_matches_values_outside_the_set(void **state)
{
    static const struct match_case cases[] = {
        { "a not in {'x', 'y'}", "a=x", false },
        { "a not in {'x', 'y'}", "a=y", false },
        { "a not in {'x', 'y'}", "a=z", true },
        { "a not in {'x', 'y'}", "a=", true },
        { "a not in {}", "a=x", true },
        { "a not in {''}", "a=", false },
        { "a notin {'x'}", "a=x", false },
        { "a not  in {'x'}", "a=y", true },
        { "a not\tin {'x'}", "a=x", false },
        { "a not in {'x', 'x', 'w'}", "a=w", false },
        { "a not in {'d', 'e'}", "a=a", true },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_has_tests_presence_whatever_the_value(void **state)
{
    static const struct match_case cases[] = {
        { "has(a)", "a=b", true },
        { "has(a)", "a=", true },
        { "has(a)", "b=a", false },
        { "has(ab)", "a=1", false },
        { "has(a)", "ab=1", false },
        { "has( a )", "a=1", true },
        { "has(\ta\t)", "a=1", true },
        { "!has(a)", "a=", false },
        { "!has(a)", "b=b", true },
        { "has(a) && has(b)", "a=1,b=2", true },
        { "has(a) && has(b)", "a=1", false },
        { "has(a) || has(b)", "b=2", true },
        { "has(a) && !has(b)", "a=a", true },
        { "has(a) && !has(b)", "a=a,b=b", false },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_contains_matches_substrings(void **state)
{
    static const struct match_case cases[] = {
        { "a contains 'b'", "a=abc", true },
        { "a contains 'b'", "a=b", true },
        { "a contains 'b'", "a=bab", true },
        { "a contains 'b'", "a=ac", false },
        { "a contains 'B'", "a=abc", false },
        { "a contains 'abc'", "a=xabcx", true },
        { "a contains 'abc'", "a=ab", false },
        { "a contains 'abc'", "a=abx", false },
        { "a contains ''", "a=", true },
        { "a contains ''", "a=x", true },
        { "a contains \"a\"", "a=aaa,b=c", true },
        { "a contains 'a'", "b=aaa", false },
        { "a contains'b'", "a=b", true },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_starts_with_matches_prefixes(void **state)
{
    static const struct match_case cases[] = {
        { "a starts with 'ab'", "a=abc", true },
        { "a starts with 'ab'", "a=ab", true },
        { "a starts with 'ab'", "a=a", false },
        { "a starts with 'ab'", "a=cab", false },
        { "a starts with 'ab'", "a=Abc", false },
        { "a starts with ''", "a=x", true },
        { "a starts with ''", "a=", true },
        { "a startswith 'x'", "a=xy", true },
        { "a starts  with 'x'", "a=xy", true },
        { "a starts\twith 'x'", "a=yx", false },
        { "a starts with \"a\"", "a=baa", false },
        { "a starts with 'a'", "b=aaa", false },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_ends_with_matches_suffixes(void **state)
{
    static const struct match_case cases[] = {
        { "a ends with 'bc'", "a=abc", true },
        { "a ends with 'bc'", "a=bc", true },
        { "a ends with 'bc'", "a=c", false },
        { "a ends with 'bc'", "a=bca", false },
        { "a ends with 'bc'", "a=aBC", false },
        { "a ends with ''", "a=", true },
        { "a ends with ''", "a=x", true },
        { "a endswith 'c'", "a=abc", true },
        { "a ends   with 'c'", "a=abd", false },
        { "a ends with \"a\"", "a=aab", false },
        { "a ends with 'a'", "b=aaa", false },
        { "a ends with 'abcdef'", "a=def", false },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_all_and_global_match_every_label_set(void **state)
{
    static const struct match_case cases[] = {
        { "all()", "", true },
        { "all()", "a=b", true },
        { "all( )", "", true },
        { " all()", "a=b", true },
        { "(all())", "", true },
        { "global()", "", true },
        { "global()", "a=b", true },
        { " global( ) ", "a=b", true },
        { "!all()", "", false },
        { "!global()", "a=b", false },
        { "all() && a == 'b'", "a=b", true },
        { "all() && a == 'b'", "a=c", false },
        { "global() || a == 'b'", "", true },
        { "all() && global()", "x=y", true },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_empty_selector_means_all(void **state)
{
    static const struct match_case cases[] = {
        { "", "", true },
        { "", "a=b", true },
        { " ", "", true },
        { "\t \t", "a=b", true },
    };
    _cleanup_(tby_sel_freep) struct tby_sel *empty = parse_ok("");
    _cleanup_(tby_sel_freep) struct tby_sel *null = parse_ok(NULL);

    (void)state;
    RUN_MATCH_TABLE(cases);
    assert_true(tby_sel_is_all(empty));
    assert_true(tby_sel_is_all(null));
    assert_string_equal(tby_sel_canonical(empty), "all()");
}

/* ---- missing labels, precedence, negation -------------------------------------------- */

static void test_missing_label_makes_not_equal_and_not_in_true(void **state)
{
    static const struct match_case cases[] = {
        { "a != 'x'", "", true },
        { "a != 'x'", "b=x", true },
        { "a != ''", "", true },
        { "a not in {'x'}", "", true },
        { "a not in {'x'}", "b=x", true },
        { "a not in {}", "", true },
        { "!has(a)", "", true },
        { "!has(a)", "b=x", true },
        { "!a == 'x'", "b=x", true },
        { "!a in {'x'}", "b=x", true },
        { "!a contains 'x'", "", true },
        { "!a starts with 'x'", "", true },
        { "!a ends with 'x'", "", true },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_missing_label_makes_positive_tests_false(void **state)
{
    static const struct match_case cases[] = {
        { "a == 'x'", "", false },
        { "a == 'x'", "b=x", false },
        { "a == ''", "", false },
        { "a in {'x'}", "", false },
        { "a in {''}", "", false },
        { "a in {'x'}", "b=x", false },
        { "a contains 'x'", "b=x", false },
        { "a contains ''", "", false },
        { "a starts with 'x'", "", false },
        { "a starts with ''", "", false },
        { "a ends with 'x'", "", false },
        { "a ends with ''", "", false },
        { "has(a)", "", false },
        { "!a != 'x'", "b=x", false },
        { "!a not in {'x'}", "b=x", false },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_and_binds_tighter_than_or(void **state)
{
    static const struct match_case cases[] = {
        /* a || (b && c) */
        { "a == '1' || b == '1' && c == '1'", "a=1", true },
        { "a == '1' || b == '1' && c == '1'", "b=1", false },
        { "a == '1' || b == '1' && c == '1'", "c=1", false },
        { "a == '1' || b == '1' && c == '1'", "b=1,c=1", true },
        /* (a && b) || c */
        { "a == '1' && b == '1' || c == '1'", "c=1", true },
        { "a == '1' && b == '1' || c == '1'", "a=1", false },
        { "a == '1' && b == '1' || c == '1'", "a=1,b=1", true },
        { "a == '1' && b == '1' || c == '1'", "b=1", false },
        /* a || (b && c) || d */
        { "has(a) || has(b) && has(c) || has(d)", "d=1", true },
        { "has(a) || has(b) && has(c) || has(d)", "b=1", false },
        { "has(a) || has(b) && has(c) || has(d)", "b=1,c=1", true },
        { "has(a) || has(b) && has(c) || has(d)", "a=1", true },
        { "has(a) || has(b) || has(c)", "c=1", true },
        { "has(a) || has(b) || has(c)", "d=1", false },
        { "has(a) && has(b) && has(c)", "a=1,b=1,c=1", true },
        { "has(a) && has(b) && has(c)", "a=1,b=1", false },
        { "!has(a) || has(b)", "a=1", false },
        { "!has(a) || has(b)", "", true },
        { "!has(a) && has(b)", "b=1", true },
        { "!has(a) && has(b)", "a=1,b=1", false },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_parentheses_override_precedence(void **state)
{
    static const struct match_case cases[] = {
        { "(a == '1' || b == '1') && c == '1'", "a=1", false },
        { "(a == '1' || b == '1') && c == '1'", "a=1,c=1", true },
        { "(a == '1' || b == '1') && c == '1'", "b=1,c=1", true },
        { "(a == '1' || b == '1') && c == '1'", "c=1", false },
        { "a == '1' && (b == '1' || c == '1')", "a=1,c=1", true },
        { "a == '1' && (b == '1' || c == '1')", "b=1,c=1", false },
        { "a == '1' && (b == '1' || c == '1')", "a=1", false },
        { "(has(a))", "a=1", true },
        { "( has(a) )", "a=1", true },
        { "((((has(a)))))", "a=1", true },
        { "((((has(a)))))", "b=1", false },
        { "(has(a) || has(b)) && (has(c) || has(d))", "a=1,d=1", true },
        { "(has(a) || has(b)) && (has(c) || has(d))", "a=1,b=1", false },
        { "has(a) && (has(b) && (has(c) || (has(d) || has(e))))", "a=1,b=1,e=1", true },
        { "has(a) && (has(b) && (has(c) || (has(d) || has(e))))", "a=1,e=1", false },
        { "((has(a) && has(b)) || has(c)) && has(d)", "c=1,d=1", true },
        { "((has(a) && has(b)) || has(c)) && has(d)", "a=1,b=1", false },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_negation_applies_to_the_following_operation(void **state)
{
    static const struct match_case cases[] = {
        { "!a == 'x'", "a=x", false },
        { "!a == 'x'", "a=y", true },
        { "!a != 'x'", "a=x", true },
        { "!a in {'x'}", "a=y", true },
        { "!a in {'x'}", "a=x", false },
        { "!a not in {'x'}", "a=x", true },
        { "!a contains 'x'", "a=axa", false },
        { "!a starts with 'x'", "a=ax", true },
        { "!a ends with 'x'", "a=ax", false },
        { "! has(a)", "", true },
        { "!has(a) && has(b)", "b=1", true },
        { "!(a == 'x')", "a=x", false },
        { "!(a == 'x' || b == 'y')", "b=y", false },
        { "!(a == 'x' || b == 'y')", "c=1", true },
        { "!(a == 'x' && b == 'y')", "a=x", true },
        { "!(a == 'x' && b == 'y')", "a=x,b=y", false },
        { "!(!has(a) || has(b))", "a=a", true },
        { "!(has(b) || !has(a))", "a=a", true },
        { "! a == 'a1' || ! b == 'b1'", "a=a1,b=b1", false },
        { "! a == 'a1' || ! b == 'b1'", "a=a1", true },
        { "!a == 'a1' && b == 'b1'", "a=a1,b=b1", false },
        { "a != 'a1' && !b == 'b1'", "a=a1,b=b1", false },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_double_negation_cancels(void **state)
{
    static const struct match_case cases[] = {
        { "!!has(a)", "a=1", true },
        { "!!has(a)", "", false },
        { "!!!has(a)", "a=1", false },
        { "!!! has(a)", "", true },
        { "!! !has(a)", "a=b", false },
        { "! !!has(a)", "a=b", false },
        { "!(!has(a))", "a=1", true },
        { "!(!(has(a)))", "", false },
        { "!!(has(a) && has(b))", "a=1,b=1", true },
        { "!(!(has(a) || has(b)))", "b=1", true },
        { "!!a == 'x'", "a=x", true },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

/* ---- quoting, whitespace, keys ----------------------------------------------------- */

static void test_both_quote_styles_give_the_same_value(void **state)
{
    static const struct match_case cases[] = {
        { "a == \"b\"", "a=b", true },
        { "a == 'b'", "a=b", true },
        { "a == \"it's\"", "a=it's", true },
        { "a == '\"q\"'", "a=\"q\"", true },
        { "a == '\"q\"'", "a=q", false },
        { "a in {\"'\", '\"', \"c\"}", "a='", true },
        { "a in {\"'\", '\"', \"c\"}", "a=\"", true },
        { "a in {\"'\", '\"', \"c\"}", "a=c", true },
        { "a in {\"'\", '\"', \"c\"}", "a=e", false },
        { "a not in {\"'\", '\"'}", "a='", false },
        { "a not in {\"'\", '\"'}", "a=x", true },
        { "a contains \"'\"", "a=it's", true },
        { "a starts with '\"'", "a=\"x", true },
        { "a ends with \"'\"", "a=x'", true },
        { "a == ' '", "a= ", true },
        { "a == '  b  '", "a=b", false },
        { "a == '&&'", "a=&&", true },
        { "a == '||'", "a=||", true },
        { "a == ')'", "a=)", true },
        { "a == '{'", "a={", true },
        { "a == 'has(b)'", "a=has(b)", true },
        { "a == 'has(b)'", "b=1", false },
        { "a == '\xc3\xa9'", "a=\xc3\xa9", true },
        { "a == \"\"", "a=", true },
        { "a == ''", "a=''", false },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_spaces_and_tabs_between_tokens_are_free(void **state)
{
    static const struct match_case cases[] = {
        { "a=='b'", "a=b", true },
        { "  a  ==  'b'  ", "a=b", true },
        { "\ta\t==\t'b'\t", "a=b", true },
        { "a!='b'", "a=c", true },
        { "a in{'b'}", "a=b", true },
        { "a in {  'b'  ,  'c'  }", "a=c", true },
        { "a in{'b','c'}", "a=d", false },
        { "has(a)&&has(b)", "a=1,b=1", true },
        { "has(a)||has(b)", "b=1", true },
        { "has(a)&&!has(b)", "a=1", true },
        { "( has(a) )", "a=1", true },
        { "(has(a)||has(b))&&has(c)", "b=1,c=1", true },
        { "a    starts    with    'b'", "a=bc", true },
        { "!  has(a)", "", true },
        { "a contains'b'", "a=b", true },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

static void test_keys_may_hold_dots_slashes_dashes_and_underscores(void **state)
{
    static const struct match_case cases[] = {
        { "projectcalico.org/namespace == 'default'", "projectcalico.org/namespace=default",
          true },
        { "projectcalico.org/namespace == 'default'", "namespace=default", false },
        { "pcns.foo == 'bar'", "pcns.foo=bar", true },
        { "app.kubernetes.io/name == 'web'", "app.kubernetes.io/name=web", true },
        { "has(projectcalico.org/orchestrator)", "projectcalico.org/orchestrator=k8s", true },
        { "my-label == 'x'", "my-label=x", true },
        { "my_label == 'x'", "my_label=x", true },
        { "a/b/c == 'x'", "a/b/c=x", true },
        { "1 == 'x'", "1=x", true },
        { "-a == 'x'", "-a=x", true },
        { "a.b-c_d/e in {'x'}", "a.b-c_d/e=x", true },
        { "A == 'x'", "A=x", true },
        { "A == 'x'", "a=x", false },
        /* Keyword-like keys are ordinary labels unless followed by '(' (Calico). */
        { "has == 'x'", "has=x", true },
        { "all == 'x'", "all=x", true },
        { "global == 'x'", "global=x", true },
        { "in == 'x'", "in=x", true },
        { "not in {'x'}", "not=x", true },
        { "contains contains 'x'", "contains=axb", true },
        { "allx == 'y'", "allx=y", true },
    };

    (void)state;
    RUN_MATCH_TABLE(cases);
}

/* ---- canonical form ------------------------------------------------------------------ */

struct canon_case {
    const char *input;
    const char *canonical;
};

static const struct canon_case canon_cases[] = {
    { "", "all()" },
    { "   ", "all()" },
    { "all()", "all()" },
    { " all( ) ", "all()" },
    { " (all() )", "all()" },
    { "global()", "global()" },
    { "!all()", "!all()" },
    { "all() && global()", "all() && global()" },
    { "a==\"b\"", "a == 'b'" },
    { "a == 'b'", "a == 'b'" },
    { "a==\"it's\"", "a == \"it's\"" },
    { "a=='\"'", "a == '\"'" },
    { "a == \"'\"", "a == \"'\"" },
    { "a != \"b\"", "a != 'b'" },
    { "a!='\"'", "a != '\"'" },
    { "a == \"\"", "a == ''" },
    { "a contains \"x\"", "a contains 'x'" },
    { "a contains \"'\"", "a contains \"'\"" },
    { "a startswith 'x'", "a starts with 'x'" },
    { "a starts \t with 'x'", "a starts with 'x'" },
    { "a endswith \"x\"", "a ends with 'x'" },
    { "a in {\"d\"}", "a in {'d'}" },
    { "a in {\"d\", 'a', \"b\"}", "a in {'a', 'b', 'd'}" },
    { "a in {'z', 'z', 'x', 'y', 'x', 'a'}", "a in {'a', 'x', 'y', 'z'}" },
    { "a in {'b', 'B', 'a', 'A'}", "a in {'A', 'B', 'a', 'b'}" },
    { "a in {'10', '9', '1'}", "a in {'1', '10', '9'}" },
    { "a in {}", "a in {}" },
    { "a in { }", "a in {}" },
    { "a in {'x',}", "a in {'x'}" },
    { "a in {\"'\", '\"'}", "a in {'\"', \"'\"}" },
    { "a not in {'b','a'}", "a not in {'a', 'b'}" },
    { "a notin {'b'}", "a not in {'b'}" },
    { "has( a )", "has(a)" },
    { "! has(a)", "!has(a)" },
    { "!!has(a)", "has(a)" },
    { "!!!has(a)", "!has(a)" },
    { "!(!has(a))", "has(a)" },
    { "!(has(a))", "!has(a)" },
    { "!a == 'b'", "!a == 'b'" },
    { "!(a == 'b')", "!a == 'b'" },
    { "!(has(a) && has(b))", "!(has(a) && has(b))" },
    { "!(has(a) || has(b))", "!(has(a) || has(b))" },
    { "!!(has(a) || has(b))", "has(a) || has(b)" },
    { "!(!(has(a) && has(b)))", "has(a) && has(b)" },
    { "has(a)&&has(b)", "has(a) && has(b)" },
    { "has(a)||has(b)", "has(a) || has(b)" },
    { "(has(a) && has(b))", "has(a) && has(b)" },
    { "(has(a) && has(b)) && has(c)", "has(a) && has(b) && has(c)" },
    { "has(a) && (has(b) && has(c))", "has(a) && has(b) && has(c)" },
    { "(has(a) || has(b)) || has(c)", "has(a) || has(b) || has(c)" },
    { "has(a) || (has(b) || has(c))", "has(a) || has(b) || has(c)" },
    { "(has(a) || has(b)) && has(c)", "(has(a) || has(b)) && has(c)" },
    { "has(a) && (has(b) || has(c))", "has(a) && (has(b) || has(c))" },
    { "(has(a) && has(b)) || has(c)", "has(a) && has(b) || has(c)" },
    { "has(a) || has(b) && has(c)", "has(a) || has(b) && has(c)" },
    { "has(a) || (has(b) && has(c))", "has(a) || has(b) && has(c)" },
    { "((((has(a)))))", "has(a)" },
    { "!(has(a) || !(has(b) && has(c)))", "!(has(a) || !(has(b) && has(c)))" },
    { "! (has( b)||! has(a ))", "!(has(b) || !has(a))" },
    { "! (a == \"b\"&&! c != \"d\")", "!(a == 'b' && !c != 'd')" },
    { "(a == 'b' || c == 'd') && (e == 'f' || g == 'h')",
      "(a == 'b' || c == 'd') && (e == 'f' || g == 'h')" },
    { "a == 'b' && (c == 'd' && (e == 'f' || (g == 'h' || i == 'j')))",
      "a == 'b' && c == 'd' && (e == 'f' || g == 'h' || i == 'j')" },
    { "(a == 'b' && (c == 'd' || e == 'f')) || g == 'h'",
      "a == 'b' && (c == 'd' || e == 'f') || g == 'h'" },
    { "!(a in {'y', 'x'}) && !(has(b) || c not in {'z'})",
      "!a in {'x', 'y'} && !(has(b) || c not in {'z'})" },
    /* Operands keep their written order (as in Calico). */
    { "has(b) && has(a)", "has(b) && has(a)" },
    { "projectcalico.org/namespace=='x'", "projectcalico.org/namespace == 'x'" },
    { "has == 'x'", "has == 'x'" },
};

static void test_canonical_form_normalises_spelling(void **state)
{
    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(canon_cases); i++) {
        _cleanup_(tby_sel_freep) struct tby_sel *sel = parse_ok(canon_cases[i].input);

        if (strcmp(tby_sel_canonical(sel), canon_cases[i].canonical) != 0)
            fail_msg("\"%s\": canonical \"%s\", expected \"%s\"", canon_cases[i].input,
                     tby_sel_canonical(sel), canon_cases[i].canonical);
    }
}

static void test_canonical_form_reparses_to_itself(void **state)
{
    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(canon_cases); i++) {
        _cleanup_(tby_sel_freep) struct tby_sel *sel = parse_ok(canon_cases[i].input);

        assert_canonical_fixed_point(sel);
    }
}

static void test_spellings_of_one_selector_print_identically(void **state)
{
    static const char *const spellings[] = {
        "a == 'x' && b in {'p', 'q'} || !has(c)",
        "a==\"x\"&&b in{\"q\",'p','q'}||!has(c)",
        "(a == 'x' && b in {'q', 'p'}) || !has(c)",
        "((a == 'x') && (b in {'p', 'q'})) || (!has(c))",
        "\ta == \"x\"  &&  b in { 'p' , 'q' , } || ! has( c )",
        "!!(a == 'x' && b in {'p','q'}) || !!!has(c)",
    };
    _cleanup_(tby_sel_freep) struct tby_sel *first = parse_ok(spellings[0]);

    (void)state;
    for (size_t i = 1; i < TBY_ARRAY_SIZE(spellings); i++) {
        _cleanup_(tby_sel_freep) struct tby_sel *sel = parse_ok(spellings[i]);

        assert_string_equal(tby_sel_canonical(sel), tby_sel_canonical(first));
    }
    assert_string_equal(tby_sel_canonical(first), "a == 'x' && b in {'p', 'q'} || !has(c)");
}

/* ---- errors ------------------------------------------------------------------------ */

struct error_case {
    const char *input;
    const char *fragment;
};

static const struct error_case error_cases[] = {
    { "a ==", "position 5: expected a quoted string, found end of selector" },
    { "app == ", "position 8: expected a quoted string" },
    { "b == b", "position 6: expected a quoted string, found \"b\"" },
    { "b contains b", "position 12: expected a quoted string, found \"b\"" },
    { "b starts with b", "position 15: expected a quoted string" },
    { "b ends with b", "position 13: expected a quoted string" },
    { "a === 'b'", "position 5: expected a quoted string, found '='" },
    { "'b1' == b", "position 1: expected a label, has(), all(), global(), '!' or '(', "
                   "found a quoted string" },
    { "b", "position 2: expected an operator (==, !=, in, not in, contains, starts with, "
           "ends with) after label \"b\", found end of selector" },
    { "a ", "position 3: expected an operator" },
    { "a b", "position 3: expected an operator (==, !=, in, not in, contains, starts with, "
             "ends with) after label \"a\", found \"b\"" },
    { "a = 'b'", "position 3: expected an operator" },
    { "a starts 'b'", "position 10: expected 'with' after 'starts', found a quoted string" },
    { "a ends", "position 7: expected 'with' after 'ends', found end of selector" },
    { "a not 'b'", "position 7: expected 'in' after 'not'" },
    { "!", "position 2: expected a label, has(), all(), global(), '!' or '(', "
           "found end of selector" },
    { "!= 'b'", "position 1: expected a label, has(), all(), global(), '!' or '(', found '!'" },
    { "foo == \"bar\" &", "position 14: expected '&&', '||' or the end of the selector, "
                          "found '&'" },
    { "foo == \"bar\" |", "position 14: expected '&&', '||' or the end of the selector, "
                          "found '|'" },
    { "foo != ||", "position 8: expected a quoted string, found '|'" },
    { "foo in {\"\", ||", "position 13: expected a quoted string or '}', found '|'" },
    { "foo in \"\"", "position 8: expected '{' to start a set of values, found a quoted string" },
    { "a in {'b' 'c'}", "position 11: expected ',' or '}', found a quoted string" },
    { "a in {'b'", "position 10: expected ',' or '}', found end of selector" },
    { "a in {,}", "position 7: expected a quoted string or '}', found ','" },
    { "a in {'b',,}", "position 11: expected a quoted string or '}', found ','" },
    { "a == \"FOO", "position 6: unterminated string: no closing \"" },
    { "a == \"FOO'", "position 6: unterminated string: no closing \"" },
    { "a == 'FOO", "position 6: unterminated string: no closing '" },
    { "a in {'x', 'y}", "position 12: unterminated string: no closing '" },
    { "(", "position 2: expected a label, has(), all(), global(), '!' or '('" },
    { "(a == \"foo\"", "position 12: expected '&&', '||' or ')' to close the '(' at position "
                       "1, found end of selector" },
    { "((a == 'b')", "position 12: expected '&&', '||' or ')' to close the '(' at position 1" },
    { ")", "position 1: expected a label, has(), all(), global(), '!' or '(', found ')'" },
    { "()", "position 2: expected a label, has(), all(), global(), '!' or '(', found ')'" },
    { "a == 'b')", "position 9: expected '&&', '||' or the end of the selector, found ')'" },
    { "%", "position 1: expected a label, has(), all(), global(), '!' or '(', found '%'" },
    { "@app == 'x'", "position 1: expected a label, has(), all(), global(), '!' or '(', "
                     "found '@'" },
    { "a == \"b\" && %", "position 13: expected a label, has(), all(), global(), '!' or '(', "
                         "found '%'" },
    { "a == \"b\" || %", "position 13: expected a label" },
    { "has(foo) &&", "position 12: expected a label, has(), all(), global(), '!' or '(', "
                     "found end of selector" },
    { "a == 'b' ||", "position 12: expected a label" },
    { "&& a == 'b'", "position 1: expected a label, has(), all(), global(), '!' or '(', "
                     "found '&'" },
    { "a == 'b' &&& c == 'd'", "position 12: expected a label, has(), all(), global(), '!' "
                               "or '(', found '&'" },
    { "has()", "position 5: expected a label key inside has(), found ')'" },
    { "has(a", "position 6: expected ')' to close has(, found end of selector" },
    { "has(a b)", "position 7: expected ')' to close has(, found \"b\"" },
    { "has('a')", "position 5: expected a label key inside has(), found a quoted string" },
    { "has (a)", "position 5: expected an operator (==, !=, in, not in, contains, starts "
                 "with, ends with) after label \"has\", found '('" },
    { "all(x)", "position 5: expected ')' after all(, found \"x\"" },
    { "global(", "position 8: expected ')' after global(, found end of selector" },
    { "a == 'b' c == 'd'", "position 10: expected '&&', '||' or the end of the selector, "
                           "found \"c\"" },
    { "a == 'b' and c == 'd'", "position 10: expected '&&', '||' or the end of the selector, "
                               "found \"and\"" },
    { "a in {'b'} in {'c'}", "position 12: expected '&&', '||' or the end of the selector, "
                             "found \"in\"" },
    { "a == 'b'\n", "position 9: expected '&&', '||' or the end of the selector, "
                    "found byte 0x0a" },
    { "a\n== 'b'", "position 2: expected an operator" },
    { "\r\nhas(a)", "position 1: expected a label, has(), all(), global(), '!' or '(', "
                    "found byte 0x0d" },
    { "a \xe2\x89\xa0 'b'", "position 3: expected an operator (==, !=, in, not in, contains, "
                            "starts with, ends with) after label \"a\", found byte 0xe2" },
};

static void test_invalid_selectors_report_position_and_expectation(void **state)
{
    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(error_cases); i++) {
        const struct error_case *c = &error_cases[i];
        struct tby_error err = { 0 };
        struct tby_sel *sel = (struct tby_sel *)&err; /* must be reset to NULL */
        int rc = tby_sel_parse(c->input, &sel, &err);

        if (rc != -EINVAL)
            fail_msg("\"%s\": expected -EINVAL, got %d", c->input, rc);
        assert_null(sel);
        assert_int_equal(err.code, -EINVAL);
        if (!strstr(err.msg, c->fragment))
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", c->input, err.msg, c->fragment);
        if (strncmp(err.msg, "selector \"", 10) != 0)
            fail_msg("\"%s\": message \"%s\" does not name the selector", c->input, err.msg);
    }
}

static void test_error_message_quotes_the_selector_text(void **state)
{
    struct tby_error err = { 0 };
    struct tby_sel *sel = NULL;

    (void)state;
    assert_int_equal(tby_sel_parse("app == ", &sel, &err), -EINVAL);
    assert_string_equal(err.msg, "selector \"app == \": position 8: expected a quoted string, "
                                 "found end of selector");
    assert_int_equal(tby_sel_parse("a == \"x", &sel, &err), -EINVAL);
    assert_string_equal(err.msg, "selector \"a == \\\"x\": position 6: unterminated string: "
                                 "no closing \"");
    assert_int_equal(tby_sel_parse("a\tb", &sel, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "selector \"a\\x09b\": position 3"));
}

static void test_parse_without_error_struct_still_fails_cleanly(void **state)
{
    struct tby_sel *sel = NULL;

    (void)state;
    assert_int_equal(tby_sel_parse("a ==", &sel, NULL), -EINVAL);
    assert_null(sel);
    assert_int_equal(tby_sel_parse("has(a)", &sel, NULL), 0);
    tby_sel_free(sel);
    tby_sel_free(NULL);
}

/* "(((...has(a)...)))" nested `depth` deep; caller frees. */
static char *nested(size_t depth)
{
    char *s = malloc(2 * depth + sizeof("has(a)"));
    size_t o = 0;

    assert_non_null(s);
    for (size_t i = 0; i < depth; i++)
        s[o++] = '(';
    memcpy(s + o, "has(a)", 6);
    o += 6;
    for (size_t i = 0; i < depth; i++)
        s[o++] = ')';
    s[o] = '\0';
    return s;
}

static void test_nesting_up_to_the_limit_is_accepted(void **state)
{
    _cleanup_free_ char *text = nested(TBY_SEL_MAX_DEPTH);
    _cleanup_(tby_sel_freep) struct tby_sel *sel = parse_ok(text);

    (void)state;
    assert_string_equal(tby_sel_canonical(sel), "has(a)");
}

static void test_nesting_beyond_the_limit_is_an_error_not_a_crash(void **state)
{
    static const size_t depths[] = { TBY_SEL_MAX_DEPTH + 1, 1000, 2040 };
    char fragment[128];

    (void)state;
    snprintf(fragment, sizeof(fragment), "position %d: parentheses nested more than %d deep",
             TBY_SEL_MAX_DEPTH + 1, TBY_SEL_MAX_DEPTH);
    for (size_t i = 0; i < TBY_ARRAY_SIZE(depths); i++) {
        _cleanup_free_ char *text = nested(depths[i]);
        struct tby_error err = { 0 };
        struct tby_sel *sel = NULL;

        assert_int_equal(tby_sel_parse(text, &sel, &err), -EINVAL);
        assert_null(sel);
        assert_non_null(strstr(err.msg, fragment));
    }
}

static void test_deep_negated_nesting_is_bounded_too(void **state)
{
    /* "!(!(!(...has(a)...)))": each level a '!' and a parenthesis. */
    char text[4 * TBY_SEL_MAX_DEPTH + 16];
    size_t o = 0;
    struct tby_error err = { 0 };
    struct tby_sel *sel = NULL;

    (void)state;
    for (int i = 0; i <= TBY_SEL_MAX_DEPTH; i++) {
        text[o++] = '!';
        text[o++] = '(';
    }
    strcpy(text + o, "has(a)");
    assert_int_equal(tby_sel_parse(text, &sel, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "parentheses nested more than"));
}

static void test_long_runs_of_negation_are_not_recursion(void **state)
{
    char text[TBY_SEL_MAX_LEN + 1];
    size_t bangs = TBY_SEL_MAX_LEN - strlen("has(a)");

    (void)state;
    memset(text, '!', bangs); /* an even number: the run cancels */
    strcpy(text + bangs, "has(a)");
    assert_int_equal(strlen(text), TBY_SEL_MAX_LEN);
    {
        _cleanup_(tby_sel_freep) struct tby_sel *sel = parse_ok(text);

        assert_string_equal(tby_sel_canonical(sel), bangs % 2 ? "!has(a)" : "has(a)");
    }
}

/* A valid selector of exactly `len` bytes: "a in {'x', 'x', ...}" padded with spaces. */
static char *selector_of_length(size_t len)
{
    char *s = malloc(len + 1);
    size_t o;

    assert_non_null(s);
    o = (size_t)sprintf(s, "a in {'x'");
    while (o + 5 + 1 <= len) {
        memcpy(s + o, ", 'x'", 5);
        o += 5;
    }
    s[o++] = '}';
    while (o < len)
        s[o++] = ' ';
    s[o] = '\0';
    return s;
}

static void test_selector_at_the_length_limit_is_accepted(void **state)
{
    _cleanup_free_ char *text = selector_of_length(TBY_SEL_MAX_LEN);
    _cleanup_(tby_sel_freep) struct tby_sel *sel = parse_ok(text);
    struct labelset ls;
    struct tby_labels labels = labels_of(&ls, "a=x");

    (void)state;
    assert_int_equal(strlen(text), TBY_SEL_MAX_LEN);
    assert_string_equal(tby_sel_canonical(sel), "a in {'x'}");
    assert_true(tby_sel_match(sel, &labels));
}

static void test_selector_over_the_length_limit_is_rejected(void **state)
{
    _cleanup_free_ char *text = selector_of_length(TBY_SEL_MAX_LEN + 1);
    _cleanup_free_ char *huge = selector_of_length(1 << 20);
    struct tby_error err = { 0 };
    struct tby_sel *sel = NULL;
    char fragment[128];

    (void)state;
    snprintf(fragment, sizeof(fragment), ": %d bytes long, more than the %d allowed",
             TBY_SEL_MAX_LEN + 1, TBY_SEL_MAX_LEN);
    assert_int_equal(tby_sel_parse(text, &sel, &err), -EINVAL);
    assert_null(sel);
    assert_non_null(strstr(err.msg, fragment));
    /* The message shows only the start of the text. */
    assert_true(strlen(err.msg) < 200);
    assert_int_equal(tby_sel_parse(huge, &sel, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "1048576 bytes long"));
}

static void test_selector_whose_canonical_form_outgrows_the_limit_is_rejected(void **state)
{
    /* "has(a)&&has(a)&&..." within the limit prints as "has(a) && has(a) && ...", past it. */
    char text[TBY_SEL_MAX_LEN + 1] = "has(a)";
    struct tby_error err = { 0 };
    struct tby_sel *sel = NULL;

    (void)state;
    while (strlen(text) + 8 <= TBY_SEL_MAX_LEN)
        strcat(text, "&&has(a)");
    assert_int_equal(tby_sel_parse(text, &sel, &err), -EINVAL);
    assert_null(sel);
    assert_non_null(strstr(err.msg, "canonical form is 5116 bytes long, more than the 4096 "
                                    "allowed"));
    assert_int_equal(strncmp(err.msg, "selector \"has(a)&&", 18), 0);
}

static void test_k8s_selector_too_large_for_the_limit_is_rejected(void **state)
{
    _cleanup_json_ json_t *values = json_array();
    _cleanup_json_ json_t *j = NULL;
    struct tby_error err = { 0 };
    struct tby_sel *sel = NULL;
    char value[16];

    (void)state;
    for (int i = 0; i < 1000; i++) {
        snprintf(value, sizeof(value), "v%d", i);
        assert_int_equal(json_array_append_new(values, json_string(value)), 0);
    }
    j = json_pack("{s:[{s:s, s:s, s:O}]}", "matchExpressions", "key", "a", "operator", "In",
                  "values", values);
    assert_non_null(j);
    assert_int_equal(tby_sel_from_k8s(j, &sel, &err), -EINVAL);
    assert_null(sel);
    assert_non_null(strstr(err.msg, "more than the 4096 allowed"));
}

/* ---- keys, is_all, label views -------------------------------------------------------- */

static void test_keys_lists_every_label_read_once_in_order(void **state)
{
    _cleanup_(tby_sel_freep) struct tby_sel *sel =
        parse_ok("b == '1' && (a in {'x'} || !has(c)) && b != '2' || d contains 'q' && "
                 "has(a) || all() || e.f/g starts with 'z' || c ends with 'w'");
    _cleanup_(tby_sel_freep) struct tby_sel *all = parse_ok("all() || global()");
    static const char *const expected[] = { "a", "b", "c", "d", "e.f/g" };
    const char *const *keys = NULL;

    (void)state;
    assert_int_equal(tby_sel_keys(sel, &keys), TBY_ARRAY_SIZE(expected));
    for (size_t i = 0; i < TBY_ARRAY_SIZE(expected); i++)
        assert_string_equal(keys[i], expected[i]);
    assert_int_equal(tby_sel_keys(all, &keys), 0);
    assert_null(keys);
}

static const struct {
    const char *text;
    const char *required;     /* "k=v,k=v" as tby_sel_required lists them; "" for none */
} required_cases[] = {
    { "a == 'x'", "a=x" },
    { "a in {'y', 'x'}", "a=x,a=y" },
    { "a == 'x' && b in {'x', 'y'}", "a=x" },
    { "b in {'x', 'y'} && a == 'x'", "a=x" },
    { "has(a) && b == 'y'", "b=y" },
    { "a == 'x' || b == 'y'", "a=x,b=y" },
    { "a == 'x' || has(b)", "" },
    { "(a == 'x' || a == 'y') && b != 'x'", "a=x,a=y" },
    { "a != 'x'", "" },
    { "!(a == 'x')", "" },
    { "a not in {'x'}", "" },
    { "all()", "" },
    { "global()", "" },
    { "has(a)", "" },
    { "a contains 'x'", "" },
    { "a starts with 'x' && a ends with 'y'", "" },
};

static void test_required_pairs_list_what_a_match_needs(void **state)
{
    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(required_cases); i++) {
        _cleanup_(tby_sel_freep) struct tby_sel *sel = parse_ok(required_cases[i].text);
        const struct tby_label *req = NULL;
        size_t n = tby_sel_required(sel, &req);
        char got[256] = "";

        for (size_t k = 0; k < n; k++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s=%s", k ? "," : "",
                     req[k].key, req[k].value);
        if (strcmp(got, required_cases[i].required) != 0)
            fail_msg("\"%s\": required \"%s\", expected \"%s\"", required_cases[i].text, got,
                     required_cases[i].required);
        assert_true(n > 0 || req == NULL);
    }
}

/* Every label set over a, b in {x, y, absent} that a selector matches holds one of its
 * required pairs: the index built on them never misses a match. */
static void test_required_pairs_never_miss_a_match(void **state)
{
    static const char *const values[] = { NULL, "x", "y" };

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(required_cases); i++) {
        _cleanup_(tby_sel_freep) struct tby_sel *sel = parse_ok(required_cases[i].text);
        const struct tby_label *req = NULL;
        size_t n = tby_sel_required(sel, &req);

        for (size_t va = 0; n && va < 3; va++) {
            for (size_t vb = 0; vb < 3; vb++) {
                struct tby_label pairs[3] = { { NULL, NULL } };
                size_t np = 0;
                struct tby_labels l;
                bool held = false;

                if (values[va])
                    pairs[np++] = (struct tby_label){ "a", values[va] };
                if (values[vb])
                    pairs[np++] = (struct tby_label){ "b", values[vb] };
                l = tby_labels_from_pairs(pairs);
                for (size_t k = 0; k < n; k++) {
                    const char *v = tby_labels_get(&l, req[k].key);

                    held = held || (v && strcmp(v, req[k].value) == 0);
                }
                if (tby_sel_match(sel, &l) && !held)
                    fail_msg("\"%s\" matches a=%s b=%s without a required pair",
                             required_cases[i].text, values[va] ? values[va] : "-",
                             values[vb] ? values[vb] : "-");
            }
        }
    }
}

static void test_is_all_is_true_only_for_all(void **state)
{
    static const struct {
        const char *text;
        bool is_all;
    } cases[] = {
        { "", true },       { "all()", true },     { "(all())", true },
        { "!!all()", true }, { "global()", false }, { "!all()", false },
        { "all() && all()", false }, { "has(a)", false },
    };

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(cases); i++) {
        _cleanup_(tby_sel_freep) struct tby_sel *sel = parse_ok(cases[i].text);

        if (tby_sel_is_all(sel) != cases[i].is_all)
            fail_msg("\"%s\": is_all should be %d", cases[i].text, cases[i].is_all);
    }
}

static void test_null_labels_behave_as_an_endpoint_without_labels(void **state)
{
    _cleanup_(tby_sel_freep) struct tby_sel *ne = parse_ok("a != 'x'");
    _cleanup_(tby_sel_freep) struct tby_sel *eq = parse_ok("a == 'x'");
    struct tby_labels empty = tby_labels_from_pairs(NULL);

    (void)state;
    assert_true(tby_sel_match(ne, NULL));
    assert_false(tby_sel_match(eq, NULL));
    assert_true(tby_sel_match(ne, &empty));
    assert_null(tby_labels_get(NULL, "a"));
}

static void test_json_label_view_reads_string_values_only(void **state)
{
    _cleanup_json_ json_t *obj = json_pack("{s:s, s:i, s:s}", "app", "web", "n", 1, "e", "");
    struct tby_labels labels = tby_labels_from_json(obj);
    static const struct {
        const char *text;
        bool match;
    } cases[] = {
        { "app == 'web'", true }, { "has(app)", true }, { "has(n)", false },
        { "n != '1'", true },     { "has(e)", true },   { "e == ''", true },
        { "has(zzz)", false },
    };

    (void)state;
    assert_non_null(obj);
    for (size_t i = 0; i < TBY_ARRAY_SIZE(cases); i++) {
        _cleanup_(tby_sel_freep) struct tby_sel *sel = parse_ok(cases[i].text);

        if (tby_sel_match(sel, &labels) != cases[i].match)
            fail_msg("\"%s\" on json labels: expected %d", cases[i].text, cases[i].match);
    }
    labels = tby_labels_from_json(NULL);
    assert_null(tby_labels_get(&labels, "app"));
}

static int get_calls;

static const char *counting_get(const void *ctx, const char *key)
{
    (void)ctx;
    get_calls++;
    return strcmp(key, "a") == 0 ? "1" : NULL;
}

static void test_callback_labels_are_read_once_per_test_and_short_circuit(void **state)
{
    _cleanup_(tby_sel_freep) struct tby_sel *sel = parse_ok("has(a) || has(b) && has(c)");
    struct tby_labels labels = { counting_get, NULL };

    (void)state;
    get_calls = 0;
    assert_true(tby_sel_match(sel, &labels));
    assert_int_equal(get_calls, 1); /* has(a) settles the || */
}

static void test_matching_makes_no_allocation(void **state)
{
    _cleanup_(tby_sel_freep) struct tby_sel *sel =
        parse_ok("(a in {'x', 'y', 'z'} || b contains 'q') && !has(c) && d not in {'1'} && "
                 "e starts with 'p' && f ends with 's' && g != 'h' && all()");
    struct labelset ls;
    struct tby_labels labels = labels_of(&ls, "a=y,d=2,e=pre,f=ss,g=i");
    long before = alloc_calls;

    (void)state;
    for (int i = 0; i < 10000; i++)
        assert_true(tby_sel_match(sel, &labels));
    assert_int_equal(alloc_calls, before);
}

static void test_parse_survives_every_allocation_failure(void **state)
{
    static const char *const text =
        "!(a in {'z', 'x', 'y', 'x'} || b contains 'q') && (has(c) || !d == 'e' && "
        "(f not in {'1', '2', '3', '4', '5'} || g starts with 'h')) || all() && global()";
    _cleanup_(tby_sel_freep) struct tby_sel *reference = parse_ok(text);

    (void)state;
    for (long n = 0;; n++) {
        struct tby_error err = { 0 };
        struct tby_sel *sel = NULL;
        int rc;

        alloc_fail_after(n);
        rc = tby_sel_parse(text, &sel, &err);
        alloc_fail_none();
        if (!alloc_failed) {
            assert_int_equal(rc, 0);
            assert_string_equal(tby_sel_canonical(sel), tby_sel_canonical(reference));
            tby_sel_free(sel);
            assert_true(n > 10); /* the wrapper is live: parsing did allocate */
            break;
        }
        if (rc != -ENOMEM)
            fail_msg("allocation %ld failed but parse returned %d", n, rc);
        assert_null(sel);
        assert_non_null(strstr(err.msg, "out of memory"));
    }
}

/* ---- Kubernetes LabelSelector -------------------------------------------------------- */

static json_t *json_ok(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);

    if (!j)
        fail_msg("bad test JSON %s: %s", text, jerr.text);
    return j;
}

struct k8s_case {
    const char *json;
    const char *canonical;
};

static const struct k8s_case k8s_cases[] = {
    { "{}", "all()" },
    { "null", "all()" },
    { "{\"matchLabels\": {}}", "all()" },
    { "{\"matchExpressions\": []}", "all()" },
    { "{\"matchLabels\": null, \"matchExpressions\": null}", "all()" },
    { "{\"matchLabels\": {\"app\": \"web\"}}", "app == 'web'" },
    { "{\"matchLabels\": {\"tier\": \"db\", \"app\": \"web\"}}", "app == 'web' && tier == 'db'" },
    { "{\"matchLabels\": {\"app\": \"\"}}", "app == ''" },
    /* scalars as kubectl's reader makes them strings */
    { "{\"matchLabels\": {\"rack\": 7, \"rr\": true, \"z\": null}}",
      "rack == '7' && rr == 'true' && z == ''" },
    { "{\"matchExpressions\": [{\"key\": \"v\", \"operator\": \"In\", \"values\": [1.5, false]}]}",
      "v in {'1.5', 'false'}" },
    { "{\"matchLabels\": {\"app.kubernetes.io/name\": \"web\"}}",
      "app.kubernetes.io/name == 'web'" },
    { "{\"matchExpressions\": [{\"key\": \"env\", \"operator\": \"In\", "
      "\"values\": [\"prod\", \"dev\", \"prod\"]}]}",
      "env in {'dev', 'prod'}" },
    { "{\"matchExpressions\": [{\"key\": \"env\", \"operator\": \"NotIn\", "
      "\"values\": [\"qa\"]}]}",
      "env not in {'qa'}" },
    { "{\"matchExpressions\": [{\"key\": \"env\", \"operator\": \"Exists\"}]}", "has(env)" },
    { "{\"matchExpressions\": [{\"key\": \"env\", \"operator\": \"Exists\", \"values\": []}]}",
      "has(env)" },
    { "{\"matchExpressions\": [{\"key\": \"env\", \"operator\": \"Exists\", "
      "\"values\": null}]}",
      "has(env)" },
    { "{\"matchExpressions\": [{\"key\": \"env\", \"operator\": \"DoesNotExist\"}]}",
      "!has(env)" },
    { "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"In\", \"values\": [\"\"]}]}",
      "a in {''}" },
    { "{\"matchLabels\": {\"app\": \"web\"}, \"matchExpressions\": ["
      "{\"key\": \"tier\", \"operator\": \"Exists\"},"
      "{\"key\": \"env\", \"operator\": \"NotIn\", \"values\": [\"qa\", \"dev\"]},"
      "{\"key\": \"legacy\", \"operator\": \"DoesNotExist\"}]}",
      "app == 'web' && has(tier) && env not in {'dev', 'qa'} && !has(legacy)" },
};

static void test_k8s_label_selector_converts_to_anded_terms(void **state)
{
    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(k8s_cases); i++) {
        _cleanup_json_ json_t *j = json_ok(k8s_cases[i].json);
        _cleanup_(tby_sel_freep) struct tby_sel *sel = NULL;
        struct tby_error err = { 0 };

        if (tby_sel_from_k8s(j, &sel, &err) != 0)
            fail_msg("%s: %s", k8s_cases[i].json, tby_error_str(&err));
        if (strcmp(tby_sel_canonical(sel), k8s_cases[i].canonical) != 0)
            fail_msg("%s: canonical \"%s\", expected \"%s\"", k8s_cases[i].json,
                     tby_sel_canonical(sel), k8s_cases[i].canonical);
        assert_canonical_fixed_point(sel);
    }
}

static void test_k8s_absent_selector_is_all(void **state)
{
    _cleanup_(tby_sel_freep) struct tby_sel *sel = NULL;

    (void)state;
    assert_int_equal(tby_sel_from_k8s(NULL, &sel, NULL), 0);
    assert_true(tby_sel_is_all(sel));
}

static void test_k8s_operators_keep_kubernetes_semantics(void **state)
{
    static const struct {
        const char *json;
        const char *labels;
        bool match;
    } cases[] = {
        { "{\"matchLabels\": {\"app\": \"web\", \"tier\": \"fe\"}}", "app=web,tier=fe", true },
        { "{\"matchLabels\": {\"app\": \"web\", \"tier\": \"fe\"}}", "app=web", false },
        { "{\"matchExpressions\": [{\"key\": \"e\", \"operator\": \"In\", \"values\": "
          "[\"a\", \"b\"]}]}", "e=b", true },
        { "{\"matchExpressions\": [{\"key\": \"e\", \"operator\": \"In\", \"values\": "
          "[\"a\"]}]}", "", false },
        /* NotIn and DoesNotExist hold for an object without the label, as in Kubernetes. */
        { "{\"matchExpressions\": [{\"key\": \"e\", \"operator\": \"NotIn\", \"values\": "
          "[\"a\"]}]}", "", true },
        { "{\"matchExpressions\": [{\"key\": \"e\", \"operator\": \"NotIn\", \"values\": "
          "[\"a\"]}]}", "e=a", false },
        { "{\"matchExpressions\": [{\"key\": \"e\", \"operator\": \"Exists\"}]}", "e=", true },
        { "{\"matchExpressions\": [{\"key\": \"e\", \"operator\": \"DoesNotExist\"}]}", "",
          true },
        { "{\"matchExpressions\": [{\"key\": \"e\", \"operator\": \"DoesNotExist\"}]}", "e=",
          false },
        { "{}", "x=y", true },
    };

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(cases); i++) {
        _cleanup_json_ json_t *j = json_ok(cases[i].json);
        _cleanup_(tby_sel_freep) struct tby_sel *sel = NULL;
        struct labelset ls;
        struct tby_labels labels = labels_of(&ls, cases[i].labels);

        assert_int_equal(tby_sel_from_k8s(j, &sel, NULL), 0);
        if (tby_sel_match(sel, &labels) != cases[i].match)
            fail_msg("%s on {%s}: expected %d", cases[i].json, cases[i].labels,
                     cases[i].match);
    }
}

static const struct error_case k8s_error_cases[] = {
    { "[]", "must be an object, got a list" },
    { "\"app=web\"", "must be an object, got a string" },
    { "{\"matchLabel\": {}}", "matchLabel: unknown field" },
    { "{\"matchLabels\": []}", "matchLabels: must be an object, got a list" },
    { "{\"matchLabels\": {\"app\": [1]}}", "matchLabels.app: must be a string, got a list" },
    { "{\"matchLabels\": {\"app\": {}}}", "matchLabels.app: must be a string, got an object" },
    { "{\"matchLabels\": {\"-app\": \"x\"}}", "matchLabels: invalid label key \"-app\": name "
                                              "must begin and end with a letter or digit" },
    { "{\"matchLabels\": {\"a b\": \"x\"}}", "matchLabels: invalid label key \"a b\": name may "
                                             "contain only letters, digits, '-', '_' and '.'" },
    { "{\"matchLabels\": {\"\": \"x\"}}", "matchLabels: invalid label key \"\": name must not "
                                          "be empty" },
    { "{\"matchLabels\": {\"Example.com/app\": \"x\"}}", "invalid label key "
                                                       "\"Example.com/app\": prefix must be a "
                                                       "DNS subdomain" },
    { "{\"matchLabels\": {\"a/b/c\": \"x\"}}", "invalid label key \"a/b/c\": may contain at most "
                                               "one '/'" },
    { "{\"matchLabels\": {\"app\": \"-x\"}}", "matchLabels.app: invalid label value "
                                              "\"-x\": must begin and end with a letter or "
                                              "digit" },
    { "{\"matchLabels\": {\"app\": \"it's\"}}", "matchLabels.app: invalid label value "
                                                "\"it's\": may contain only letters" },
    { "{\"matchExpressions\": {}}", "matchExpressions: must be a list, got an object" },
    { "{\"matchExpressions\": [1]}", "matchExpressions[0]: must be an object, got an integer" },
    { "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"Exists\"}, "
      "{\"key\": \"a\", \"operator\": \"Inn\", \"values\": [\"x\"]}]}",
      "matchExpressions[1].operator: unknown operator \"Inn\" (expected In, NotIn, Exists or "
      "DoesNotExist)" },
    { "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"in\", \"values\": [\"x\"]}]}",
      "matchExpressions[0].operator: unknown operator \"in\"" },
    { "{\"matchExpressions\": [{\"operator\": \"Exists\"}]}", "matchExpressions[0].key: "
                                                              "is required" },
    { "{\"matchExpressions\": [{\"key\": \"a\"}]}", "matchExpressions[0].operator: is required" },
    { "{\"matchExpressions\": [{\"key\": 5, \"operator\": \"Exists\"}]}",
      "matchExpressions[0].key: must be a string, got an integer" },
    { "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": true}]}",
      "matchExpressions[0].operator: must be a string, got a boolean" },
    { "{\"matchExpressions\": [{\"key\": \"a b\", \"operator\": \"Exists\"}]}",
      "matchExpressions[0].key: invalid label key \"a b\": name may contain only" },
    { "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"In\"}]}",
      "matchExpressions[0].values: operator In needs at least one value" },
    { "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"In\", \"values\": []}]}",
      "matchExpressions[0].values: operator In needs at least one value" },
    { "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"NotIn\", \"values\": null}]}",
      "matchExpressions[0].values: operator NotIn needs at least one value" },
    { "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"Exists\", \"values\": [\"x\"]}]}",
      "matchExpressions[0].values: operator Exists takes no values" },
    { "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"DoesNotExist\", "
      "\"values\": [\"x\"]}]}",
      "matchExpressions[0].values: operator DoesNotExist takes no values" },
    { "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"In\", \"values\": \"x\"}]}",
      "matchExpressions[0].values: must be a list, got a string" },
    { "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"In\", \"values\": [[1]]}]}",
      "matchExpressions[0].values[0]: must be a string, got a list" },
    { "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"In\", "
      "\"values\": [\"ok\", \"bad value\"]}]}",
      "matchExpressions[0].values[1]: invalid label value \"bad value\": may contain only" },
    { "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"Exists\", \"vals\": []}]}",
      "matchExpressions[0].vals: unknown field" },
};

static void test_k8s_errors_name_the_field_path(void **state)
{
    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(k8s_error_cases); i++) {
        const struct error_case *c = &k8s_error_cases[i];
        _cleanup_json_ json_t *j = json_ok(c->input);
        struct tby_error err = { 0 };
        struct tby_sel *sel = (struct tby_sel *)&err; /* must be reset to NULL */
        int rc = tby_sel_from_k8s(j, &sel, &err);

        if (rc != -EINVAL)
            fail_msg("%s: expected -EINVAL, got %d", c->input, rc);
        assert_null(sel);
        if (!strstr(err.msg, c->fragment))
            fail_msg("%s: message \"%s\" lacks \"%s\"", c->input, err.msg, c->fragment);
    }
}

static void test_k8s_value_with_nul_byte_is_rejected(void **state)
{
    _cleanup_json_ json_t *j = json_pack("{s:[{s:s%, s:s}]}", "matchExpressions", "key",
                                         "ab\0c", (size_t)4, "operator", "Exists");
    _cleanup_json_ json_t *v = json_pack("{s:{s:s%}}", "matchLabels", "a", "x\0y", (size_t)3);
    struct tby_error err = { 0 };
    struct tby_sel *sel = NULL;

    (void)state;
    assert_non_null(j);
    assert_non_null(v);
    assert_int_equal(tby_sel_from_k8s(j, &sel, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "matchExpressions[0].key: must not contain NUL characters"));
    assert_int_equal(tby_sel_from_k8s(v, &sel, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "matchLabels.a: must not contain NUL characters"));
}

static void test_k8s_conversion_survives_every_allocation_failure(void **state)
{
    _cleanup_json_ json_t *j = json_ok(
        "{\"matchLabels\": {\"b\": \"2\", \"a\": \"1\"}, \"matchExpressions\": ["
        "{\"key\": \"c\", \"operator\": \"In\", \"values\": [\"z\", \"y\", \"x\", \"w\", \"v\"]},"
        "{\"key\": \"d\", \"operator\": \"DoesNotExist\"}]}");

    (void)state;
    for (long n = 0;; n++) {
        struct tby_sel *sel = NULL;
        int rc;

        alloc_fail_after(n);
        rc = tby_sel_from_k8s(j, &sel, NULL);
        alloc_fail_none();
        if (!alloc_failed) {
            assert_int_equal(rc, 0);
            assert_string_equal(tby_sel_canonical(sel), "a == '1' && b == '2' && "
                                "c in {'v', 'w', 'x', 'y', 'z'} && !has(d)");
            tby_sel_free(sel);
            assert_true(n > 10);
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_null(sel);
    }
}

/* ---- Kubernetes label syntax -------------------------------------------------------- */

static void test_label_key_validation_follows_kubernetes(void **state)
{
    static const struct {
        const char *key;
        bool valid;
    } cases[] = {
        { "a", true },          { "app", true },         { "A", true },
        { "1", true },          { "a.b", true },         { "a-b", true },
        { "a_b", true },        { "a/b", true },         { "app.kubernetes.io/name", true },
        { "example.com/x", true }, { "1.2.3/x", true },  { "a-b.c-d/Name_1", true },
        { "", false },          { "/a", false },         { "a/", false },
        { "a/b/c", false },     { "-a", false },         { "a-", false },
        { ".a", false },        { "a.", false },         { "_a", false },
        { "a b", false },       { "a$", false },         { "Example.com/a", false },
        { "exa_mple.com/a", false }, { "example..com/a", false },
        { ".example.com/a", false }, { "example.com./a", false },
        { "-example.com/a", false }, { "example-.com/a", false }, { "a\xc3\xa9", false },
    };
    char name63[64], name64[65], prefix253[253 + 3], prefix254[254 + 3];

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(cases); i++)
        if (tby_valid_label_key(cases[i].key) != cases[i].valid)
            fail_msg("key \"%s\": expected %svalid", cases[i].key, cases[i].valid ? "" : "in");
    memset(name63, 'n', 63);
    name63[63] = '\0';
    memset(name64, 'n', 64);
    name64[64] = '\0';
    assert_true(tby_valid_label_key(name63));
    assert_false(tby_valid_label_key(name64));
    memset(prefix253, 'p', 253);
    strcpy(prefix253 + 253, "/a");
    memset(prefix254, 'p', 254);
    strcpy(prefix254 + 254, "/a");
    assert_true(tby_valid_label_key(prefix253));
    assert_false(tby_valid_label_key(prefix254));
    assert_false(tby_valid_label_key(NULL));
}

static void test_label_value_validation_follows_kubernetes(void **state)
{
    static const struct {
        const char *value;
        bool valid;
    } cases[] = {
        { "", true },     { "a", true },    { "A1", true },   { "a.b-c_d", true },
        { "1.0", true },  { "-a", false },  { "a-", false },  { "_a", false },
        { "a b", false }, { "a/b", false }, { "a'", false },  { "\xc3\xa9", false },
    };
    char v63[64], v64[65];

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(cases); i++)
        if (tby_valid_label_value(cases[i].value) != cases[i].valid)
            fail_msg("value \"%s\": expected %svalid", cases[i].value,
                     cases[i].valid ? "" : "in");
    memset(v63, 'v', 63);
    v63[63] = '\0';
    memset(v64, 'v', 64);
    v64[64] = '\0';
    assert_true(tby_valid_label_value(v63));
    assert_false(tby_valid_label_value(v64));
    assert_false(tby_valid_label_value(NULL));
}

static int report_counts(void **state)
{
    (void)state;
    printf("[ INFO     ] %zu match cases, %zu canonical cases, %zu parse-error cases, "
           "%zu k8s cases, %zu k8s error cases\n",
           match_cases_run, TBY_ARRAY_SIZE(canon_cases), TBY_ARRAY_SIZE(error_cases),
           TBY_ARRAY_SIZE(k8s_cases), TBY_ARRAY_SIZE(k8s_error_cases));
    return 0;
}

/* ---- building selectors from selectors ---------------------------------------------- */

static void check_and(const char *a, const char *b, const char *expect)
{
    _cleanup_(tby_sel_freep) struct tby_sel *sa = parse_ok(a);
    _cleanup_(tby_sel_freep) struct tby_sel *sb = parse_ok(b);
    _cleanup_(tby_sel_freep) struct tby_sel *both = NULL;
    struct tby_error err = { 0 };

    assert_int_equal(tby_sel_and(sa, sb, &both, &err), 0);
    if (strcmp(tby_sel_canonical(both), expect) != 0)
        fail_msg("\"%s\" && \"%s\" gave \"%s\", expected \"%s\"", a, b,
                 tby_sel_canonical(both), expect);
    assert_canonical_fixed_point(both);
}

static void test_and_joins_flattens_and_drops_all(void **state)
{
    (void)state;
    check_and("a == 'x'", "b == 'y'", "a == 'x' && b == 'y'");
    check_and("a == 'x' && c == 'z'", "b == 'y'", "a == 'x' && c == 'z' && b == 'y'");
    check_and("a == 'x' || c == 'z'", "b == 'y'", "(a == 'x' || c == 'z') && b == 'y'");
    check_and("all()", "b == 'y'", "b == 'y'");
    check_and("b == 'y'", "", "b == 'y'");
    check_and("all()", "all()", "all()");
    check_and("!has(a)", "global()", "!has(a) && global()");
}

static void test_and_matches_where_both_match(void **state)
{
    _cleanup_(tby_sel_freep) struct tby_sel *a = parse_ok("app == 'web'");
    _cleanup_(tby_sel_freep) struct tby_sel *b = parse_ok("env in {'prod', 'qa'}");
    _cleanup_(tby_sel_freep) struct tby_sel *both = NULL;
    struct labelset ls;
    struct tby_labels l;

    (void)state;
    assert_int_equal(tby_sel_and(a, b, &both, NULL), 0);
    l = labels_of(&ls, "app=web,env=qa");
    assert_true(tby_sel_match(both, &l));
    l = labels_of(&ls, "app=web,env=dev");
    assert_false(tby_sel_match(both, &l));
    l = labels_of(&ls, "env=prod");
    assert_false(tby_sel_match(both, &l));
}

static void test_prefix_keys_prefixes_every_label_key(void **state)
{
    _cleanup_(tby_sel_freep) struct tby_sel *sel =
        parse_ok("team == 'ops' && !has(x) || env in {'a', 'b'} || name starts with 'k'");
    _cleanup_(tby_sel_freep) struct tby_sel *p = NULL;
    const char *const *keys;
    struct labelset ls;
    struct tby_labels l;

    (void)state;
    assert_int_equal(tby_sel_prefix_keys(sel, "pcns.", &p, NULL), 0);
    assert_string_equal(tby_sel_canonical(p), "pcns.team == 'ops' && !has(pcns.x) || "
                        "pcns.env in {'a', 'b'} || pcns.name starts with 'k'");
    assert_int_equal(tby_sel_keys(p, &keys), 4);
    assert_string_equal(keys[0], "pcns.env");
    l = labels_of(&ls, "pcns.team=ops");
    assert_true(tby_sel_match(p, &l));
    l = labels_of(&ls, "team=ops");
    assert_false(tby_sel_match(p, &l));
    assert_canonical_fixed_point(p);
}

static void test_prefix_keys_leaves_all_and_global(void **state)
{
    _cleanup_(tby_sel_freep) struct tby_sel *all = parse_ok("all()");
    _cleanup_(tby_sel_freep) struct tby_sel *glob = parse_ok("global()");
    _cleanup_(tby_sel_freep) struct tby_sel *p1 = NULL;
    _cleanup_(tby_sel_freep) struct tby_sel *p2 = NULL;

    (void)state;
    assert_int_equal(tby_sel_prefix_keys(all, "pcns.", &p1, NULL), 0);
    assert_int_equal(tby_sel_prefix_keys(glob, "pcns.", &p2, NULL), 0);
    assert_true(tby_sel_is_all(p1));
    assert_string_equal(tby_sel_canonical(p2), "global()");
}

static void test_building_survives_every_allocation_failure(void **state)
{
    _cleanup_(tby_sel_freep) struct tby_sel *a = parse_ok("a in {'x', 'y'} || !has(b)");
    _cleanup_(tby_sel_freep) struct tby_sel *b = parse_ok("c == 'd' && e != 'f'");

    (void)state;
    for (int which = 0; which < 2; which++) {
        for (long n = 0;; n++) {
            struct tby_sel *out = NULL;
            int rc;

            alloc_fail_after(n);
            rc = which ? tby_sel_and(a, b, &out, NULL) : tby_sel_prefix_keys(a, "p.", &out, NULL);
            alloc_fail_none();
            if (!alloc_failed) {
                assert_int_equal(rc, 0);
                tby_sel_free(out);
                break;
            }
            assert_int_equal(rc, -ENOMEM);
            assert_null(out);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_matches_only_the_exact_value),
        cmocka_unit_test(test_not_equal_matches_other_values),
        cmocka_unit_test(test_in_matches_any_member_of_the_set),
        cmocka_unit_test(test_not_in_matches_values_outside_the_set),
        cmocka_unit_test(test_has_tests_presence_whatever_the_value),
        cmocka_unit_test(test_contains_matches_substrings),
        cmocka_unit_test(test_starts_with_matches_prefixes),
        cmocka_unit_test(test_ends_with_matches_suffixes),
        cmocka_unit_test(test_all_and_global_match_every_label_set),
        cmocka_unit_test(test_empty_selector_means_all),
        cmocka_unit_test(test_missing_label_makes_not_equal_and_not_in_true),
        cmocka_unit_test(test_missing_label_makes_positive_tests_false),
        cmocka_unit_test(test_and_binds_tighter_than_or),
        cmocka_unit_test(test_parentheses_override_precedence),
        cmocka_unit_test(test_negation_applies_to_the_following_operation),
        cmocka_unit_test(test_double_negation_cancels),
        cmocka_unit_test(test_both_quote_styles_give_the_same_value),
        cmocka_unit_test(test_spaces_and_tabs_between_tokens_are_free),
        cmocka_unit_test(test_keys_may_hold_dots_slashes_dashes_and_underscores),
        cmocka_unit_test(test_canonical_form_normalises_spelling),
        cmocka_unit_test(test_canonical_form_reparses_to_itself),
        cmocka_unit_test(test_spellings_of_one_selector_print_identically),
        cmocka_unit_test(test_invalid_selectors_report_position_and_expectation),
        cmocka_unit_test(test_error_message_quotes_the_selector_text),
        cmocka_unit_test(test_parse_without_error_struct_still_fails_cleanly),
        cmocka_unit_test(test_nesting_up_to_the_limit_is_accepted),
        cmocka_unit_test(test_nesting_beyond_the_limit_is_an_error_not_a_crash),
        cmocka_unit_test(test_deep_negated_nesting_is_bounded_too),
        cmocka_unit_test(test_long_runs_of_negation_are_not_recursion),
        cmocka_unit_test(test_selector_at_the_length_limit_is_accepted),
        cmocka_unit_test(test_selector_over_the_length_limit_is_rejected),
        cmocka_unit_test(test_selector_whose_canonical_form_outgrows_the_limit_is_rejected),
        cmocka_unit_test(test_k8s_selector_too_large_for_the_limit_is_rejected),
        cmocka_unit_test(test_keys_lists_every_label_read_once_in_order),
        cmocka_unit_test(test_is_all_is_true_only_for_all),
        cmocka_unit_test(test_null_labels_behave_as_an_endpoint_without_labels),
        cmocka_unit_test(test_json_label_view_reads_string_values_only),
        cmocka_unit_test(test_callback_labels_are_read_once_per_test_and_short_circuit),
        cmocka_unit_test(test_matching_makes_no_allocation),
        cmocka_unit_test(test_parse_survives_every_allocation_failure),
        cmocka_unit_test(test_k8s_label_selector_converts_to_anded_terms),
        cmocka_unit_test(test_k8s_absent_selector_is_all),
        cmocka_unit_test(test_k8s_operators_keep_kubernetes_semantics),
        cmocka_unit_test(test_k8s_errors_name_the_field_path),
        cmocka_unit_test(test_k8s_value_with_nul_byte_is_rejected),
        cmocka_unit_test(test_k8s_conversion_survives_every_allocation_failure),
        cmocka_unit_test(test_label_key_validation_follows_kubernetes),
        cmocka_unit_test(test_label_value_validation_follows_kubernetes),
        cmocka_unit_test(test_and_joins_flattens_and_drops_all),
        cmocka_unit_test(test_and_matches_where_both_match),
        cmocka_unit_test(test_prefix_keys_prefixes_every_label_key),
        cmocka_unit_test(test_prefix_keys_leaves_all_and_global),
        cmocka_unit_test(test_required_pairs_list_what_a_match_needs),
        cmocka_unit_test(test_required_pairs_never_miss_a_match),
        cmocka_unit_test(test_building_survives_every_allocation_failure),
    };

    return cmocka_run_group_tests(tests, NULL, report_counts);
}
