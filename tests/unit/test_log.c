/* test_log.c — the logger's promise: one line per event, whatever the message holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/log.h"

/* What one call writes, as a string the caller frees. */
static char *logged(enum tby_log_level level, const char *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    tby_log_set_stream(f);
    tby_log(level, "test", "event error=\"%s\"", arg);
    tby_log_set_stream(NULL);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static size_t lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_message_with_newlines_stays_one_line(void **state)
{
    char *out = logged(TBY_LOG_WARNING, "bird said:\nsyntax error\r\n");

    (void)state;
    assert_int_equal(lines(out), 1);
    assert_non_null(strstr(out, " warning test: event error=\"bird said: syntax error  \"\n"));
    free(out);
}

static void test_long_message_is_written_whole(void **state)
{
    char arg[5000];
    char *out;

    (void)state;
    memset(arg, 'x', sizeof(arg) - 1);
    arg[sizeof(arg) - 1] = '\0';
    arg[100] = '\n';
    out = logged(TBY_LOG_ERROR, arg);
    assert_int_equal(lines(out), 1);
    assert_true(strlen(out) > sizeof(arg));
    assert_non_null(strstr(out, "xxx\""));
    free(out);
}

static void test_messages_above_the_threshold_are_dropped(void **state)
{
    char *out;

    (void)state;
    tby_log_set_level(TBY_LOG_INFO);
    out = logged(TBY_LOG_DEBUG, "quiet");
    assert_string_equal(out, "");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_with_newlines_stays_one_line),
        cmocka_unit_test(test_long_message_is_written_whole),
        cmocka_unit_test(test_messages_above_the_threshold_are_dropped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
