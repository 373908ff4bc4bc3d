/* test_bird_client.c — BIRD's control-socket protocol: reply parsing edge cases, the show
 * commands' output, and the client against a fake BIRD in a thread (greeting, errors,
 * closed connections, timeouts, reconnect backoff, and applying a configuration). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tabby/bird.h"
#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "fake_bird.h"

/* ---- parsing ----------------------------------------------------------------------------- */

static int parse(const char *text, struct tby_bird_reply *out, size_t *used)
{
    return tby_bird_reply_parse(text, strlen(text), out, used, NULL);
}

static void test_reply_with_continuations_and_async_lines(void **state)
{
    static const char text[] = "1000-BIRD 2.0.12\n+0009 async noise\n1011-Router ID is 1.2.3.4\n"
                               " Hostname is vm\n0013 Daemon is up and running\nnext";
    struct tby_bird_reply r;
    size_t used = 0;

    (void)state;
    assert_int_equal(parse(text, &r, &used), 0);
    assert_int_equal(used, strlen(text) - 4);
    assert_int_equal(r.code, 13);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.lines[2].code, 1011); /* a continuation carries the code before */
    assert_string_equal(r.lines[2].text, "Hostname is vm");
    assert_string_equal(tby_bird_reply_message(&r), "Daemon is up and running");
    tby_bird_reply_clear(&r);
}

static void test_incomplete_reply_asks_for_more(void **state)
{
    struct tby_bird_reply r;
    size_t used = 0;

    (void)state;
    assert_int_equal(parse("", &r, &used), -EAGAIN);
    assert_int_equal(parse("1000-BIRD 2.0.12\n", &r, &used), -EAGAIN);
    assert_int_equal(parse("0013 Daemon is up", &r, &used), -EAGAIN);
    assert_int_equal(parse("0000 \n", &r, &used), 0);
    assert_int_equal(r.code, 0);
    tby_bird_reply_clear(&r);
}

static void test_malformed_replies_are_errors(void **state)
{
    static const char *const bad[] = {
        " continuation first\n", "12-short code\n", "abcd text\n", "0013Daemon\n",
        "0013\n", "x\n", "\n", "1000-ok\n001 three digits\n", "99999 five digits\n",
    };
    struct tby_bird_reply r;
    struct tby_error err = { 0 };
    size_t used;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(tby_bird_reply_parse(bad[i], strlen(bad[i]), &r, &used, &err),
                         -EPROTO);
        assert_int_equal(r.n, 0);
    }
    assert_int_equal(tby_bird_reply_parse("0013 a\0b\n", 9, &r, &used, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "NUL"));
}

static void test_lines_after_the_end_and_huge_lines_are_refused(void **state)
{
    struct tby_bird_reply r = { 0 };
    _cleanup_free_ char *huge = malloc(TBY_BIRD_LINE_MAX + 10);
    size_t used;

    (void)state;
    assert_int_equal(tby_bird_reply_feed(&r, "0000 ", 5, NULL), 1);
    assert_int_equal(tby_bird_reply_feed(&r, "0000 ", 5, NULL), -EPROTO);
    tby_bird_reply_clear(&r);
    memset(huge, 'a', TBY_BIRD_LINE_MAX + 9);
    huge[TBY_BIRD_LINE_MAX + 9] = '\0';
    assert_int_equal(parse(huge, &r, &used), -EPROTO);
    memcpy(huge, "1000-", 5);
    huge[TBY_BIRD_LINE_MAX + 8] = '\n';
    assert_int_equal(parse(huge, &r, &used), -EPROTO);
}

/* What BIRD 2.0.12 printed for `show protocols all` (trimmed). */
static const char protocols_all[] =
    "2002-Name       Proto      Table      State  Since         Info\n"
    "1002-device1    Device     ---        up     2026-11-30 01:54:39  \n"
    "1006-\n"
    "1002-Blocks_v4  Static     master4    up     2026-11-30 01:54:39  \n"
    "1006-  Channel ipv4\n"
    "     Routes:         2 imported, 0 exported, 2 preferred\n"
    " \n"
    "1002-Mesh_10_0_0_2 BGP        ---        start  2026-11-30 01:54:39  Active        "
    "Socket: Network is unreachable\n"
    "1006-  BGP state:          Active\n"
    "     Neighbor address: 10.0.0.2\n"
    "     Neighbor AS:      64512\n"
    "     Last error:       Socket: Network is unreachable\n"
    "   Channel ipv4\n"
    "     Routes:         3 imported, 1 exported, 3 preferred\n"
    " \n"
    "1002-Global_fd00__9 BGP        ---        up     01:02:03.456  Established   \n"
    "1006-  BGP state:          Established\n"
    "     Neighbor address: fd00::9\n"
    "     Neighbor AS:      65001\n"
    "0000 \n";

static void test_show_protocols_all_is_read(void **state)
{
    struct tby_bird_reply reply;
    struct tby_bird_protocols list;
    const struct tby_bird_protocol *mesh, *global;
    size_t used;

    (void)state;
    assert_int_equal(parse(protocols_all, &reply, &used), 0);
    assert_int_equal(tby_bird_protocols_parse(&reply, &list, NULL), 0);
    tby_bird_reply_clear(&reply);
    assert_int_equal(list.n, 4);
    assert_string_equal(list.items[1].name, "Blocks_v4");
    assert_int_equal(list.items[1].routes_imported, 2);
    mesh = &list.items[2];
    assert_string_equal(mesh->proto, "BGP");
    assert_string_equal(mesh->state, "start");
    assert_string_equal(mesh->since, "2026-11-30 01:54:39");
    assert_string_equal(mesh->info, "Active        Socket: Network is unreachable");
    assert_true(mesh->has_neighbor);
    assert_int_equal(mesh->neighbor_as, 64512);
    assert_string_equal(mesh->bgp_state, "Active");
    assert_string_equal(mesh->last_error, "Socket: Network is unreachable");
    assert_int_equal(mesh->routes_imported, 3);
    global = &list.items[3];
    assert_string_equal(global->since, "01:02:03.456");
    assert_string_equal(global->info, "Established");
    assert_int_equal(global->neighbor.family, 6);
    tby_bird_protocols_clear(&list);
}

static void test_status_and_route_counts_are_read(void **state)
{
    struct tby_bird_reply reply;
    struct tby_bird_status st;
    uint64_t n = 0;
    size_t used;

    (void)state;
    assert_int_equal(parse("1000-BIRD 2.0.12\n1011-Router ID is 10.0.0.1\n"
                           " Last reboot on 2026-11-30 01:54:39.973\n"
                           " Last reconfiguration on 2026-11-30 01:55:00.000\n"
                           "0013 Daemon is up and running\n", &reply, &used), 0);
    assert_int_equal(tby_bird_status_parse(&reply, &st, NULL), 0);
    tby_bird_reply_clear(&reply);
    assert_string_equal(st.version, "2.0.12");
    assert_string_equal(st.router_id, "10.0.0.1");
    assert_string_equal(st.last_reconfiguration, "2026-11-30 01:55:00.000");
    assert_string_equal(st.message, "Daemon is up and running");
    assert_int_equal(parse("1007-2 of 2 routes for 2 networks in table master4\n0000 \n",
                           &reply, &used), 0);
    assert_int_equal(tby_bird_route_count_parse(&reply, &n, NULL), 0);
    assert_int_equal(n, 2);
    tby_bird_reply_clear(&reply);
    assert_int_equal(parse("1007-5 of 6 routes for 6 networks in table master4\n"
                           " 0 of 0 routes for 0 networks in table master6\n"
                           "0014 Total: 5 of 6 routes for 6 networks in 2 tables\n",
                           &reply, &used), 0);
    assert_int_equal(tby_bird_route_count_parse(&reply, &n, NULL), 0);
    assert_int_equal(n, 5);
    tby_bird_reply_clear(&reply);
    assert_int_equal(parse("0000 \n", &reply, &used), 0);
    assert_int_equal(tby_bird_route_count_parse(&reply, &n, NULL), -EPROTO);
    tby_bird_reply_clear(&reply);
}

static struct tby_bird *client(const struct fake *f)
{
    struct tby_bird *b = NULL;

    assert_int_equal(tby_bird_new(f->path, &b, NULL), 0);
    tby_bird_set_timeout(b, 2000);
    return b;
}

/* ---- the client ----------------------------------------------------------------------------- */

static void test_status_through_the_socket(void **state)
{
    struct fake f;
    _cleanup_(tby_bird_freep) struct tby_bird *b = NULL;
    struct tby_bird_status st;
    struct tby_bird_reply reply;
    struct tby_error err = { 0 };
    uint64_t routes = 0;

    (void)state;
    fake_start(&f, FAKE_NORMAL);
    b = client(&f);
    assert_false(tby_bird_connected(b));
    assert_int_equal(tby_bird_show_status(b, &st, &err), 0);
    assert_true(tby_bird_connected(b));
    assert_string_equal(tby_bird_version(b), "2.0.12");
    assert_string_equal(st.router_id, "10.0.0.1");
    assert_int_equal(tby_bird_route_count(b, "protocol Blocks_v4", &routes, &err), 0);
    assert_string_equal(f.last, "show route protocol Blocks_v4 count");
    assert_int_equal(routes, 7);
    assert_int_equal(tby_bird_command(b, "bogus", &reply, &err), -EREMOTEIO);
    assert_int_equal(reply.code, 9001);
    assert_non_null(strstr(err.msg, "BIRD: bogus: syntax error"));
    tby_bird_reply_clear(&reply);
    assert_int_equal(tby_bird_command(b, "two\nlines", &reply, &err), -EINVAL);
    assert_int_equal(f.connections, 1);
    fake_remove(&f);
}

static void test_closed_connection_and_silence_are_errors_then_reconnect(void **state)
{
    struct fake f;
    _cleanup_(tby_bird_freep) struct tby_bird *b = NULL;
    struct tby_bird_status st;
    struct tby_error err = { 0 };

    (void)state;
    fake_start(&f, FAKE_CLOSE_MID_REPLY);
    b = client(&f);
    assert_int_equal(tby_bird_show_status(b, &st, &err), -ENOTCONN);
    assert_false(tby_bird_connected(b));
    f.mode = FAKE_SILENT;
    tby_bird_set_timeout(b, 100);
    assert_int_equal(tby_bird_show_status(b, &st, &err), -ETIMEDOUT);
    assert_non_null(strstr(err.msg, "no reply within 100 ms"));
    f.mode = FAKE_NORMAL;
    /* The next command connects again by itself. */
    assert_int_equal(tby_bird_show_status(b, &st, &err), 0);
    assert_int_equal(f.connections, 3);
    fake_remove(&f);
}

static void test_bad_greeting_is_refused(void **state)
{
    struct fake f;
    _cleanup_(tby_bird_freep) struct tby_bird *b = NULL;
    struct tby_error err = { 0 };

    (void)state;
    fake_start(&f, FAKE_BAD_GREETING);
    b = client(&f);
    assert_int_equal(tby_bird_connect(b, &err), -EPROTO);
    assert_false(tby_bird_connected(b));
    fake_remove(&f);
}

static void test_reconnect_backs_off_until_bird_returns(void **state)
{
    struct fake f;
    _cleanup_(tby_bird_freep) struct tby_bird *b = NULL;
    struct tby_error err = { 0 };

    (void)state;
    fake_start(&f, FAKE_NORMAL);
    b = client(&f);
    assert_int_equal(tby_bird_ensure(b, 1000, &err), 0);
    fake_stop(&f);             /* BIRD goes away */
    tby_bird_disconnect(b);
    assert_true(tby_bird_ensure(b, 1000, &err) < 0);
    assert_int_equal(tby_bird_retry_at(b), 1100);
    assert_int_equal(tby_bird_ensure(b, 1050, &err), -EAGAIN);
    assert_true(tby_bird_ensure(b, 1100, &err) < 0);
    assert_int_equal(tby_bird_retry_at(b), 1300);  /* doubled */
    for (uint64_t t = 1300; t < 100000; t = tby_bird_retry_at(b))
        assert_true(tby_bird_ensure(b, t, &err) < 0);
    assert_true(tby_bird_retry_at(b) - 100000 <= 5000); /* capped */
    fake_listen(&f);           /* BIRD is back */
    assert_int_equal(tby_bird_ensure(b, tby_bird_retry_at(b), &err), 0);
    assert_int_equal(tby_bird_retry_at(b), 0);
    fake_remove(&f);
}

/* ---- apply ------------------------------------------------------------------------------------ */

static size_t files_in(const char *dir)
{
    char cmd[160], out[32] = "";
    FILE *p;

    snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, sizeof(out), p));
    pclose(p);
    return (size_t)atoi(out);
}

static void test_apply_reloads_only_on_change_and_keeps_refused_files_out(void **state)
{
    struct fake f;
    _cleanup_(tby_bird_freep) struct tby_bird *b = NULL;
    _cleanup_free_ char *after = NULL;
    struct tby_error err = { 0 };
    char conf[160];
    bool changed;

    (void)state;
    fake_start(&f, FAKE_NORMAL);
    b = client(&f);
    snprintf(conf, sizeof(conf), "%s/bird.conf", f.dir);
    assert_int_equal(tby_bird_apply(b, conf, "one\n", 4, &changed, &err), 0);
    assert_true(changed);
    assert_int_equal(f.commands, 2);
    assert_non_null(strstr(f.last, "configure \""));
    assert_int_equal(tby_bird_apply(b, conf, "one\n", 4, &changed, &err), 0);
    assert_false(changed);
    assert_int_equal(f.commands, 2); /* unchanged text: BIRD is not asked at all */
    f.reject_config = true;
    assert_int_equal(tby_bird_apply(b, conf, "two\n", 4, &changed, &err), -EINVAL);
    assert_false(changed);
    assert_non_null(strstr(err.msg, "BIRD refused the configuration: x.conf:3:1 syntax error"));
    assert_int_equal(f.commands, 3); /* checked, never loaded */
    assert_int_equal(tby_read_file(conf, 0, &after, NULL), 0);
    assert_string_equal(after, "one\n");
    assert_int_equal(files_in(f.dir), 2); /* the socket and bird.conf: no temporary left */
    fake_remove(&f);
}

static void test_paths_bird_cannot_quote_are_refused(void **state)
{
    _cleanup_(tby_bird_freep) struct tby_bird *b = NULL;
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(tby_bird_new("/nonexistent/bird.ctl", &b, NULL), 0);
    assert_int_equal(tby_bird_configure(b, "/tmp/a\"b", &err), -EINVAL);
    assert_int_equal(tby_bird_configure_check(b, "/tmp/a\nb", &err), -EINVAL);
    assert_true(tby_bird_configure(b, "/tmp/ok.conf", &err) < 0); /* no BIRD there */
    assert_non_null(strstr(err.msg, "/nonexistent/bird.ctl"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_with_continuations_and_async_lines),
        cmocka_unit_test(test_incomplete_reply_asks_for_more),
        cmocka_unit_test(test_malformed_replies_are_errors),
        cmocka_unit_test(test_lines_after_the_end_and_huge_lines_are_refused),
        cmocka_unit_test(test_show_protocols_all_is_read),
        cmocka_unit_test(test_status_and_route_counts_are_read),
        cmocka_unit_test(test_status_through_the_socket),
        cmocka_unit_test(test_closed_connection_and_silence_are_errors_then_reconnect),
        cmocka_unit_test(test_bad_greeting_is_refused),
        cmocka_unit_test(test_reconnect_backs_off_until_bird_returns),
        cmocka_unit_test(test_apply_reloads_only_on_change_and_keeps_refused_files_out),
        cmocka_unit_test(test_paths_bird_cannot_quote_are_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
