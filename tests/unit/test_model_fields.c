/* test_model_fields.c — every field tabby decodes is accounted for: enforced (a test that
 * names it), refused at apply with a message naming it, or accepted with a warning naming
 * it (a knob of something tabby does not have).
 *
 * tests/data/fields/full.yaml holds one document per kind with every object the decoders
 * read; decoding it with a survey (codec.h) lists every field each decoder takes.
 * tests/data/fields/status.txt says, for each, one of:
 *   KIND PATH enforced FILE:TEST   FILE (under tests/) holds TEST, and TEST names the field
 *   KIND PATH refused SPEC-JSON    a document of KIND with that spec is refused, naming PATH
 *   KIND PATH warned SPEC-JSON     it is accepted, and tby_resource_ignored names PATH
 * A field a decoder takes that status.txt lacks fails the test (so adding one to a decoder
 * needs a test or a refusal), and so does a line for a field no decoder takes any more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/enforce.h"
#include "tabby/resource.h"
#include "tabby/strv.h"

#define DATA TOP_SRCDIR "/tests/data/fields/"

struct survey {
    const char *kind;
    struct tby_strv fields;     /* "KIND PATH", indexes as [] */
};

/* "spec.ingress[3].destination" -> "spec.ingress[].destination" */
static void normalize(const char *path, char *out, size_t size)
{
    size_t n = 0;

    for (const char *p = path; *p && n + 3 < size; p++) {
        out[n++] = *p;
        if (*p == '[') {
            while (p[1] && p[1] != ']')
                p++;
        }
    }
    out[n] = '\0';
}

static void note_fields(void *ctx, const char *path, const char *const *fields)
{
    struct survey *s = ctx;
    char norm[512];

    if (strncmp(path, "spec", 4) != 0)
        return;
    normalize(path, norm, sizeof(norm));
    for (size_t i = 0; fields[i]; i++) {
        char line[700];

        snprintf(line, sizeof(line), "%s %s.%s", s->kind, norm, fields[i]);
        if (!tby_strv_contains(&s->fields, line))
            assert_int_equal(tby_strv_push(&s->fields, line), 0);
    }
}

/* Every field of every kind, from full.yaml. */
static void survey_all(struct tby_strv *out)
{
    _cleanup_json_ json_t *docs = NULL;
    struct survey s = { .fields = { 0 } };
    struct tby_resource_list list;
    struct tby_error err = { 0 };
    size_t i;
    json_t *doc;

    /* loaded once to check it, then each document decoded again with the survey */
    if (tby_resource_load_file(DATA "full.yaml", &list, &err) < 0)
        fail_msg("full.yaml: %s", tby_error_str(&err));
    docs = json_array();
    for (i = 0; i < list.n; i++)
        json_array_append_new(docs, tby_resource_encode(list.items[i]));
    tby_resource_list_clear(&list);
    json_array_foreach(docs, i, doc) {
        _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;

        s.kind = json_string_value(json_object_get(doc, "kind"));
        if (strcmp(json_string_value(json_object_get(doc, "apiVersion")), "networking.k8s.io/v1")
            == 0)
            s.kind = "networkpolicy.networking.k8s.io";
        if (tby_resource_decode_survey(doc, note_fields, &s, &res, &err) < 0)
            fail_msg("full.yaml %s: %s", s.kind, tby_error_str(&err));
    }
    *out = s.fields;
}

static json_t *document(const char *kind, const char *spec_json)
{
    const struct tby_kind_info *info = tby_kind_lookup(kind);
    json_t *spec = json_loads(spec_json, 0, NULL);
    const char *name = info && info->kind == TBY_KIND_FELIXCONFIG ? "default"
                       : info && info->kind == TBY_KIND_IPAMCONFIG ? "default"
                                                                  : "fields";

    if (!info || !spec)
        fail_msg("%s: bad kind or spec %s", kind, spec_json);
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", info->api_version, "kind",
                     info->name, "metadata", "name", name, "namespace", "default", "spec",
                     spec);
}

/* The path as a message names it: the first element of each list. */
static void message_path(const char *path, char *out, size_t size)
{
    size_t n = 0;

    for (const char *p = path; *p && n + 4 < size; p++) {
        if (p[0] == '[' && p[1] == ']') {
            memcpy(out + n, "[0]", 3);
            n += 3;
            p++;
            continue;
        }
        out[n++] = *p;
    }
    out[n] = '\0';
}

static bool check_refused(const char *kind, const char *path, const char *spec, char *why,
                          size_t size)
{
    _cleanup_json_ json_t *doc = document(kind, spec);
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct tby_error err = { 0 };
    char want[512];

    if (!json_object_get(json_object_get(doc, "metadata"), "namespace"))
        return false;
    if (!tby_kind_lookup(kind)->namespaced)
        json_object_del(json_object_get(doc, "metadata"), "namespace");
    message_path(path, want, sizeof(want));
    if (tby_resource_decode(doc, &res, &err) == 0 && tby_enforce_check(res, 0, &err) == 0) {
        snprintf(why, size, "accepted");
        return false;
    }
    snprintf(why, size, "%s", tby_error_str(&err));
    /* the field named, or an object holding it refused whole ("spec: …") */
    for (char *cut; want[0]; *cut = '\0') {
        char named[520], *dot = strrchr(want, '.'), *bracket = strrchr(want, '[');

        snprintf(named, sizeof(named), "%s: ", want);
        if (strstr(tby_error_str(&err), named))
            return true;
        if (!(cut = dot > bracket ? dot : bracket))
            break;
    }
    return false;
}

static bool check_warned(const char *kind, const char *path, const char *spec, char *why,
                         size_t size)
{
    _cleanup_json_ json_t *doc = document(kind, spec);
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    _cleanup_(tby_strv_clear) struct tby_strv lines = { 0 };
    struct tby_error err = { 0 };

    if (!tby_kind_lookup(kind)->namespaced)
        json_object_del(json_object_get(doc, "metadata"), "namespace");
    if (tby_resource_decode(doc, &res, &err) < 0 || tby_enforce_check(res, 0, &err) < 0) {
        snprintf(why, size, "%s", tby_error_str(&err));
        return false;
    }
    assert_int_equal(tby_resource_ignored(res, &lines), 0);
    for (size_t i = 0; i < lines.n; i++)
        if (strncmp(lines.items[i], path, strlen(path)) == 0 &&
            lines.items[i][strlen(path)] == ':')
            return true;
    snprintf(why, size, "no warning names it");
    return false;
}

/* FILE:TEST — the file holds TEST, and TEST's text (a C function's body, or the whole of a
 * shell test) names the field. */
static bool check_enforced(const char *path, const char *evidence, char *why, size_t size)
{
    _cleanup_free_ char *text = NULL, *file = strndup(evidence, strcspn(evidence, ":"));
    const char *test = strchr(evidence, ':'), *leaf = strrchr(path, '.') + 1, *at, *end;
    char full[512], sig[256];

    snprintf(full, sizeof(full), TOP_SRCDIR "/tests/%s", file);
    if (!test || tby_read_file(full, 0, &text, NULL) < 0) {
        snprintf(why, size, "%s: no such test file", evidence);
        return false;
    }
    test++;
    snprintf(sig, sizeof(sig), "void %s(", test);
    at = strstr(text, sig);
    if (!at && !strstr(full, ".sh")) {
        snprintf(why, size, "%s: no test function %s", file, test);
        return false;
    }
    if (!at && !(at = strstr(text, test))) {
        snprintf(why, size, "%s: no case %s", file, test);
        return false;
    }
    end = strstr(full, ".sh") ? text + strlen(text) : strstr(at, "\n}\n");
    if (strstr(full, ".sh"))
        at = text;
    /* as a key: "leaf:" (YAML) or "leaf" quoted (JSON), not a word inside another */
    for (const char *p = at; p && end && p < end; p++) {
        const char *after = p + strlen(leaf);

        if (strncmp(p, leaf, strlen(leaf)) == 0 && p > text &&
            (p[-1] == ' ' || p[-1] == '"' || p[-1] == '{' || p[-1] == '.' || p[-1] == '_') &&
            (*after == ':' || *after == '"' || *after == '\\'))
            return true;
    }
    snprintf(why, size, "%s does not name %s", evidence, leaf);
    return false;
}

static void test_every_field_is_enforced_refused_or_warned(void **state)
{
    _cleanup_(tby_strv_clear) struct tby_strv surveyed = { 0 }, listed = { 0 };
    _cleanup_free_ char *text = NULL;
    char *save = NULL;
    int bad = 0;

    (void)state;
    survey_all(&surveyed);
    if (getenv("TABBY_FIELDS_PRINT"))
        for (size_t i = 0; i < surveyed.n; i++)
            printf("%s\n", surveyed.items[i]);
    assert_int_equal(tby_read_file(DATA "status.txt", 0, &text, NULL), 0);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char kind[64], path[400], status[16], key[500], why[600];
        int used = 0;
        bool ok;

        if (line[0] == '#' || !line[0])
            continue;
        if (sscanf(line, "%63s %399s %15s %n", kind, path, status, &used) != 3 || !used) {
            fprintf(stderr, "status.txt: cannot read \"%s\"\n", line);
            bad++;
            continue;
        }
        snprintf(key, sizeof(key), "%s %s", kind, path);
        assert_int_equal(tby_strv_push(&listed, key), 0);
        if (!tby_strv_contains(&surveyed, key)) {
            fprintf(stderr, "%s: no decoder takes it (left over in status.txt?)\n", key);
            bad++;
            continue;
        }
        why[0] = '\0';
        if (strcmp(status, "enforced") == 0)
            ok = check_enforced(path, line + used, why, sizeof(why));
        else if (strcmp(status, "refused") == 0)
            ok = check_refused(kind, path, line + used, why, sizeof(why));
        else if (strcmp(status, "warned") == 0)
            ok = check_warned(kind, path, line + used, why, sizeof(why));
        else
            ok = false, snprintf(why, sizeof(why), "unknown status %s", status);
        if (!ok) {
            fprintf(stderr, "%s %s: %s\n", key, status, why);
            bad++;
        }
    }
    for (size_t i = 0; i < surveyed.n; i++) {
        if (!tby_strv_contains(&listed, surveyed.items[i])) {
            fprintf(stderr, "%s: decoded, but neither a test nor a refusal accounts for it "
                            "(tests/data/fields/status.txt)\n", surveyed.items[i]);
            bad++;
        }
    }
    if (bad)
        fail_msg("%d field(s) not accounted for", bad);
}

/* Every spec field of Calico 3.31's kinds that tabby takes decodes (calico-3.31.txt). */
static void test_every_calico_field_decodes(void **state)
{
    _cleanup_(tby_strv_clear) struct tby_strv surveyed = { 0 };
    _cleanup_free_ char *text = NULL;
    char *save = NULL;
    int bad = 0;

    (void)state;
    survey_all(&surveyed);
    assert_int_equal(tby_read_file(DATA "calico-3.31.txt", 0, &text, NULL), 0);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || tby_strv_contains(&surveyed, line))
            continue;
        fprintf(stderr, "%s: Calico 3.31 has it, tabby does not decode it\n", line);
        bad++;
    }
    if (bad)
        fail_msg("%d field(s) of Calico's not decoded", bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field_is_enforced_refused_or_warned),
        cmocka_unit_test(test_every_calico_field_decodes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
