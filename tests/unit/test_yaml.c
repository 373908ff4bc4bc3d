/* test_yaml.c — YAML to jansson and back: scalar rules, Calico documents as users write
 * them, errors with their positions, the caps, and load(dump(x)) == x over many values. */
#include <errno.h>
#include <math.h>
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
#include "tabby/yaml.h"

/* ---- helpers ---------------------------------------------------------------------- */

static void docs_clearp(struct tby_yaml_docs *docs)
{
    tby_yaml_docs_clear(docs);
}

/* Loads a text that must hold exactly one document; the caller owns the result. */
static json_t *load_one(const char *text)
{
    _cleanup_(docs_clearp) struct tby_yaml_docs docs = { 0 };
    struct tby_error err = { 0 };
    int r = tby_yaml_load(text, strlen(text), "t.yaml", &docs, &err);

    if (r < 0)
        fail_msg("load failed: %s\n--- text:\n%s", err.msg, text);
    assert_int_equal(json_array_size(docs.docs), 1);
    return json_incref(json_array_get(docs.docs, 0));
}

/* The value of key `k` in the one-document text "k: <plain>". */
static json_t *value_of(const char *yaml_value)
{
    char text[512];
    json_t *doc, *v;

    snprintf(text, sizeof(text), "k: %s\n", yaml_value);
    doc = load_one(text);
    v = json_incref(json_object_get(doc, "k"));
    json_decref(doc);
    assert_non_null(v);
    return v;
}

/* Loads a text that must fail; returns the code and leaves the message in `err`. */
static int load_fails(const char *text, const char *name, struct tby_error *err)
{
    struct tby_yaml_docs docs = { 0 };
    int r = tby_yaml_load(text, strlen(text), name, &docs, err);

    if (r == 0) {
        tby_yaml_docs_clear(&docs);
        fail_msg("load unexpectedly succeeded:\n%s", text);
    }
    assert_null(docs.docs);
    assert_null(docs.lines);
    return r;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* Loads a text that must fail with a message holding `fragment`. */
static void fails_with(const char *text, const char *name, const char *fragment)
{
    struct tby_error err = { 0 };

    load_fails(text, name, &err);
    assert_contains(err.msg, fragment);
}

static void assert_string_value(json_t *v, const char *want)
{
    if (!json_is_string(v))
        fail_msg("want the string \"%s\", got JSON type %d", want, json_typeof(v));
    assert_string_equal(json_string_value(v), want);
}

static void assert_plain_is_string(const char *plain)
{
    _cleanup_json_ json_t *v = value_of(plain);

    if (!json_is_string(v))
        fail_msg("plain %s: want a string, got JSON type %d", plain, json_typeof(v));
    assert_string_equal(json_string_value(v), plain);
}

static void assert_plain_is_int(const char *plain, json_int_t want)
{
    _cleanup_json_ json_t *v = value_of(plain);

    if (!json_is_integer(v))
        fail_msg("plain %s: want an integer, got JSON type %d", plain, json_typeof(v));
    assert_int_equal(json_integer_value(v), want);
}

static void assert_plain_is_real(const char *plain, double want)
{
    _cleanup_json_ json_t *v = value_of(plain);

    if (!json_is_real(v))
        fail_msg("plain %s: want a real, got JSON type %d", plain, json_typeof(v));
    assert_true(json_real_value(v) == want);
}

static void assert_plain_is_bool(const char *plain, bool want)
{
    _cleanup_json_ json_t *v = value_of(plain);

    if (!json_is_boolean(v))
        fail_msg("plain %s: want a boolean, got JSON type %d", plain, json_typeof(v));
    assert_int_equal(json_is_true(v), want);
}

/* Dumps `value`, loads the text back and checks it is the same value. */
static void assert_round_trip(json_t *value, int flags)
{
    _cleanup_(docs_clearp) struct tby_yaml_docs docs = { 0 };
    _cleanup_free_ char *text = NULL;
    struct tby_error err = { 0 };

    text = tby_yaml_dump(value, flags, &err);
    if (!text) {
        char *json = json_dumps(value, JSON_ENCODE_ANY);

        fail_msg("dump failed: %s\nvalue: %s", err.msg, json);
    }
    if (tby_yaml_load(text, strlen(text), "dumped", &docs, &err) < 0)
        fail_msg("reload failed: %s\n--- text:\n%s", err.msg, text);
    if (json_array_size(docs.docs) != 1 || !json_equal(json_array_get(docs.docs, 0), value)) {
        char *want = json_dumps(value, JSON_ENCODE_ANY);
        char *got = json_dumps(docs.docs, JSON_ENCODE_ANY);

        fail_msg("round trip changed the value\nwant: %s\ngot (as a list): %s\n"
                 "--- text:\n%s", want, got, text);
    }
}

/* ---- plain scalars ---------------------------------------------------------------- */

static void test_plain_null_words_and_empty_load_as_null(void **state)
{
    static const char *const words[] = { "", "~", "null", "Null", "NULL" };

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(words); i++) {
        _cleanup_json_ json_t *v = value_of(words[i]);

        assert_true(json_is_null(v));
    }
    assert_plain_is_string("nULL");
    assert_plain_is_string("nil");
}

static void test_plain_true_false_load_as_booleans(void **state)
{
    (void)state;
    assert_plain_is_bool("true", true);
    assert_plain_is_bool("True", true);
    assert_plain_is_bool("TRUE", true);
    assert_plain_is_bool("false", false);
    assert_plain_is_bool("False", false);
    assert_plain_is_bool("FALSE", false);
    assert_plain_is_string("tRUE");
}

/* go-yaml v2, which kubectl and calicoctl read with, takes these for booleans. */
static void test_yaml11_yes_no_on_off_load_as_booleans_like_kubectl(void **state)
{
    static const char *const yes[] = { "y", "Y", "yes", "Yes", "YES", "on", "On", "ON" };
    static const char *const no[] = { "n", "N", "no", "No", "NO", "off", "Off", "OFF" };

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(yes); i++)
        assert_plain_is_bool(yes[i], true);
    for (size_t i = 0; i < TBY_ARRAY_SIZE(no); i++)
        assert_plain_is_bool(no[i], false);
    assert_plain_is_string("yEs");
    assert_plain_is_string("oN");
    assert_plain_is_string("yess");
}

static void test_quoted_yes_and_no_stay_strings(void **state)
{
    _cleanup_json_ json_t *doc = load_one("a: \"yes\"\nb: 'no'\nc: \"on\"\nd: 'y'\n");

    (void)state;
    assert_string_value(json_object_get(doc, "a"), "yes");
    assert_string_value(json_object_get(doc, "b"), "no");
    assert_string_value(json_object_get(doc, "c"), "on");
    assert_string_value(json_object_get(doc, "d"), "y");
}

static void test_plain_integers_in_every_base(void **state)
{
    (void)state;
    assert_plain_is_int("0", 0);
    assert_plain_is_int("-0", 0);
    assert_plain_is_int("26", 26);
    assert_plain_is_int("+12", 12);
    assert_plain_is_int("-7", -7);
    assert_plain_is_int("0x1F", 31);
    assert_plain_is_int("0X1f", 31);
    assert_plain_is_int("-0x10", -16);
    assert_plain_is_int("0o17", 15);
    assert_plain_is_int("0b101", 5);
    assert_plain_is_int("1_000_000", 1000000);
    assert_plain_is_int("9223372036854775807", INT64_MAX);
    assert_plain_is_int("-9223372036854775808", INT64_MIN);
    assert_plain_is_int("0x7fffffffffffffff", INT64_MAX);
}

/* `defaultMode: 0644` is 420 for kubectl; tabby agrees. */
static void test_leading_zero_integers_are_yaml11_octal(void **state)
{
    (void)state;
    assert_plain_is_int("0644", 420);
    assert_plain_is_int("00", 0);
    assert_plain_is_int("-010", -8);
    /* An 8 or 9 rules octal out. */
    assert_plain_is_int("08", 8);
    assert_plain_is_int("0999", 999);
}

static void test_integer_beyond_64_bits_is_an_error_not_a_lossy_real(void **state)
{
    static const char *const big[] = {
        "9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "0x10000000000000000", "99999999999999999999999",
    };
    char text[128];

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(big); i++) {
        struct tby_error err = { 0 };

        snprintf(text, sizeof(text), "spec:\n  asNumber: %s\n", big[i]);
        assert_int_equal(load_fails(text, "bgp.yaml", &err), -EINVAL);
        assert_contains(err.msg, "bgp.yaml: line 2 column 13: ");
        assert_contains(err.msg, "does not fit in 64 bits");
        assert_contains(err.msg, "quote it");
    }
    {
        _cleanup_json_ json_t *quoted = value_of("\"9223372036854775808\"");

        assert_string_value(quoted, "9223372036854775808");
    }
}

static void test_plain_reals(void **state)
{
    (void)state;
    assert_plain_is_real("1.5", 1.5);
    assert_plain_is_real("-1.5", -1.5);
    assert_plain_is_real("1e3", 1000.0);
    assert_plain_is_real("6.02E23", 6.02e23);
    assert_plain_is_real("+1.5e-3", 1.5e-3);
    assert_plain_is_real(".5", 0.5);
    assert_plain_is_real("1.", 1.0);
    assert_plain_is_real("1.0", 1.0);
    assert_plain_is_real("1_000.5", 1000.5);
    assert_plain_is_real("1e-400", 0.0); /* underflow is a value, just a tiny one */
}

static void test_infinity_nan_and_huge_reals_are_errors(void **state)
{
    static const char *const bad[] = { ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "1e400",
                                       "-1.5e999" };
    char text[64];

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(bad); i++) {
        struct tby_error err = { 0 };

        snprintf(text, sizeof(text), "order: %s\n", bad[i]);
        assert_int_equal(load_fails(text, "p.yaml", &err), -EINVAL);
        assert_contains(err.msg, "p.yaml: line 1 column 8: ");
    }
    fails_with("x: .nan\n", "p.yaml", "cannot be represented in JSON");
    {
        _cleanup_json_ json_t *quoted = value_of("'.inf'");

        assert_string_value(quoted, ".inf");
    }
}

static void test_other_plain_texts_stay_strings(void **state)
{
    static const char *const texts[] = {
        "1.2.3", "192.168.0.0/16", "10.0.0.1", "fd00::/64", "8000:9000", "12:30",
        "2001-12-14", "2001-12-14T21:59:43Z", "0x", "0xZZ", "1e", "1e+", "-x", "+", ".",
        "..", "1_000x", "all()", "has(role)", "role == 'db'", "Never", "CrossSubnet",
        "TCP", "projectcalico.org/v3", "0b102", "0o8", "inf", "NaN", "._1",
    };

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(texts); i++)
        assert_plain_is_string(texts[i]);
}

static void test_quoted_and_block_scalars_are_always_strings(void **state)
{
    _cleanup_json_ json_t *doc = load_one(
        "a: '123'\n"
        "b: \"true\"\n"
        "c: 'null'\n"
        "d: \"\"\n"
        "e: |\n"
        "  42\n"
        "f: >-\n"
        "  1.5\n"
        "g: |-\n"
        "  ~\n");

    (void)state;
    assert_string_value(json_object_get(doc, "a"), "123");
    assert_string_value(json_object_get(doc, "b"), "true");
    assert_string_value(json_object_get(doc, "c"), "null");
    assert_string_value(json_object_get(doc, "d"), "");
    assert_string_value(json_object_get(doc, "e"), "42\n");
    assert_string_value(json_object_get(doc, "f"), "1.5");
    assert_string_value(json_object_get(doc, "g"), "~");
}

static void test_explicit_tags_are_honoured(void **state)
{
    _cleanup_json_ json_t *doc = load_one(
        "s: !!str 123\n"
        "t: !!str true\n"
        "i: !!int \"42\"\n"
        "f: !!float 1\n"
        "g: !!float '2.5'\n"
        "b: !!bool \"yes\"\n"
        "n: !!null ''\n"
        "x: ! 12\n"
        "m: !!map {a: 1}\n"
        "q: !!seq [1]\n"
        "l: !<tag:yaml.org,2002:str> 7\n");

    (void)state;
    assert_string_value(json_object_get(doc, "s"), "123");
    assert_string_value(json_object_get(doc, "t"), "true");
    assert_int_equal(json_integer_value(json_object_get(doc, "i")), 42);
    assert_true(json_is_real(json_object_get(doc, "f")));
    assert_true(json_real_value(json_object_get(doc, "f")) == 1.0);
    assert_true(json_real_value(json_object_get(doc, "g")) == 2.5);
    assert_true(json_is_true(json_object_get(doc, "b")));
    assert_true(json_is_null(json_object_get(doc, "n")));
    assert_string_value(json_object_get(doc, "x"), "12");
    assert_true(json_is_object(json_object_get(doc, "m")));
    assert_true(json_is_array(json_object_get(doc, "q")));
    assert_string_value(json_object_get(doc, "l"), "7");
}

static void test_tag_that_does_not_fit_its_text_is_an_error(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(load_fails("a: 1\nb: !!int abc\n", "t.yaml", &err), -EINVAL);
    assert_string_equal(err.msg, "t.yaml: line 2 column 4: cannot read \"abc\" as !!int");
    fails_with("b: !!bool maybe\n", "t.yaml", "as !!bool");
    fails_with("b: !!null x\n", "t.yaml", "as !!null");
    fails_with("b: !!int 1.5\n", "t.yaml", "as !!int");
    fails_with("b: !!str [1]\n", "t.yaml", "unsupported tag !!str");
}

static void test_unknown_tag_is_an_error(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(load_fails("data: !!binary aGVsbG8=\n", "t.yaml", &err), -EINVAL);
    assert_string_equal(err.msg, "t.yaml: line 1 column 7: unsupported tag !!binary");
    fails_with("when: !!timestamp 2001-12-14\n", "t.yaml", "unsupported tag !!timestamp");
    /* A selector that starts with '!' is a tag to YAML: say how to fix it. */
    load_fails("spec:\n  selector: !has(role)\n", "gnp.yaml", &err);
    assert_contains(err.msg, "gnp.yaml: line 2 column 13: unsupported tag !has(role)");
    assert_contains(err.msg, "quote a value that starts with '!'");
    fails_with("x: !custom {a: 1}\n", "t.yaml", "unsupported tag !custom");
}

/* ---- structure -------------------------------------------------------------------- */

static void test_nested_mappings_and_sequences_load_as_objects_and_arrays(void **state)
{
    _cleanup_json_ json_t *doc = load_one(
        "a:\n"
        "  b:\n"
        "    - 1\n"
        "    - c: [x, {d: e}]\n"
        "      f: {}\n"
        "  g: []\n"
        "h:\n"
        "- - 1\n"
        "  - 2\n"
        "- []\n");
    _cleanup_json_ json_t *want = json_pack(
        "{s:{s:[i,{s:[s,{s:s}],s:{}}],s:[]},s:[[i,i],[]]}", "a", "b", 1, "c", "x", "d", "e",
        "f", "g", "h", 1, 2);

    (void)state;
    assert_non_null(want);
    assert_true(json_equal(doc, want));
}

static void test_keys_are_strings_as_written(void **state)
{
    _cleanup_json_ json_t *doc = load_one("123: a\ntrue: b\nnull: c\n~: d\n0x1F: e\n1.5: f\n");
    const char *keys[] = { "123", "true", "null", "~", "0x1F", "1.5" };
    size_t i = 0;
    const char *key;
    json_t *v;

    (void)state;
    assert_int_equal(json_object_size(doc), 6);
    json_object_foreach(doc, key, v)
        assert_string_equal(key, keys[i++]);
}

static void test_object_keys_keep_the_order_of_the_text(void **state)
{
    _cleanup_json_ json_t *doc = load_one("kind: IPPool\napiVersion: v3\nmetadata: {}\n");
    _cleanup_free_ char *json = NULL;

    (void)state;
    json = json_dumps(doc, JSON_COMPACT);
    assert_string_equal(json, "{\"kind\":\"IPPool\",\"apiVersion\":\"v3\",\"metadata\":{}}");
}

static void test_empty_texts_give_no_documents(void **state)
{
    static const char *const texts[] = {
        "", "\n", "# just a comment\n", "---\n", "---\n---\n", "--- # c\n...\n", "   \n\n",
    };

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(texts); i++) {
        struct tby_yaml_docs docs = { 0 };
        struct tby_error err = { 0 };

        assert_int_equal(tby_yaml_load(texts[i], strlen(texts[i]), "e", &docs, &err), 0);
        assert_non_null(docs.docs);
        assert_int_equal(json_array_size(docs.docs), 0);
        tby_yaml_docs_clear(&docs);
        tby_yaml_docs_clear(&docs);
    }
}

static void test_explicit_null_document_is_kept(void **state)
{
    _cleanup_json_ json_t *doc = load_one("--- null\n");

    (void)state;
    assert_true(json_is_null(doc));
}

static void test_documents_are_split_on_dashes_and_remember_their_lines(void **state)
{
    static const char text[] =
        "# pools\n"                 /* 1 */
        "kind: IPPool\n"            /* 2 */
        "---\n"                     /* 3 */
        "# nothing here\n"          /* 4 */
        "---\n"                     /* 5 */
        "kind: BGPPeer\n"           /* 6 */
        "...\n"                     /* 7 */
        "--- {kind: Node}\n"        /* 8 */
        "---\n"                     /* 9 */
        "\n"                        /* 10 */
        "- 1\n";                    /* 11 */
    _cleanup_(docs_clearp) struct tby_yaml_docs docs = { 0 };
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(tby_yaml_load(text, strlen(text), "all.yaml", &docs, &err), 0);
    assert_int_equal(json_array_size(docs.docs), 4);
    assert_string_value(json_object_get(json_array_get(docs.docs, 0), "kind"), "IPPool");
    assert_string_value(json_object_get(json_array_get(docs.docs, 1), "kind"), "BGPPeer");
    assert_string_value(json_object_get(json_array_get(docs.docs, 2), "kind"), "Node");
    assert_true(json_is_array(json_array_get(docs.docs, 3)));
    assert_int_equal(docs.lines[0], 2);
    assert_int_equal(docs.lines[1], 5);
    assert_int_equal(docs.lines[2], 8);
    assert_int_equal(docs.lines[3], 9);
}

static void test_text_need_not_end_in_nul_or_newline(void **state)
{
    _cleanup_(docs_clearp) struct tby_yaml_docs docs = { 0 };
    struct tby_error err = { 0 };
    const char text[] = "a: 1\nb: 2XXXX";

    (void)state;
    assert_int_equal(tby_yaml_load(text, 9, "t", &docs, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(docs.docs, 0), "b")),
                     2);
}

/* ---- Calico and Kubernetes documents as users write them --------------------------- */

static const char ippool_yaml[] =
    "# The default pool, as calicoctl's docs show it.\n"
    "apiVersion: projectcalico.org/v3\n"
    "kind: IPPool\n"
    "metadata:\n"
    "  name: default-ipv4-ippool   # the name calico-node gives it\n"
    "spec:\n"
    "  cidr: 192.168.0.0/16\n"
    "  blockSize: 26\n"
    "  ipipMode: Never\n"
    "  vxlanMode: CrossSubnet\n"
    "  natOutgoing: true\n"
    "  disabled: false\n"
    "  nodeSelector: all()\n"
    "  allowedUses:\n"
    "    - Workload\n"
    "    - Tunnel\n";

static void test_calico_ippool_as_users_write_it(void **state)
{
    _cleanup_json_ json_t *doc = load_one(ippool_yaml);
    json_t *spec = json_object_get(doc, "spec");

    (void)state;
    assert_string_value(json_object_get(doc, "kind"), "IPPool");
    assert_string_value(json_object_get(json_object_get(doc, "metadata"), "name"),
                        "default-ipv4-ippool");
    assert_string_value(json_object_get(spec, "cidr"), "192.168.0.0/16");
    assert_int_equal(json_integer_value(json_object_get(spec, "blockSize")), 26);
    assert_true(json_is_true(json_object_get(spec, "natOutgoing")));
    assert_true(json_is_false(json_object_get(spec, "disabled")));
    assert_string_value(json_object_get(spec, "nodeSelector"), "all()");
    assert_string_value(json_array_get(json_object_get(spec, "allowedUses"), 1), "Tunnel");
}

static const char policy_yaml[] =
    "apiVersion: projectcalico.org/v3\n"
    "kind: NetworkPolicy\n"
    "metadata:\n"
    "  name: allow-tcp-6379\n"
    "  namespace: production\n"
    "spec:\n"
    "  selector: role == 'database'\n"
    "  order: 100.5\n"
    "  types:\n"
    "  - Ingress\n"
    "  - Egress\n"
    "  ingress:\n"
    "  - action: Allow\n"
    "    metadata:\n"
    "      annotations:\n"
    "        from: frontend\n"
    "    protocol: TCP\n"
    "    source:\n"
    "      selector: role == 'frontend' && !has(debug)\n"
    "    destination:\n"
    "      ports:\n"
    "      - 6379\n"
    "      - \"8000:9000\"\n"
    "      - 7000:7100\n"
    "  - action: Allow\n"
    "    protocol: ICMP\n"
    "    icmp: {type: 8, code: 0}\n"
    "  - action: Deny\n"
    "    notProtocol: UDP\n"
    "    source:\n"
    "      nets: [10.0.0.0/8, 'fd00::/8']\n"
    "  egress:\n"
    "  - action: Allow\n";

static void test_calico_networkpolicy_with_rules(void **state)
{
    _cleanup_json_ json_t *doc = load_one(policy_yaml);
    json_t *spec = json_object_get(doc, "spec");
    json_t *ingress = json_object_get(spec, "ingress");
    json_t *ports;

    (void)state;
    assert_string_value(json_object_get(spec, "selector"), "role == 'database'");
    assert_true(json_real_value(json_object_get(spec, "order")) == 100.5);
    assert_int_equal(json_array_size(ingress), 3);
    assert_string_value(
        json_object_get(json_object_get(json_array_get(ingress, 0), "source"), "selector"),
        "role == 'frontend' && !has(debug)");
    ports = json_object_get(json_object_get(json_array_get(ingress, 0), "destination"),
                            "ports");
    assert_int_equal(json_integer_value(json_array_get(ports, 0)), 6379);
    assert_string_value(json_array_get(ports, 1), "8000:9000");
    assert_string_value(json_array_get(ports, 2), "7000:7100"); /* not sexagesimal */
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(json_array_get(ingress, 1), "icmp"),
                                           "type")),
        8);
    assert_string_value(
        json_array_get(json_object_get(json_object_get(json_array_get(ingress, 2), "source"),
                                       "nets"),
                       1),
        "fd00::/8");
    assert_int_equal(json_array_size(json_object_get(spec, "egress")), 1);
}

static const char gnp_and_peer_yaml[] =
    "---\n"
    "apiVersion: projectcalico.org/v3\n"
    "kind: GlobalNetworkPolicy\n"
    "metadata:\n"
    "  name: deny-blue\n"
    "spec:\n"
    "  order: 10\n"
    "  selector: color == 'blue'\n"
    "  namespaceSelector: has(projectcalico.org/name) && projectcalico.org/name != 'kube-system'\n"
    "  applyOnForward: true\n"
    "  preDNAT: false\n"
    "  types: [Ingress]\n"
    "  ingress:\n"
    "    - action: Deny\n"
    "      source:\n"
    "        serviceAccounts:\n"
    "          names: [\"api-service\"]\n"
    "---\n"
    "apiVersion: projectcalico.org/v3\n"
    "kind: BGPPeer\n"
    "metadata:\n"
    "  name: rack1-tor\n"
    "spec:\n"
    "  peerIP: 192.20.30.40\n"
    "  asNumber: 64567\n"
    "  nodeSelector: rack == 'rack-1'\n"
    "  keepOriginalNextHop: yes\n"
    "  password:\n"
    "    secretKeyRef:\n"
    "      name: bgp-secrets\n"
    "      key: rr-password\n";

static void test_calico_globalnetworkpolicy_and_bgppeer_in_one_file(void **state)
{
    _cleanup_(docs_clearp) struct tby_yaml_docs docs = { 0 };
    struct tby_error err = { 0 };
    json_t *gnp, *peer;

    (void)state;
    assert_int_equal(tby_yaml_load(gnp_and_peer_yaml, strlen(gnp_and_peer_yaml), "c.yaml",
                                   &docs, &err), 0);
    assert_int_equal(json_array_size(docs.docs), 2);
    assert_int_equal(docs.lines[0], 1);
    assert_int_equal(docs.lines[1], 18);
    gnp = json_object_get(json_array_get(docs.docs, 0), "spec");
    peer = json_object_get(json_array_get(docs.docs, 1), "spec");
    assert_int_equal(json_integer_value(json_object_get(gnp, "order")), 10);
    assert_true(json_is_true(json_object_get(gnp, "applyOnForward")));
    assert_string_value(json_object_get(gnp, "namespaceSelector"),
                        "has(projectcalico.org/name) && projectcalico.org/name != 'kube-system'");
    assert_string_value(json_object_get(peer, "peerIP"), "192.20.30.40");
    assert_int_equal(json_integer_value(json_object_get(peer, "asNumber")), 64567);
    assert_true(json_is_true(json_object_get(peer, "keepOriginalNextHop")));
}

static const char k8s_policy_yaml[] =
    "apiVersion: networking.k8s.io/v1\n"
    "kind: NetworkPolicy\n"
    "metadata:\n"
    "  name: test-network-policy\n"
    "  namespace: default\n"
    "spec:\n"
    "  podSelector:\n"
    "    matchLabels:\n"
    "      role: db\n"
    "  policyTypes:\n"
    "    - Ingress\n"
    "    - Egress\n"
    "  ingress:\n"
    "    - from:\n"
    "        - ipBlock:\n"
    "            cidr: 172.17.0.0/16\n"
    "            except:\n"
    "              - 172.17.1.0/24\n"
    "        - namespaceSelector:\n"
    "            matchLabels:\n"
    "              project: myproject\n"
    "        - podSelector:\n"
    "            matchLabels:\n"
    "              role: frontend\n"
    "      ports:\n"
    "        - protocol: TCP\n"
    "          port: 6379\n"
    "  egress:\n"
    "    - to:\n"
    "        - ipBlock:\n"
    "            cidr: 10.0.0.0/24\n"
    "      ports:\n"
    "        - protocol: TCP\n"
    "          port: 5978\n"
    "          endPort: 6000\n"
    "        - port: metrics\n";

static void test_kubernetes_networkpolicy(void **state)
{
    _cleanup_json_ json_t *doc = load_one(k8s_policy_yaml);
    json_t *spec = json_object_get(doc, "spec");
    json_t *from = json_object_get(json_array_get(json_object_get(spec, "ingress"), 0), "from");
    json_t *eports = json_object_get(json_array_get(json_object_get(spec, "egress"), 0),
                                     "ports");

    (void)state;
    assert_int_equal(json_array_size(from), 3);
    assert_string_value(
        json_array_get(json_object_get(json_object_get(json_array_get(from, 0), "ipBlock"),
                                       "except"),
                       0),
        "172.17.1.0/24");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(eports, 0), "endPort")),
                     6000);
    assert_string_value(json_object_get(json_array_get(eports, 1), "port"), "metrics");
}

static void test_kind_list_loads_as_a_plain_tree(void **state)
{
    _cleanup_json_ json_t *doc = load_one(
        "apiVersion: v1\n"
        "kind: List\n"
        "items:\n"
        "- apiVersion: projectcalico.org/v3\n"
        "  kind: IPPool\n"
        "  metadata: {name: a}\n"
        "  spec: {cidr: 10.1.0.0/16}\n"
        "- apiVersion: projectcalico.org/v3\n"
        "  kind: IPPool\n"
        "  metadata: {name: b}\n"
        "  spec: {cidr: 10.2.0.0/16}\n");
    json_t *items = json_object_get(doc, "items");

    (void)state;
    assert_string_value(json_object_get(doc, "kind"), "List");
    assert_int_equal(json_array_size(items), 2);
    assert_string_value(json_object_get(json_object_get(json_array_get(items, 1), "spec"),
                                        "cidr"),
                        "10.2.0.0/16");
}

static void test_json_input_reads_as_yaml(void **state)
{
    static const char text[] =
        "{\n"
        "\t\"kind\": \"IPPool\",\n"
        "\t\"metadata\": {\"name\":\"p\"},\n"
        "\t\"spec\": {\"cidr\": \"10.0.0.0/8\", \"blockSize\": 26, \"order\": 1.0,\n"
        "\t\t\"natOutgoing\": true, \"x\": null, \"esc\": \"a\\/b\\n\\u00e9\\t\\\"\",\n"
        "\t\t\"e\": 1E2, \"neg\": -0, \"list\": [1,2 ,3], \"none\": [], \"nothing\": {}}\n"
        "}\n"
        "---\n"
        "[{\"a\": \"yes\"}]\n";
    _cleanup_(docs_clearp) struct tby_yaml_docs docs = { 0 };
    struct tby_error err = { 0 };
    json_error_t jerr;
    _cleanup_json_ json_t *want = json_loads(
        "{\"kind\": \"IPPool\", \"metadata\": {\"name\":\"p\"}, \"spec\": {\"cidr\": "
        "\"10.0.0.0/8\", \"blockSize\": 26, \"order\": 1.0, \"natOutgoing\": true, \"x\": "
        "null, \"esc\": \"a/b\\n\\u00e9\\t\\\"\", \"e\": 100.0, \"neg\": 0, \"list\": [1,2,3], "
        "\"none\": [], \"nothing\": {}}}", 0, &jerr);

    (void)state;
    assert_non_null(want);
    if (tby_yaml_load(text, strlen(text), "pool.json", &docs, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(json_array_size(docs.docs), 2);
    assert_true(json_equal(json_array_get(docs.docs, 0), want));
    assert_string_value(json_object_get(json_array_get(json_array_get(docs.docs, 1), 0), "a"),
                        "yes");
}

static void test_anchors_and_aliases_are_deep_copies(void **state)
{
    _cleanup_json_ json_t *doc = load_one(
        "base: &rule {action: Allow, ports: [80, 443]}\n"
        "ingress: [*rule, *rule]\n"
        "name: &n web\n"
        "copy: *n\n"
        "*n : keyed by alias\n");
    json_t *base = json_object_get(doc, "base");
    json_t *ingress = json_object_get(doc, "ingress");

    (void)state;
    assert_true(json_equal(json_array_get(ingress, 0), base));
    assert_true(json_equal(json_array_get(ingress, 1), base));
    assert_ptr_not_equal(json_array_get(ingress, 0), base);
    /* Changing one copy leaves the others alone. */
    json_array_append_new(json_object_get(json_array_get(ingress, 0), "ports"),
                          json_integer(8080));
    assert_int_equal(json_array_size(json_object_get(base, "ports")), 2);
    assert_string_value(json_object_get(doc, "copy"), "web");
    assert_string_value(json_object_get(doc, "web"), "keyed by alias");
}

static void test_merge_keys_let_explicit_keys_win(void **state)
{
    _cleanup_json_ json_t *doc = load_one(
        "defaults: &d {ipipMode: Never, natOutgoing: true, blockSize: 26}\n"
        "other: &o {blockSize: 28, disabled: false, vxlanMode: Always}\n"
        "pool:\n"
        "  blockSize: 24\n"
        "  <<: [*d, *o]\n"
        "  cidr: 10.0.0.0/8\n"
        "quoted:\n"
        "  '<<': not a merge\n");
    json_t *pool = json_object_get(doc, "pool");

    (void)state;
    assert_int_equal(json_object_size(pool), 6);
    assert_int_equal(json_integer_value(json_object_get(pool, "blockSize")), 24);
    assert_string_value(json_object_get(pool, "ipipMode"), "Never");
    assert_string_value(json_object_get(pool, "vxlanMode"), "Always");
    assert_true(json_is_false(json_object_get(pool, "disabled")));
    assert_string_value(json_object_get(json_object_get(doc, "quoted"), "<<"), "not a merge");
}

static void test_merge_of_a_scalar_is_an_error(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(load_fails("a: 1\nb:\n  <<: 5\n", "m.yaml", &err), -EINVAL);
    assert_string_equal(err.msg,
                        "m.yaml: line 3 column 3: the merge key << needs a mapping or a list "
                        "of mappings");
    fails_with("b:\n  <<: [{a: 1}, 2]\n", "m.yaml", "needs a mapping");
}

static void test_anchor_redefined_later_names_the_newer_node(void **state)
{
    _cleanup_json_ json_t *doc = load_one("a: &x 1\nb: *x\nc: &x 2\nd: *x\n");

    (void)state;
    assert_int_equal(json_integer_value(json_object_get(doc, "b")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "d")), 2);
}

/* ---- errors ----------------------------------------------------------------------- */

static void test_libyaml_errors_carry_the_name_line_and_column(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(load_fails("apiVersion: v3\nspec:\n  cidr: a: b\n", "pool.yaml", &err),
                     -EINVAL);
    assert_string_equal(err.msg,
                        "pool.yaml: line 3 column 10: mapping values are not allowed in this "
                        "context");
}

static void test_bad_indentation_reports_line_and_column(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    load_fails("spec:\n  cidr: 10.0.0.0/8\n blockSize: 26\n", "pool.yaml", &err);
    assert_string_equal(err.msg,
                        "pool.yaml: line 3 column 2: did not find expected key (while parsing "
                        "a block mapping started at line 1 column 1)");
    fails_with("items:\n  - a\n  b: 1\n", "l.yaml", "l.yaml: line 3 column 3: ");
}

static void test_tab_indentation_is_explained(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    load_fails("spec:\n\tcidr: 10.0.0.0/8\n", "pool.yaml", &err);
    assert_string_equal(err.msg,
                        "pool.yaml: line 2 column 1: a tab character cannot indent YAML, "
                        "use spaces");
    fails_with("spec:\n  cidr: x\n  ports:\n  - 1\n\t- 2\n", "pool.yaml",
               "pool.yaml: line 5 column 1: a tab character");
}

static void test_unclosed_quote_reports_where_it_started(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    load_fails("metadata:\n  name: \"web\nspec: {}\n", "p.yaml", &err);
    assert_contains(err.msg, "p.yaml: line 4 column 1: found unexpected end of stream");
    assert_contains(err.msg, "while scanning a quoted scalar started at line 2 column 9");
    fails_with("a: 'x\n", "p.yaml", "quoted scalar started at line 1 column 4");
}

static void test_duplicate_key_is_an_error_naming_the_line(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(load_fails("metadata:\n  name: a\n  labels: {}\n  name: b\n", "d.yaml",
                                &err),
                     -EINVAL);
    assert_string_equal(err.msg, "d.yaml: line 4 column 3: duplicate key \"name\"");
    fails_with("{a: 1, a: 2}\n", "d.yaml", "duplicate key \"a\"");
    /* Keys are compared as written text: 1 and "1" are the same key in JSON. */
    fails_with("1: a\n'1': b\n", "d.yaml", "line 2 column 1: duplicate key \"1\"");
}

static void test_alias_to_unknown_anchor_is_an_error(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(load_fails("a: 1\nb: *nowhere\n", "a.yaml", &err), -EINVAL);
    assert_string_equal(err.msg, "a.yaml: line 2 column 4: alias *nowhere names no anchor "
                                 "before it");
    /* Anchors do not reach across documents. */
    fails_with("a: &x 1\n---\nb: *x\n", "a.yaml", "line 3 column 4: alias *x names no anchor");
}

static void test_alias_inside_its_own_anchor_is_an_error(void **state)
{
    (void)state;
    fails_with("a: &x [1, *x]\n", "a.yaml",
               "line 1 column 11: alias *x is inside the node it names");
}

static void test_non_scalar_key_is_an_error(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(load_fails("? [a, b]\n: c\n", "k.yaml", &err), -EINVAL);
    assert_string_equal(err.msg, "k.yaml: line 1 column 3: a mapping key must be a scalar, "
                                 "not a collection");
    fails_with("l: &l [1]\n*l : x\n", "k.yaml", "alias *l cannot be a key");
    fails_with("\"a\\0b\": 1\n", "k.yaml", "NUL");
}

static void test_invalid_utf8_and_control_characters_report_position(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    load_fails("a: ok\nb: \xff\n", "u.yaml", &err);
    assert_string_equal(err.msg, "u.yaml: line 2 column 4: invalid leading UTF-8 octet "
                                 "(byte 0xFF)");
    fails_with("a: b\x01\n", "u.yaml",
               "u.yaml: line 1 column 5: control characters are not allowed");
}

static char *nested(unsigned levels)
{
    char *text = malloc(2 * levels + 2);

    memset(text, '[', levels);
    memset(text + levels, ']', levels);
    strcpy(text + 2 * levels, "\n");
    return text;
}

static void test_nesting_deeper_than_the_limit_is_refused(void **state)
{
    _cleanup_free_ char *ok = nested(TBY_YAML_MAX_DEPTH);
    _cleanup_free_ char *deep = nested(TBY_YAML_MAX_DEPTH + 1);
    _cleanup_free_ char *very_deep = nested(100000);
    struct tby_error err = { 0 };

    (void)state;
    json_decref(load_one(ok));
    assert_int_equal(load_fails(deep, "deep.yaml", &err), -E2BIG);
    assert_string_equal(err.msg, "deep.yaml: line 1 column 257: nested deeper than 256 levels");
    assert_int_equal(load_fails(very_deep, "deep.yaml", &err), -E2BIG);
}

static void test_alias_that_would_nest_too_deep_is_refused(void **state)
{
    struct tby_yaml_limits limits = { .max_nodes = 1000, .max_depth = 4 };
    struct tby_yaml_docs docs = { 0 };
    struct tby_error err = { 0 };
    const char *ok = "a: &x [[1]]\nb: [*x]\n";          /* 1 + 1 + 2 levels */
    const char *deep = "a: &x [[1]]\nb: [[*x]]\n";      /* 1 + 2 + 2 levels */

    (void)state;
    assert_int_equal(tby_yaml_load_limits(ok, strlen(ok), "x", &limits, &docs, &err), 0);
    tby_yaml_docs_clear(&docs);
    assert_int_equal(tby_yaml_load_limits(deep, strlen(deep), "x", &limits, &docs, &err),
                     -E2BIG);
    assert_string_equal(err.msg, "x: line 2 column 6: nested deeper than 4 levels");
    assert_null(docs.docs);
}

static const char billion_laughs[] =
    "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
    "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
    "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";

static void test_billion_laughs_is_stopped_by_the_node_cap(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(load_fails(billion_laughs, "lol.yaml", &err), -E2BIG);
    assert_contains(err.msg, "lol.yaml: line 6 column 36: ");
    assert_contains(err.msg, "more than 1000000 values (aliases count at their expanded size)");
}

static void test_node_cap_counts_what_merge_keys_bring(void **state)
{
    static const char text[] =
        "a: &a {x: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}\n"
        "b: &b {<<: {y: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]}}\n"
        "c: &c {<<: {y: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]}}\n"
        "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
    struct tby_yaml_limits limits = { .max_nodes = 5000, .max_depth = 64 };
    struct tby_yaml_docs docs = { 0 };
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(tby_yaml_load_limits(text, strlen(text), "m", &limits, &docs, &err),
                     -E2BIG);
    assert_contains(err.msg, "m: line 4 column ");
}

static void test_limits_above_the_supported_depth_are_refused(void **state)
{
    struct tby_yaml_limits limits = { .max_nodes = 10, .max_depth = TBY_YAML_DEPTH_LIMIT + 1 };
    struct tby_yaml_docs docs = { 0 };
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(tby_yaml_load_limits("a", 1, "x", &limits, &docs, &err), -EINVAL);
}

/* ---- dumping ---------------------------------------------------------------------- */

static void test_dump_writes_block_style_with_two_space_indent(void **state)
{
    _cleanup_json_ json_t *doc = load_one(ippool_yaml);
    _cleanup_free_ char *text = tby_yaml_dump(doc, 0, NULL);

    (void)state;
    assert_non_null(text);
    assert_string_equal(text,
                        "apiVersion: projectcalico.org/v3\n"
                        "kind: IPPool\n"
                        "metadata:\n"
                        "  name: default-ipv4-ippool\n"
                        "spec:\n"
                        "  cidr: 192.168.0.0/16\n"
                        "  blockSize: 26\n"
                        "  ipipMode: Never\n"
                        "  vxlanMode: CrossSubnet\n"
                        "  natOutgoing: true\n"
                        "  disabled: false\n"
                        "  nodeSelector: all()\n"
                        "  allowedUses:\n"
                        "  - Workload\n"
                        "  - Tunnel\n");
}

static void test_dump_quotes_strings_that_would_read_back_as_something_else(void **state)
{
    static const char *const texts[] = {
        "true", "False", "yes", "No", "on", "OFF", "y", "N", "null", "~", "", "123", "-1",
        "+1", "0x1F", "0o17", "0b1", "0777", "1_000", "1.5", "1e3", ".5", ".inf", ".nan",
        "99999999999999999999", "8000:9000", "12:30", "2001-12-14", "<<", "=",
    };

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(texts); i++) {
        _cleanup_json_ json_t *v = json_pack("{s:s}", "k", texts[i]);
        _cleanup_free_ char *text = tby_yaml_dump(v, 0, NULL);
        char want[128];

        snprintf(want, sizeof(want), "k: \"%s\"\n", texts[i]);
        assert_string_equal(text, want);
        assert_round_trip(v, 0);
    }
}

static void test_dump_leaves_ordinary_strings_plain(void **state)
{
    _cleanup_json_ json_t *v = json_pack("[s,s,s,s,s]", "192.168.0.0/16", "all()",
                                         "role == 'db'", "fd00::/64", "1.2.3");
    _cleanup_free_ char *text = tby_yaml_dump(v, 0, NULL);

    (void)state;
    assert_string_equal(text, "- 192.168.0.0/16\n- all()\n- role == 'db'\n- fd00::/64\n"
                              "- 1.2.3\n");
}

static void test_dump_keeps_numbers_and_their_types(void **state)
{
    _cleanup_json_ json_t *v = json_pack("[i,I,I,f,f,f,f,f,f]", 26, (json_int_t)INT64_MIN,
                                         (json_int_t)INT64_MAX, 1.0, 0.1, 1e20, -0.0,
                                         1.0 / 3.0, 5e-324);
    _cleanup_free_ char *text = tby_yaml_dump(v, 0, NULL);

    (void)state;
    assert_string_equal(text, "- 26\n- -9223372036854775808\n- 9223372036854775807\n"
                              "- 1.0\n- 0.1\n- 1.0e+20\n- -0.0\n- 0.3333333333333333\n"
                              "- 4.94065645841247e-324\n");
    assert_round_trip(v, 0);
}

static void test_dump_sorted_keys_flag(void **state)
{
    _cleanup_json_ json_t *v = json_pack("{s:i,s:{s:i,s:i},s:i}", "kind", 1, "b", "z", 1, "a",
                                         2, "a", 3);
    _cleanup_free_ char *plain = tby_yaml_dump(v, 0, NULL);
    _cleanup_free_ char *sorted = tby_yaml_dump(v, TBY_YAML_SORT_KEYS, NULL);

    (void)state;
    assert_string_equal(plain, "kind: 1\nb:\n  z: 1\n  a: 2\na: 3\n");
    assert_string_equal(sorted, "a: 3\nb:\n  a: 2\n  z: 1\nkind: 1\n");
}

static void test_dump_writes_empty_collections_in_flow_style(void **state)
{
    _cleanup_json_ json_t *v = json_pack("{s:{},s:[],s:[{},[]]}", "o", "a", "l");
    _cleanup_free_ char *text = tby_yaml_dump(v, 0, NULL);

    (void)state;
    assert_string_equal(text, "o: {}\na: []\nl:\n- {}\n- []\n");
    assert_round_trip(v, 0);
}

static void test_dump_writes_multiline_strings_as_literal_blocks(void **state)
{
    _cleanup_json_ json_t *v = json_pack("{s:s,s:s,s:s}", "script", "line one\nline two\n",
                                         "nofinal", "a\nb", "crlf", "a\r\nb\n");
    _cleanup_free_ char *text = tby_yaml_dump(v, 0, NULL);

    (void)state;
    assert_string_equal(text, "script: |\n  line one\n  line two\n"
                              "nofinal: |-\n  a\n  b\n"
                              "crlf: \"a\\r\\nb\\n\"\n");
    assert_round_trip(v, 0);
}

static void test_dump_all_separates_documents(void **state)
{
    _cleanup_json_ json_t *docs = json_pack("[{s:s},{s:s},[i]]", "kind", "IPPool", "kind",
                                            "BGPPeer", 1);
    _cleanup_json_ json_t *none = json_array();
    _cleanup_free_ char *text = tby_yaml_dump_all(docs, 0, NULL);
    _cleanup_free_ char *empty = tby_yaml_dump_all(none, 0, NULL);
    _cleanup_(docs_clearp) struct tby_yaml_docs back = { 0 };

    (void)state;
    assert_string_equal(text, "kind: IPPool\n---\nkind: BGPPeer\n---\n- 1\n");
    assert_string_equal(empty, "");
    assert_int_equal(tby_yaml_load(text, strlen(text), "d", &back, NULL), 0);
    assert_true(json_equal(back.docs, docs));
    assert_int_equal(back.lines[1], 2);
}

static void test_dump_all_wants_an_array(void **state)
{
    _cleanup_json_ json_t *v = json_object();
    struct tby_error err = { 0 };

    (void)state;
    assert_null(tby_yaml_dump_all(v, 0, &err));
    assert_int_equal(err.code, -EINVAL);
}

static void test_dump_refuses_a_string_that_is_not_utf8(void **state)
{
    _cleanup_json_ json_t *v = json_string_nocheck("\xff\xfe");
    struct tby_error err = { 0 };

    (void)state;
    assert_null(tby_yaml_dump(v, 0, &err));
    assert_contains(err.msg, "not UTF-8");
}

static json_t *nested_arrays(unsigned levels)
{
    json_t *v = json_array();

    for (unsigned i = 1; i < levels; i++) {
        json_t *outer = json_array();

        json_array_append_new(outer, v);
        v = outer;
    }
    return v;
}

static void test_dump_writes_what_the_deepest_load_can_give_and_no_deeper(void **state)
{
    _cleanup_json_ json_t *deepest = nested_arrays(TBY_YAML_DEPTH_LIMIT);
    _cleanup_json_ json_t *deeper = nested_arrays(TBY_YAML_DEPTH_LIMIT + 1);
    struct tby_yaml_limits limits = { .max_nodes = 10000, .max_depth = TBY_YAML_DEPTH_LIMIT };
    _cleanup_(docs_clearp) struct tby_yaml_docs back = { 0 };
    _cleanup_free_ char *text = tby_yaml_dump(deepest, 0, NULL);
    struct tby_error err = { 0 };

    (void)state;
    assert_non_null(text);
    assert_int_equal(tby_yaml_load_limits(text, strlen(text), "d", &limits, &back, &err), 0);
    assert_true(json_equal(json_array_get(back.docs, 0), deepest));
    assert_null(tby_yaml_dump(deeper, 0, &err));
    assert_int_equal(err.code, -E2BIG);
}

/* ---- round trips ------------------------------------------------------------------ */

static const char *const tricky[] = {
    "", " ", "  ", "true", "yes", "Yes", "y", "n", "No", "on", "OFF", "~", "null", "NULL",
    "123", "-1", "+1", "0x1F", "0o17", "0b101", "0777", "08", "1_000", "1e3", ".5", "1.",
    ".inf", "-.inf", ".nan", "99999999999999999999", "8000:9000", "2001-12-14", "12:30",
    "<<", "=", "-", "- a", "-a", "?", "? a", ":", "a: b", "a:b", "a #b", "#a", "a#b", "&a",
    "*a", "!a", "!!str", "|", ">", "%a", "@a", "`a", "'a", "\"a", "a'", "a\"", "[a]", "{a}",
    "a,b", "a, b", ",", "---", "...", "--- a", "a\n", "\n", "\n\n", "\na", "a\nb", "a\n\n",
    "  a", "a  ", " a\nb", "a \nb", "a\n b", "a\n  ", "\t", "a\tb", "\r\n", "a\rb", "\x01",
    "\x7f", "é", "日本語", "a\xe2\x80\xa8" "b", "a\xc2\x85" "b", "\xef\xbb\xbf" "a", "#",
    " #", "a :b", "a : b", "key: value\nother", "- a\n- b", "|\n a", "192.168.0.0/16",
    "fd00::/64", "::1", "10.0.0.1:8080", "has(role)", "role == 'db'", "!has(x)", "\\",
    "\\n", "a\\", "\"", "'", "''", "\"\"", "--- |\n", "...\n---\n", "\x1b[0m", "\xc2\xa0",
    "a\x00b",
};

static json_t *tricky_string(size_t i)
{
    const char *s = tricky[i];

    /* The last entry holds a NUL, so its length is not strlen's. */
    return i == TBY_ARRAY_SIZE(tricky) - 1 ? json_stringn(s, 3) : json_string(s);
}

static void test_round_trip_of_tricky_strings_as_values_keys_and_documents(void **state)
{
    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(tricky); i++) {
        _cleanup_json_ json_t *s = tricky_string(i);
        _cleanup_json_ json_t *in_map = json_object();
        _cleanup_json_ json_t *in_list = json_array();

        assert_non_null(s);
        json_object_set(in_map, "k", s);
        if (!memchr(json_string_value(s), '\0', json_string_length(s)))
            json_object_set(in_map, json_string_value(s), s);
        json_array_append(in_list, s);
        json_array_append(in_list, in_map);
        assert_round_trip(s, 0);
        assert_round_trip(in_map, 0);
        assert_round_trip(in_list, 0);
    }
}

/* xorshift64*: the same values on every run, so a failure can be replayed. */
static uint64_t next_random(uint64_t *seed)
{
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    return *seed * 2685821657736338717ull;
}

static json_t *random_string(uint64_t *seed)
{
    static const char *const pieces[] = {
        "a", "Z", "0", "9", " ", "-", ":", "#", "?", "!", "&", "*", "|", ">", "'", "\"",
        "%", "@", "`", ",", "[", "]", "{", "}", "\n", "\t", "\r", "\\", "~", ".", "_", "+",
        "e", "x", "é", "日", "\xe2\x80\xa8", "\xc2\x85", "\xef\xbb\xbf", "yes", "null",
        "---", "...", "0x", "1", "<<", "=", "\x01", "true", ": ", " #", "- ", "12", "0o",
    };
    char buf[256] = "";
    size_t n = next_random(seed) % 7;

    if (next_random(seed) % 4 == 0)
        return json_string(tricky[next_random(seed) % (TBY_ARRAY_SIZE(tricky) - 1)]);
    for (size_t i = 0; i < n; i++)
        strcat(buf, pieces[next_random(seed) % TBY_ARRAY_SIZE(pieces)]);
    return json_string(buf);
}

static json_t *random_number(uint64_t *seed)
{
    static const double reals[] = { 0.0, -0.0, 0.1, 1.0, 1e300, 5e-324, 123456789.0,
                                    1e15, 1e16, 1e17, -2.5, 3.0e-5 };
    static const json_int_t ints[] = { 0, 1, -1, INT64_MIN, INT64_MAX, 420, 0777 };
    uint64_t r = next_random(seed);
    double d;

    switch (r % 4) {
    case 0:
        return json_integer(ints[next_random(seed) % TBY_ARRAY_SIZE(ints)]);
    case 1:
        return json_integer((json_int_t)next_random(seed));
    case 2:
        return json_real(reals[next_random(seed) % TBY_ARRAY_SIZE(reals)]);
    default:
        r = next_random(seed);
        memcpy(&d, &r, sizeof(d));
        return json_real(isfinite(d) ? d : 1.5);
    }
}

static json_t *random_value(uint64_t *seed, unsigned depth)
{
    unsigned kind = (unsigned)(next_random(seed) % (depth < 5 ? 9 : 6));
    size_t n = next_random(seed) % 5;
    json_t *v;

    switch (kind) {
    case 0: return json_null();
    case 1: return json_boolean(next_random(seed) & 1);
    case 2: return random_number(seed);
    case 3: case 4: case 5: return random_string(seed);
    case 6: case 7:
        v = json_object();
        for (size_t i = 0; i < n; i++) {
            _cleanup_json_ json_t *key = random_string(seed);

            json_object_set_new(v, json_string_value(key), random_value(seed, depth + 1));
        }
        return v;
    default:
        v = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(v, random_value(seed, depth + 1));
        return v;
    }
}

static void test_round_trip_of_generated_values(void **state)
{
    uint64_t seed = 0x7ab1e5eedull;

    (void)state;
    for (int i = 0; i < 600; i++) {
        _cleanup_json_ json_t *v = random_value(&seed, 0);

        assert_round_trip(v, 0);
        assert_round_trip(v, TBY_YAML_SORT_KEYS);
    }
}

static void test_round_trip_of_generated_document_streams(void **state)
{
    uint64_t seed = 42;

    (void)state;
    for (int i = 0; i < 100; i++) {
        _cleanup_json_ json_t *docs = json_array();
        _cleanup_(docs_clearp) struct tby_yaml_docs back = { 0 };
        _cleanup_free_ char *text = NULL;
        struct tby_error err = { 0 };
        size_t n = next_random(&seed) % 5;

        for (size_t j = 0; j < n; j++)
            json_array_append_new(docs, random_value(&seed, 0));
        text = tby_yaml_dump_all(docs, 0, &err);
        assert_non_null(text);
        if (tby_yaml_load(text, strlen(text), "s", &back, &err) < 0)
            fail_msg("%s\n--- text:\n%s", err.msg, text);
        if (!json_equal(back.docs, docs))
            fail_msg("stream changed:\n%s", text);
    }
}

static void test_round_trip_of_calico_resources(void **state)
{
    const char *texts[] = { ippool_yaml, policy_yaml, gnp_and_peer_yaml, k8s_policy_yaml };

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(texts); i++) {
        _cleanup_(docs_clearp) struct tby_yaml_docs docs = { 0 };
        _cleanup_(docs_clearp) struct tby_yaml_docs back = { 0 };
        _cleanup_free_ char *text = NULL;

        assert_int_equal(tby_yaml_load(texts[i], strlen(texts[i]), "c", &docs, NULL), 0);
        for (size_t d = 0; d < json_array_size(docs.docs); d++) {
            assert_round_trip(json_array_get(docs.docs, d), 0);
            assert_round_trip(json_array_get(docs.docs, d), TBY_YAML_SORT_KEYS);
        }
        text = tby_yaml_dump_all(docs.docs, 0, NULL);
        assert_int_equal(tby_yaml_load(text, strlen(text), "c", &back, NULL), 0);
        assert_true(json_equal(back.docs, docs.docs));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_null_words_and_empty_load_as_null),
        cmocka_unit_test(test_plain_true_false_load_as_booleans),
        cmocka_unit_test(test_yaml11_yes_no_on_off_load_as_booleans_like_kubectl),
        cmocka_unit_test(test_quoted_yes_and_no_stay_strings),
        cmocka_unit_test(test_plain_integers_in_every_base),
        cmocka_unit_test(test_leading_zero_integers_are_yaml11_octal),
        cmocka_unit_test(test_integer_beyond_64_bits_is_an_error_not_a_lossy_real),
        cmocka_unit_test(test_plain_reals),
        cmocka_unit_test(test_infinity_nan_and_huge_reals_are_errors),
        cmocka_unit_test(test_other_plain_texts_stay_strings),
        cmocka_unit_test(test_quoted_and_block_scalars_are_always_strings),
        cmocka_unit_test(test_explicit_tags_are_honoured),
        cmocka_unit_test(test_tag_that_does_not_fit_its_text_is_an_error),
        cmocka_unit_test(test_unknown_tag_is_an_error),
        cmocka_unit_test(test_nested_mappings_and_sequences_load_as_objects_and_arrays),
        cmocka_unit_test(test_keys_are_strings_as_written),
        cmocka_unit_test(test_object_keys_keep_the_order_of_the_text),
        cmocka_unit_test(test_empty_texts_give_no_documents),
        cmocka_unit_test(test_explicit_null_document_is_kept),
        cmocka_unit_test(test_documents_are_split_on_dashes_and_remember_their_lines),
        cmocka_unit_test(test_text_need_not_end_in_nul_or_newline),
        cmocka_unit_test(test_calico_ippool_as_users_write_it),
        cmocka_unit_test(test_calico_networkpolicy_with_rules),
        cmocka_unit_test(test_calico_globalnetworkpolicy_and_bgppeer_in_one_file),
        cmocka_unit_test(test_kubernetes_networkpolicy),
        cmocka_unit_test(test_kind_list_loads_as_a_plain_tree),
        cmocka_unit_test(test_json_input_reads_as_yaml),
        cmocka_unit_test(test_anchors_and_aliases_are_deep_copies),
        cmocka_unit_test(test_merge_keys_let_explicit_keys_win),
        cmocka_unit_test(test_merge_of_a_scalar_is_an_error),
        cmocka_unit_test(test_anchor_redefined_later_names_the_newer_node),
        cmocka_unit_test(test_libyaml_errors_carry_the_name_line_and_column),
        cmocka_unit_test(test_bad_indentation_reports_line_and_column),
        cmocka_unit_test(test_tab_indentation_is_explained),
        cmocka_unit_test(test_unclosed_quote_reports_where_it_started),
        cmocka_unit_test(test_duplicate_key_is_an_error_naming_the_line),
        cmocka_unit_test(test_alias_to_unknown_anchor_is_an_error),
        cmocka_unit_test(test_alias_inside_its_own_anchor_is_an_error),
        cmocka_unit_test(test_non_scalar_key_is_an_error),
        cmocka_unit_test(test_invalid_utf8_and_control_characters_report_position),
        cmocka_unit_test(test_nesting_deeper_than_the_limit_is_refused),
        cmocka_unit_test(test_alias_that_would_nest_too_deep_is_refused),
        cmocka_unit_test(test_billion_laughs_is_stopped_by_the_node_cap),
        cmocka_unit_test(test_node_cap_counts_what_merge_keys_bring),
        cmocka_unit_test(test_limits_above_the_supported_depth_are_refused),
        cmocka_unit_test(test_dump_writes_block_style_with_two_space_indent),
        cmocka_unit_test(test_dump_quotes_strings_that_would_read_back_as_something_else),
        cmocka_unit_test(test_dump_leaves_ordinary_strings_plain),
        cmocka_unit_test(test_dump_keeps_numbers_and_their_types),
        cmocka_unit_test(test_dump_sorted_keys_flag),
        cmocka_unit_test(test_dump_writes_empty_collections_in_flow_style),
        cmocka_unit_test(test_dump_writes_multiline_strings_as_literal_blocks),
        cmocka_unit_test(test_dump_all_separates_documents),
        cmocka_unit_test(test_dump_all_wants_an_array),
        cmocka_unit_test(test_dump_refuses_a_string_that_is_not_utf8),
        cmocka_unit_test(test_dump_writes_what_the_deepest_load_can_give_and_no_deeper),
        cmocka_unit_test(test_round_trip_of_tricky_strings_as_values_keys_and_documents),
        cmocka_unit_test(test_round_trip_of_generated_values),
        cmocka_unit_test(test_round_trip_of_generated_document_streams),
        cmocka_unit_test(test_round_trip_of_calico_resources),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
