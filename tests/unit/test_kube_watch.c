/* test_kube_watch.c — reading watch streams (every way the bytes can be cut, garbage),
 * watch events, a reflector's relist difference and event checks, and the reconnection
 * pauses' bounds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/cleanup.h"
#include "tabby/kube_informer.h"
#include "tabby/kube_watch.h"
#include "kube_known.h"

/* Four events as a server may send them: whitespace of every kind between, strings with
 * braces, brackets, escaped quotes and backslashes, nested lists, unicode escapes. */
static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"},"
    "\"data\":{\"x\":\"}{][\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"2\"},"
    "\"data\":{\"q\":\"say \\\"}\\\" \\\\\",\"l\":[[1,{\"b\":[]}],\"\\u007d\"]}}}"
    "  \r\n\t"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"5\"}}}"
    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"6\"}}}"
    "\n";

struct seen {
    char *text[16];
    size_t n;
};

static int collect(json_t *value, void *ctx, struct tby_error *err)
{
    struct seen *s = ctx;

    (void)err;
    assert_true(s->n < 16);
    s->text[s->n++] = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
    return 0;
}

static void seen_clear(struct seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->text[i]);
    s->n = 0;
}

/* The stream fed in the pieces that `cuts` (ascending, inside the stream) make. */
static void feed_cut(const size_t *cuts, size_t n_cuts, struct seen *got)
{
    struct tby_kube_splitter sp;
    struct tby_error err = { 0 };
    size_t from = 0, len = strlen(stream);

    tby_kube_splitter_init(&sp, 0);
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts[i] : len;

        if (tby_kube_splitter_feed(&sp, stream + from, to - from, collect, got, &err) < 0)
            fail_msg("feed failed: %s", err.msg);
        from = to;
    }
    assert_false(tby_kube_splitter_pending(&sp));
    assert_int_equal(sp.buf.len, 0);
    tby_kube_splitter_clear(&sp);
}

static void expect_same(const struct seen *want, struct seen *got)
{
    assert_int_equal(got->n, want->n);
    for (size_t i = 0; i < want->n; i++)
        assert_string_equal(got->text[i], want->text[i]);
    seen_clear(got);
}

static void test_splitter_yields_the_same_objects_however_the_bytes_are_cut(void **state)
{
    size_t len = strlen(stream);
    struct seen want = { 0 }, got = { 0 };
    size_t *cuts = calloc(len, sizeof(*cuts));
    uint64_t rng = 88172645463325252ull;

    (void)state;
    assert_non_null(cuts);
    feed_cut(NULL, 0, &want); /* all at once */
    assert_int_equal(want.n, 4);
    assert_non_null(strstr(want.text[0], "\"}{][\""));
    /* Byte by byte. */
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    feed_cut(cuts, len - 1, &got);
    expect_same(&want, &got);
    /* Every place for one cut, and every pair of places for two. */
    for (size_t a = 1; a < len; a++) {
        cuts[0] = a;
        feed_cut(cuts, 1, &got);
        expect_same(&want, &got);
        for (size_t b = a + 1; b < len; b += 7) {
            cuts[1] = b;
            feed_cut(cuts, 2, &got);
            expect_same(&want, &got);
        }
    }
    /* Random pieces. */
    for (int round = 0; round < 300; round++) {
        size_t n = 0;

        for (size_t at = 0;;) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            at += 1 + rng % 40;
            if (at >= len)
                break;
            cuts[n++] = at;
        }
        feed_cut(cuts, n, &got);
        expect_same(&want, &got);
    }
    seen_clear(&want);
    free(cuts);
}

static void expect_garbage(const char *text, int code, const char *fragment)
{
    struct tby_kube_splitter sp;
    struct tby_error err = { 0 };
    struct seen got = { 0 };

    tby_kube_splitter_init(&sp, 64);
    assert_int_equal(tby_kube_splitter_feed(&sp, text, strlen(text), collect, &got, &err), code);
    if (!strstr(err.msg, fragment))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, fragment);
    seen_clear(&got);
    tby_kube_splitter_clear(&sp);
}

static void test_splitter_refuses_garbage_with_a_clear_error(void **state)
{
    (void)state;
    expect_garbage("x", -EBADMSG, "watch stream: expected '{' at byte 0, got 'x'");
    expect_garbage("{\"a\":1} }", -EBADMSG, "expected '{' at byte 8, got '}'");
    expect_garbage("[1]", -EBADMSG, "got '['");
    expect_garbage("\n\x01", -EBADMSG, "at byte 1, got byte 0x01");
    expect_garbage("{\"a\":1,}", -EBADMSG, "watch stream: an object that is not JSON");
    expect_garbage("{\"a\" 1}", -EBADMSG, "not JSON");
    expect_garbage("{\"a\":\"this object is longer than sixty-four bytes, "
                   "which is the limit here\"}",
                   -EFBIG, "watch stream: an object larger than 64 bytes");
}

static void test_splitter_keeps_a_partial_object_and_resets(void **state)
{
    struct tby_kube_splitter sp;
    struct tby_error err = { 0 };
    struct seen got = { 0 };

    (void)state;
    tby_kube_splitter_init(&sp, 0);
    assert_int_equal(tby_kube_splitter_feed(&sp, " {\"a\":[", 7, collect, &got, &err), 0);
    assert_true(tby_kube_splitter_pending(&sp));
    assert_int_equal(got.n, 0);
    tby_kube_splitter_reset(&sp); /* the connection broke: the next one starts clean */
    assert_false(tby_kube_splitter_pending(&sp));
    assert_int_equal(tby_kube_splitter_feed(&sp, "{}{}", 4, collect, &got, &err), 0);
    assert_int_equal(got.n, 2);
    seen_clear(&got);
    tby_kube_splitter_clear(&sp);
}

static int decode(const char *text, struct tby_kube_event *ev, json_t **keep, char *msg)
{
    struct tby_error err = { 0 };
    int r;

    *keep = json_loads(text, 0, NULL);
    assert_non_null(*keep);
    r = tby_kube_event_decode(*keep, ev, &err);
    strcpy(msg, err.msg);
    return r;
}

static void test_events_are_decoded_and_checked(void **state)
{
    static const struct {
        const char *text, *msg;
    } bad[] = {
        { "{\"object\":{}}", "watch event: no type" },
        { "{\"type\":\"RENAMED\",\"object\":{}}", "watch event: unknown type \"RENAMED\"" },
        { "{\"type\":\"ADDED\"}", "watch event ADDED: no object" },
        { "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}",
          "watch event ADDED: no metadata.resourceVersion" },
        { "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"resourceVersion\":\"3\"}}}",
          "watch event DELETED: no metadata.name" },
        { "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}",
          "watch event BOOKMARK: no metadata.resourceVersion" },
    };
    struct tby_kube_event ev;
    json_t *v;
    char msg[TBY_ERROR_MAX];

    (void)state;
    assert_int_equal(decode("{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"w\","
                            "\"namespace\":\"ns\",\"resourceVersion\":\"9\"}}}", &ev, &v, msg), 0);
    assert_int_equal(ev.type, TBY_KUBE_EVENT_MODIFIED);
    assert_string_equal(ev.name, "w");
    assert_string_equal(ev.ns, "ns");
    assert_string_equal(ev.resource_version, "9");
    json_decref(v);
    assert_int_equal(decode("{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
                            "{\"resourceVersion\":\"12\"}}}", &ev, &v, msg), 0);
    assert_int_equal(ev.type, TBY_KUBE_EVENT_BOOKMARK);
    assert_string_equal(ev.resource_version, "12");
    assert_string_equal(ev.ns, "");
    assert_null(ev.name);
    json_decref(v);
    assert_int_equal(decode("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
                            "\"reason\":\"Expired\",\"message\":\"too old resource version: 1 "
                            "(7)\"}}", &ev, &v, msg), 0);
    assert_int_equal(ev.type, TBY_KUBE_EVENT_ERROR);
    assert_true(tby_kube_status_is_expired(ev.object));
    json_decref(v);
    for (size_t i = 0; i < TBY_ARRAY_SIZE(bad); i++) {
        assert_int_equal(decode(bad[i].text, &ev, &v, msg), -EINVAL);
        assert_string_equal(msg, bad[i].msg);
        json_decref(v);
    }
}

/* ---- the reflector's memory ------------------------------------------------------------- */

static json_t *obj(const char *ns, const char *name, const char *rv)
{
    json_t *meta = json_pack("{s:s, s:s}", "name", name, "resourceVersion", rv);

    if (ns)
        json_object_set_new(meta, "namespace", json_string(ns));
    return json_pack("{s:o}", "metadata", meta);
}

/* "ADDED ns/name@rv" lines of changes, for comparing. */
static void expect_changes(struct tby_kube_changes *got, const char *want)
{
    static const char *const names[] = { "ADDED", "MODIFIED", "DELETED", "SYNCED", "ONLINE",
                                         "OFFLINE" };
    char text[2048] = "";

    for (size_t i = 0; i < got->n; i++) {
        const json_t *meta = json_object_get(got->items[i].object, "metadata");
        const char *ns = json_string_value(json_object_get(meta, "namespace"));
        size_t len = strlen(text);

        snprintf(text + len, sizeof(text) - len, "%s%s %s%s%s@%s%s", i ? "; " : "",
                 names[got->items[i].type], ns ? ns : "", ns ? "/" : "",
                 json_string_value(json_object_get(meta, "name")),
                 json_string_value(json_object_get(meta, "resourceVersion")),
                 got->items[i].final_state_unknown ? " (stub)" : "");
        assert_int_equal(got->items[i].reflector, 3);
    }
    assert_string_equal(text, want);
    tby_kube_changes_clear(got);
}

/* A whole list (or, `one_page`, one page of a listing), taking items. */
static int feed(struct kube_known *k, json_t *items, bool one_page,
                struct tby_kube_changes *out)
{
    struct tby_error err = { 0 };
    int r = one_page ? kube_known_list_page(k, items, 3, out, &err)
                     : kube_known_relist(k, items, 3, out, &err);

    json_decref(items);
    return r;
}

static int relist(struct kube_known *k, json_t *items, struct tby_kube_changes *out)
{
    return feed(k, items, false, out);
}

static int page(struct kube_known *k, json_t *items, struct tby_kube_changes *out)
{
    return feed(k, items, true, out);
}

/* Known: d/a@1, d/b@2 and n1@3, delivered. */
static void known_three(struct kube_known *k)
{
    struct tby_kube_changes out = { 0 };

    kube_known_init(k);
    assert_int_equal(relist(k, json_pack("[o,o,o]", obj("d", "a", "1"), obj("d", "b", "2"),
                                         obj(NULL, "n1", "3")), &out), 0);
    expect_changes(&out, "ADDED d/a@1; ADDED d/b@2; ADDED n1@3");
    assert_int_equal(kube_known_count(k), 3);
}

/* A list (or page) with an item without a name changes nothing at all. */
static void bad_item_changes_nothing(struct kube_known *k, bool one_page)
{
    struct tby_kube_changes out = { 0 };
    struct tby_error err = { 0 };
    json_t *bad = json_pack("[o,{}]", obj("d", "z", "1"));
    size_t count = kube_known_count(k);

    assert_int_equal(one_page ? kube_known_list_page(k, bad, 3, &out, &err)
                              : kube_known_relist(k, bad, 3, &out, &err),
                     -EINVAL);
    assert_string_equal(err.msg, "list: items[1] has no metadata.name or "
                                 "metadata.resourceVersion");
    json_decref(bad);
    assert_int_equal(out.n, 0);
    assert_int_equal(kube_known_count(k), count);
    assert_null(kube_known_version(k, "d", "z"));
}

static void test_relist_delivers_exactly_the_difference(void **state)
{
    struct kube_known k;
    struct tby_kube_changes out = { 0 };

    (void)state;
    known_three(&k);
    /* a unchanged, b changed, n1 gone, c new (and listed twice: once). */
    assert_int_equal(relist(&k, json_pack("[o,o,o,o]", obj("d", "c", "9"), obj("d", "a", "1"),
                                          obj("d", "b", "7"), obj("d", "c", "9")), &out), 0);
    expect_changes(&out, "ADDED d/c@9; MODIFIED d/b@7; DELETED n1@3 (stub)");
    assert_string_equal(kube_known_version(&k, "d", "b"), "7");
    assert_null(kube_known_version(&k, "", "n1"));
    /* The same list again: nothing. An empty one: everything goes. */
    assert_int_equal(relist(&k, json_pack("[o,o,o]", obj("d", "c", "9"), obj("d", "a", "1"),
                                          obj("d", "b", "7")), &out), 0);
    expect_changes(&out, "");
    bad_item_changes_nothing(&k, false);
    assert_int_equal(relist(&k, json_array(), &out), 0);
    assert_int_equal(out.n, 3);
    for (size_t i = 0; i < out.n; i++) {
        assert_int_equal(out.items[i].type, TBY_KUBE_DELETED);
        assert_true(out.items[i].final_state_unknown);
    }
    tby_kube_changes_clear(&out);
    assert_int_equal(kube_known_count(&k), 0);
    kube_known_clear(&k);
}

/* A listing page by page delivers each page's difference as it comes, the deletions at
 * its end; one abandoned half-way (its snapshot expired) is made good by the next. */
static void test_listing_in_pages_delivers_the_same_difference(void **state)
{
    struct kube_known k;
    struct tby_kube_changes out = { 0 };

    (void)state;
    known_three(&k);
    /* Pages: c new (listed again on the next page: once), a unchanged, b changed. */
    kube_known_list_begin(&k);
    assert_int_equal(page(&k, json_pack("[o,o]", obj("d", "c", "9"), obj("d", "a", "1")), &out),
                     0);
    expect_changes(&out, "ADDED d/c@9");
    for (size_t i = 0; i < out.n; i++)
        assert_true(out.items[i].listed);
    bad_item_changes_nothing(&k, true);
    assert_int_equal(page(&k, json_pack("[o,o]", obj("d", "b", "7"), obj("d", "c", "9")), &out),
                     0);
    expect_changes(&out, "MODIFIED d/b@7");
    assert_int_equal(kube_known_list_end(&k, 3, &out), 0);
    expect_changes(&out, "DELETED n1@3 (stub)");
    assert_int_equal(kube_known_count(&k), 3);
    /* Abandoned after one page (e new, a changed); the next listing no longer has e, has
     * a as the abandoned one delivered it, and b unchanged: only e goes. */
    kube_known_list_begin(&k);
    assert_int_equal(page(&k, json_pack("[o,o]", obj("d", "e", "10"), obj("d", "a", "11")),
                          &out), 0);
    expect_changes(&out, "ADDED d/e@10; MODIFIED d/a@11");
    kube_known_list_begin(&k);
    assert_int_equal(page(&k, json_pack("[o]", obj("d", "a", "11")), &out), 0);
    assert_int_equal(page(&k, json_pack("[o,o]", obj("d", "b", "7"), obj("d", "c", "9")), &out),
                     0);
    expect_changes(&out, "");
    assert_int_equal(kube_known_list_end(&k, 3, &out), 0);
    expect_changes(&out, "DELETED d/e@10 (stub)");
    assert_int_equal(kube_known_count(&k), 3);
    kube_known_clear(&k);
}

static void event(struct kube_known *k, enum tby_kube_event_type type, json_t *o,
                  struct tby_kube_changes *out)
{
    struct tby_kube_event ev = { .type = type, .object = o };
    const json_t *meta = json_object_get(o, "metadata");

    ev.ns = json_string_value(json_object_get(meta, "namespace"));
    ev.ns = ev.ns ? ev.ns : "";
    ev.name = type == TBY_KUBE_EVENT_BOOKMARK ? NULL
                                              : json_string_value(json_object_get(meta, "name"));
    ev.resource_version = json_string_value(json_object_get(meta, "resourceVersion"));
    assert_int_equal(kube_known_event(k, &ev, 3, out), 0);
    json_decref(o);
}

static void test_events_already_delivered_are_not_delivered_again(void **state)
{
    struct kube_known k;
    struct tby_kube_changes out = { 0 };

    (void)state;
    kube_known_init(&k);
    assert_int_equal(relist(&k, json_pack("[o]", obj("d", "a", "1")), &out), 0);
    tby_kube_changes_clear(&out);
    event(&k, TBY_KUBE_EVENT_ADDED, obj("d", "a", "1"), &out);    /* seen in the list */
    event(&k, TBY_KUBE_EVENT_MODIFIED, obj("d", "a", "2"), &out);
    event(&k, TBY_KUBE_EVENT_MODIFIED, obj("d", "a", "2"), &out); /* twice */
    event(&k, TBY_KUBE_EVENT_ADDED, obj("d", "a", "3"), &out);    /* known: a change */
    event(&k, TBY_KUBE_EVENT_MODIFIED, obj("d", "b", "4"), &out); /* unknown: new */
    event(&k, TBY_KUBE_EVENT_DELETED, obj("d", "a", "5"), &out);
    event(&k, TBY_KUBE_EVENT_DELETED, obj("d", "a", "5"), &out);  /* gone already */
    event(&k, TBY_KUBE_EVENT_DELETED, obj("d", "x", "6"), &out);  /* never seen */
    event(&k, TBY_KUBE_EVENT_BOOKMARK, obj(NULL, "", "7"), &out);
    expect_changes(&out, "MODIFIED d/a@2; MODIFIED d/a@3; ADDED d/b@4; DELETED d/a@5");
    assert_int_equal(kube_known_count(&k), 1);
    kube_known_clear(&k);
}

/* A resourceVersion is kept with room for the next; one longer than that room (by a list
 * or by an event) still replaces it, and the object stays known once. */
static void test_versions_longer_than_their_room_are_kept_whole(void **state)
{
    const char *longer = "1234567890123456789012345678901234567890";
    const char *longest = "98765432109876543210987654321098765432109876543210";
    struct kube_known k;
    struct tby_kube_changes out = { 0 };

    (void)state;
    known_three(&k);
    kube_known_list_begin(&k);
    assert_int_equal(page(&k, json_pack("[o,o,o]", obj("d", "a", longer), obj("d", "b", "2"),
                                        obj(NULL, "n1", "3")), &out), 0);
    assert_int_equal(kube_known_list_end(&k, 3, &out), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.items[0].type, TBY_KUBE_MODIFIED);
    tby_kube_changes_clear(&out);
    assert_string_equal(kube_known_version(&k, "d", "a"), longer);
    event(&k, TBY_KUBE_EVENT_MODIFIED, obj(NULL, "n1", longest), &out);
    event(&k, TBY_KUBE_EVENT_MODIFIED, obj(NULL, "n1", longest), &out); /* twice */
    event(&k, TBY_KUBE_EVENT_MODIFIED, obj("d", "a", "4"), &out);     /* shorter: in place */
    expect_changes(&out, "MODIFIED n1@98765432109876543210987654321098765432109876543210; "
                         "MODIFIED d/a@4");
    assert_string_equal(kube_known_version(&k, "", "n1"), longest);
    assert_string_equal(kube_known_version(&k, "d", "a"), "4");
    assert_string_equal(kube_known_version(&k, "d", "b"), "2");
    assert_int_equal(kube_known_count(&k), 3);
    /* a relist without them: each goes once, its stub naming its last version */
    assert_int_equal(relist(&k, json_array(), &out), 0);
    assert_int_equal(out.n, 3);
    for (size_t i = 0; i < out.n; i++) {
        const json_t *meta = json_object_get(out.items[i].object, "metadata");
        const char *name = json_string_value(json_object_get(meta, "name"));
        const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));

        assert_int_equal(out.items[i].type, TBY_KUBE_DELETED);
        assert_string_equal(rv, strcmp(name, "n1") == 0 ? longest
                                : strcmp(name, "a") == 0 ? "4"
                                                         : "2");
    }
    tby_kube_changes_clear(&out);
    assert_int_equal(kube_known_count(&k), 0);
    kube_known_clear(&k);
}

static void test_backoff_grows_to_thirty_seconds_with_bounded_jitter(void **state)
{
    struct tby_kube_backoff a, b;
    bool differ = false;

    (void)state;
    tby_kube_backoff_init(&a, 1);
    tby_kube_backoff_init(&b, 2);
    for (int round = 0; round < 3; round++) {
        long base = TBY_KUBE_BACKOFF_MIN_MS;

        for (int i = 0; i < 12; i++) {
            long pa = tby_kube_backoff_next(&a);
            long pb = tby_kube_backoff_next(&b);

            assert_true(pa >= base - base / 4 && pa <= base + base / 4);
            assert_true(pa <= TBY_KUBE_BACKOFF_MAX_MS);
            differ |= pa != pb;
            base = base * 2 > TBY_KUBE_BACKOFF_MAX_MS ? TBY_KUBE_BACKOFF_MAX_MS : base * 2;
        }
        assert_int_equal(a.base_ms, TBY_KUBE_BACKOFF_MAX_MS);
        tby_kube_backoff_reset(&a);
        tby_kube_backoff_reset(&b);
    }
    assert_true(differ); /* two clients do not pause alike */
    for (int i = 0; i < 1000; i++)
        assert_true(tby_kube_backoff_random(&a, 7) < 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splitter_yields_the_same_objects_however_the_bytes_are_cut),
        cmocka_unit_test(test_splitter_refuses_garbage_with_a_clear_error),
        cmocka_unit_test(test_splitter_keeps_a_partial_object_and_resets),
        cmocka_unit_test(test_events_are_decoded_and_checked),
        cmocka_unit_test(test_relist_delivers_exactly_the_difference),
        cmocka_unit_test(test_listing_in_pages_delivers_the_same_difference),
        cmocka_unit_test(test_events_already_delivered_are_not_delivered_again),
        cmocka_unit_test(test_versions_longer_than_their_room_are_kept_whole),
        cmocka_unit_test(test_backoff_grows_to_thirty_seconds_with_bounded_jitter),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
