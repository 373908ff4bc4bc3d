/* test_buf.c — the byte buffer and array growth every module shares: appends keep the
 * bytes NUL-terminated, failure is sticky, max is a hard limit for appends and reads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tabby/array.h"
#include "tabby/buf.h"
#include "tabby/cleanup.h"

static void test_appends_keep_text_terminated(void **state)
{
    _cleanup_buf_ struct tby_buf b = { 0 };

    (void)state;
    assert_int_equal(tby_buf_adds(&b, "ab"), 0);
    assert_int_equal(tby_buf_addc(&b, 'c'), 0);
    assert_int_equal(tby_buf_printf(&b, "-%d-%s", 42, "x"), 0);
    assert_int_equal(tby_buf_add(&b, "yz", 1), 0);
    assert_string_equal(b.data, "abc-42-xy");
    assert_int_equal(b.len, 9);
    tby_buf_consume(&b, 4);
    assert_string_equal(b.data, "42-xy");
    tby_buf_consume(&b, 100);
    assert_string_equal(b.data, "");
    assert_int_equal(b.len, 0);
}

static void test_printf_grows_past_the_first_allocation(void **state)
{
    _cleanup_buf_ struct tby_buf b = { 0 };
    char big[1000];

    (void)state;
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 10; i++)
        assert_int_equal(tby_buf_printf(&b, "%s", big), 0);
    assert_int_equal(b.len, 9990);
    assert_int_equal(strlen(b.data), 9990);
}

static void test_steal_hands_out_text_even_when_empty(void **state)
{
    struct tby_buf b = { 0 };
    size_t len = 7;
    char *s = tby_buf_steal(&b, &len);

    (void)state;
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    tby_buf_adds(&b, "kept");
    s = tby_buf_steal(&b, NULL);
    assert_string_equal(s, "kept");
    assert_null(b.data);
    free(s);
}

static void test_max_makes_failure_sticky(void **state)
{
    _cleanup_buf_ struct tby_buf b = { .max = 5 };

    (void)state;
    assert_int_equal(tby_buf_adds(&b, "12345"), 0);
    assert_int_equal(tby_buf_adds(&b, "6"), -EFBIG);
    assert_int_equal(tby_buf_adds(&b, ""), -EFBIG);
    assert_int_equal(tby_buf_error(&b), -EFBIG);
    assert_string_equal(b.data, "12345");
    tby_buf_reset(&b);
    assert_int_equal(tby_buf_error(&b), 0);
    assert_int_equal(tby_buf_adds(&b, "ok"), 0);
    assert_string_equal(b.data, "ok");
}

/* A pipe holding `text`, its write end closed; returns the read end. */
static int pipe_with(const char *text)
{
    int fds[2];

    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], text, strlen(text)), (ssize_t)strlen(text));
    close(fds[1]);
    return fds[0];
}

static void test_reads_to_the_end_and_up_to_max(void **state)
{
    struct tby_buf b = { .max = 8 };
    int fd = pipe_with("exactly8");

    (void)state;
    assert_int_equal(tby_buf_read_all_fd(&b, fd), 0);
    assert_string_equal(b.data, "exactly8");
    close(fd);
    tby_buf_clear(&b);
    fd = pipe_with("nine long");
    assert_int_equal(tby_buf_read_all_fd(&b, fd), -EFBIG);
    assert_int_equal(b.len, 8);
    close(fd);
    tby_buf_clear(&b);
    assert_int_equal(b.max, 8);
}

static void test_one_read_fills_the_room_reserved(void **state)
{
    _cleanup_buf_ struct tby_buf b = { 0 };
    _cleanup_free_ char *text = malloc(10001);
    int fd;

    (void)state;
    memset(text, 'r', 10000);
    text[10000] = '\0';
    fd = pipe_with(text);
    assert_int_equal(tby_buf_reserve(&b, 16384), 0);
    assert_int_equal(tby_buf_read_fd(&b, fd), 10000);
    assert_int_equal(tby_buf_read_fd(&b, fd), 0);
    close(fd);
    assert_string_equal(b.data, text);
}

static void test_reads_a_stream_in_many_pieces(void **state)
{
    _cleanup_buf_ struct tby_buf b = { 0 };
    char *text = malloc(20001);
    FILE *f;

    (void)state;
    for (int i = 0; i < 20000; i++)
        text[i] = (char)('a' + i % 26);
    text[20000] = '\0';
    f = fmemopen(text, 20000, "r");
    assert_non_null(f);
    assert_int_equal(tby_buf_read_stream(&b, f), 0);
    fclose(f);
    assert_int_equal(b.len, 20000);
    assert_memory_equal(b.data, text, 20000);
    free(text);
}

static void test_read_file_names_a_missing_file(void **state)
{
    char *text = (char *)1;

    (void)state;
    assert_int_equal(tby_read_file("/nonexistent/tabby", 0, &text, NULL), -ENOENT);
    assert_null(text);
}

static void test_grow_doubles_and_keeps_elements(void **state)
{
    int *v = NULL;
    size_t cap = 0;

    (void)state;
    for (size_t n = 0; n < 1000; n++) {
        assert_int_equal(TBY_GROW(v, cap, n + 1), 0);
        assert_true(cap >= n + 1);
        v[n] = (int)n;
    }
    assert_int_equal(cap, 1024);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(v[i], i);
    assert_int_equal(TBY_GROW(v, cap, 10), 0); /* already room: unchanged */
    assert_int_equal(cap, 1024);
    assert_int_equal(tby_grow((void **)&v, &cap, SIZE_MAX, sizeof(*v)), -ENOMEM);
    assert_int_equal(cap, 1024);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends_keep_text_terminated),
        cmocka_unit_test(test_printf_grows_past_the_first_allocation),
        cmocka_unit_test(test_steal_hands_out_text_even_when_empty),
        cmocka_unit_test(test_max_makes_failure_sticky),
        cmocka_unit_test(test_reads_to_the_end_and_up_to_max),
        cmocka_unit_test(test_one_read_fills_the_room_reserved),
        cmocka_unit_test(test_reads_a_stream_in_many_pieces),
        cmocka_unit_test(test_read_file_names_a_missing_file),
        cmocka_unit_test(test_grow_doubles_and_keeps_elements),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
