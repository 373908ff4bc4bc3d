/* test_node_status.c — what /status says: the node's name, its readiness with the reason
 * or what is degraded (the same words as /readiness), where its datastore and BIRD are,
 * how the datastore answers, and an object per part that has a status hook, filled by
 * that hook. Parts are stand-ins here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "node_fixture.h"
#include "tabby/cleanup.h"

struct said {
    bool not_ready, degraded;
    int asked;
};

static struct said said;

static int say_start(struct node *n, void **state, struct tby_error *err)
{
    *state = &said;
    return 0;
}

static void say_stop(void *state)
{
}

static bool say_ready(const void *state, char *why, size_t size)
{
    if (said.not_ready)
        snprintf(why, size, "routes not programmed yet");
    return !said.not_ready;
}

static bool say_degraded(const void *state, char *why, size_t size)
{
    if (said.degraded)
        snprintf(why, size, "BIRD not reachable");
    return said.degraded;
}

static int say_status(void *state, const struct node *n, json_t *out)
{
    struct said *s = state;

    s->asked++;
    json_object_set_new(out, "asked", json_integer(s->asked));
    json_object_set_new(out, "node", json_string(n->name));
    return 0;
}

static const struct node_part parts[] = {
    { .name = "speaks", .start = say_start, .stop = say_stop, .ready = say_ready,
      .degraded = say_degraded, .status = say_status },
    { .name = "silent", .start = say_start, .stop = say_stop },
};

static int setup(void **state)
{
    struct node_fixture *f = calloc(1, sizeof(*f));
    static const char *const flags[] = { "--bird-socket", "/run/x/bird.ctl", NULL };

    said = (struct said){ 0 };
    fixture_init(f, flags);
    f->table[0] = &parts[0];
    f->table[1] = &parts[1];
    f->n.n_parts = 2;
    fixture_start(f, NULL);
    node_turn(&f->n, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_stop(*state);
    free(*state);
    return 0;
}

static const char *str(const json_t *root, const char *path)
{
    const json_t *v = root;
    char key[64];

    for (const char *p = path; v && *p;) {
        size_t n = strcspn(p, ".");

        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        v = json_object_get(v, key);
        p += n + (p[n] == '.');
    }
    if (!json_is_string(v))
        fail_msg("%s is not a string", path);
    return json_string_value(v);
}

static void test_ready_node_names_itself_its_settings_and_datastore(void **state)
{
    struct node_fixture *f = *state;
    _cleanup_json_ json_t *st = node_status(&f->n);

    assert_non_null(st);
    assert_string_equal(str(st, "node"), "n1");
    assert_true(json_is_true(json_object_get(st, "ready")));
    assert_string_equal(str(st, "reason"), "");
    assert_string_equal(str(st, "degraded"), "");
    assert_string_equal(str(st, "settings.backend"), "bird");
    assert_string_equal(str(st, "settings.bird_socket"), "/run/x/bird.ctl");
    assert_string_equal(str(st, "settings.store"), f->store.uri);
    assert_true(json_is_true(json_object_get(json_object_get(st, "datastore"), "online")));
    assert_string_equal(str(st, "datastore.error"), "");
}

static void test_each_part_with_a_hook_has_its_object(void **state)
{
    struct node_fixture *f = *state;
    _cleanup_json_ json_t *st = node_status(&f->n);
    const json_t *p = json_object_get(st, "parts");

    assert_int_equal(json_object_size(p), 1);
    assert_string_equal(str(st, "parts.speaks.node"), "n1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "speaks"), "asked")),
                     1);
}

static void test_not_ready_gives_the_reason_and_degraded_says_what(void **state)
{
    struct node_fixture *f = *state;
    _cleanup_json_ json_t *a = NULL, *b = NULL;

    said.not_ready = true;
    a = node_status(&f->n);
    assert_true(json_is_false(json_object_get(a, "ready")));
    assert_string_equal(str(a, "reason"), "routes not programmed yet");
    said.not_ready = false;
    said.degraded = true;
    b = node_status(&f->n);
    assert_true(json_is_true(json_object_get(b, "ready")));
    assert_string_equal(str(b, "degraded"), "BIRD not reachable");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_node_names_itself_its_settings_and_datastore,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_part_with_a_hook_has_its_object, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_not_ready_gives_the_reason_and_degraded_says_what,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
