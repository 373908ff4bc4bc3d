/* test_calc_strings.c — the label index's interned strings (calc_strings.h): one copy per
 * text, shared by reference, freed with the last reference (ASan's leak check and its
 * use-after-free check watch the rest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "calc_strings.h"

static void test_one_copy_per_text_freed_with_the_last_reference(void **state)
{
    struct calc_strs t;
    char buf[8] = "app1";
    const char *a, *b, *c;

    (void)state;
    calc_strs_init(&t);
    a = calc_strs_get(&t, "app1");
    b = calc_strs_get(&t, buf); /* another pointer, the same text */
    c = calc_strs_get(&t, "app2");
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_string_equal(c, "app2");
    assert_int_equal(tby_hmap_count(&t.map), 2);
    calc_strs_put(&t, a);
    assert_string_equal(b, "app1"); /* still held once */
    calc_strs_put(&t, b);
    calc_strs_put(&t, c);
    calc_strs_put(&t, NULL);
    assert_int_equal(tby_hmap_count(&t.map), 0);
    a = calc_strs_get(&t, "app1"); /* comes back as a new copy */
    assert_string_equal(a, "app1");
    calc_strs_put(&t, a);
    calc_strs_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_copy_per_text_freed_with_the_last_reference),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
