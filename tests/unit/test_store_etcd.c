/* test_store_etcd.c — the etcd backend without an etcd: its JSON encoding, URI and option
 * checks, and what callers see when etcd cannot be reached (tests/integration/
 * store_etcd.sh runs it against real etcd servers). */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tabby/cleanup.h"
#include "tabby/store.h"
#include "etcd_codec.h"
#include "store_etcd.h"

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A loopback socket bound to a free port; listening or not. */
static int loopback_socket(bool listening, int *port)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    if (listening)
        assert_int_equal(listen(fd, 16), 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

/* A port nothing listens on: bound, so nobody else takes it, but not listening. */
static int closed_port(int *fd)
{
    int port;

    *fd = loopback_socket(false, &port);
    return port;
}

static void test_base64_round_trips_every_length_and_byte(void **state)
{
    unsigned char data[260];

    (void)state;
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(255 - i);
    for (size_t len = 0; len <= sizeof(data); len += (len < 8 ? 1 : 31)) {
        _cleanup_json_ json_t *j = etcd_json_bytes(data, len);
        _cleanup_free_ char *back = NULL;
        size_t back_len;

        assert_non_null(j);
        assert_int_equal(etcd_unbase64(json_string_value(j), &back, &back_len), 0);
        assert_int_equal(back_len, len);
        assert_memory_equal(back, data, len);
        assert_int_equal(back[len], '\0');
    }
}

static void test_base64_matches_etcd_and_refuses_garbage(void **state)
{
    _cleanup_json_ json_t *j = etcd_json_key("/a/1");
    char *out = NULL;
    size_t len;

    (void)state;
    assert_string_equal(json_string_value(j), "L2EvMQ==");
    assert_int_equal(etcd_unbase64("L2E*MQ==", &out, &len), -EINVAL);
    assert_null(out);
}

static void test_kv_from_json_reads_string_numbers_and_defaults(void **state)
{
    _cleanup_json_ json_t *put = json_loads(
        "{\"key\":\"L2EvMQ==\",\"create_revision\":\"2\",\"mod_revision\":\"3\","
        "\"version\":\"2\",\"value\":\"eQ==\"}", 0, NULL);
    /* An empty value is left out; a deleted key has neither value nor version. */
    _cleanup_json_ json_t *empty = json_loads(
        "{\"key\":\"L2EvMQ==\",\"create_revision\":\"2\",\"mod_revision\":\"4\","
        "\"version\":\"3\"}", 0, NULL);
    _cleanup_json_ json_t *deleted = json_loads("{\"key\":\"L2EvMQ==\",\"mod_revision\":\"6\"}",
                                                0, NULL);
    struct tby_kv kv;

    (void)state;
    assert_int_equal(etcd_kv_from_json(put, &kv), 0);
    assert_string_equal(kv.key, "/a/1");
    assert_string_equal(kv.value, "y");
    assert_int_equal(kv.create_rev, 2);
    assert_int_equal(kv.mod_rev, 3);
    assert_int_equal(kv.version, 2);
    tby_kv_clear(&kv);
    assert_int_equal(etcd_kv_from_json(empty, &kv), 0);
    assert_non_null(kv.value);
    assert_int_equal(kv.value_len, 0);
    tby_kv_clear(&kv);
    assert_int_equal(etcd_kv_from_json(deleted, &kv), 0);
    assert_null(kv.value);
    assert_int_equal(kv.mod_rev, 6);
    tby_kv_clear(&kv);
}

static void test_prefix_ranges_bound_the_prefix_and_empty_means_all(void **state)
{
    json_t *key, *end;

    (void)state;
    assert_int_equal(etcd_prefix_range("/a/", &key, &end), 0);
    assert_string_equal(json_string_value(key), "L2Ev"); /* "/a/" */
    assert_string_equal(json_string_value(end), "L2Ew"); /* "/a0" */
    json_decref(key);
    json_decref(end);
    assert_int_equal(etcd_prefix_range("", &key, &end), 0);
    assert_string_equal(json_string_value(key), "AA=="); /* "\0" */
    assert_string_equal(json_string_value(end), "AA=="); /* no upper bound */
    json_decref(key);
    json_decref(end);
}

static void test_unreachable_endpoints_give_eagain_naming_each(void **state)
{
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };
    struct tby_watch *w = NULL;
    struct tby_kv kv;
    char uri[128], first[64], second[64];
    int fd1, fd2, port1 = closed_port(&fd1), port2 = closed_port(&fd2);
    int64_t start = now_ms();

    (void)state;
    snprintf(uri, sizeof(uri), "etcd:http://127.0.0.1:%d,http://127.0.0.1:%d", port1, port2);
    snprintf(first, sizeof(first), "etcd http://127.0.0.1:%d: connection refused", port1);
    snprintf(second, sizeof(second), "etcd http://127.0.0.1:%d: connection refused", port2);
    assert_int_equal(tby_store_open(uri, &store, &err), 0);
    assert_int_equal(tby_store_get(store, "/k", &kv, &err), -EAGAIN);
    assert_non_null(strstr(err.msg, first));
    assert_non_null(strstr(err.msg, second));
    assert_int_equal(tby_store_put(store, "/k", "v", 1, NULL, &err), -EAGAIN);
    assert_non_null(strstr(err.msg, first));
    assert_int_equal(tby_store_watch(store, "/", 0, &w, &err), -EAGAIN);
    assert_true(now_ms() - start < 1000);
    tby_store_close(store);
    close(fd1);
    close(fd2);
}

static void test_silent_endpoint_times_out_with_eagain(void **state)
{
    struct tby_store_options opts = { .timeout_ms = 300 };
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };
    struct tby_kv kv;
    char uri[64];
    int port, fd = loopback_socket(true, &port); /* accepts connections, never answers */
    int64_t start = now_ms();

    (void)state;
    snprintf(uri, sizeof(uri), "etcd:http://127.0.0.1:%d", port);
    assert_int_equal(tby_store_open_options(uri, &opts, &store, &err), 0);
    assert_int_equal(tby_store_get(store, "/k", &kv, &err), -EAGAIN);
    assert_non_null(strstr(err.msg, "no answer within 300 ms"));
    /* A write that may have reached etcd is not sent again, and says so. */
    assert_int_equal(tby_store_put(store, "/k", "v", 1, NULL, &err), -EAGAIN);
    assert_non_null(strstr(err.msg, "may or may not have been applied"));
    assert_true(now_ms() - start < 2000);
    tby_store_close(store);
    close(fd);
}

static void test_bare_uri_takes_endpoints_from_the_environment(void **state)
{
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };
    struct tby_kv kv;
    char endpoints[64];
    int fd, port = closed_port(&fd);

    (void)state;
    snprintf(endpoints, sizeof(endpoints), "http://127.0.0.1:%d/", port);
    setenv("ETCD_ENDPOINTS", endpoints, 1);
    assert_int_equal(tby_store_open("etcd:", &store, &err), 0);
    unsetenv("ETCD_ENDPOINTS");
    assert_int_equal(tby_store_get(store, "/k", &kv, &err), -EAGAIN);
    endpoints[strlen(endpoints) - 1] = '\0'; /* named without the trailing slash */
    assert_non_null(strstr(err.msg, endpoints));
    tby_store_close(store);
    close(fd);
}

static void test_missing_unix_socket_gives_eagain(void **state)
{
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };
    struct tby_kv kv;

    (void)state;
    assert_int_equal(tby_store_open("etcd:unix:///nonexistent/etcd.sock:2379", &store, &err),
                     0);
    assert_int_equal(tby_store_get(store, "/k", &kv, &err), -EAGAIN);
    assert_non_null(strstr(err.msg, "etcd unix:///nonexistent/etcd.sock:2379: "));
    tby_store_close(store);
}

static void expect_open_refused(const char *uri, const struct tby_store_options *opts,
                                const char *says)
{
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };

    assert_int_equal(tby_store_open_options(uri, opts, &store, &err), -EINVAL);
    assert_null(store);
    assert_non_null(strstr(err.msg, says));
}

static void test_bad_endpoints_and_options_are_refused(void **state)
{
    struct tby_store_options no_password = { .username = "root" };
    struct tby_store_options key_only = { .key_file = "/k.pem" };

    (void)state;
    unsetenv("ETCD_ENDPOINTS");
    expect_open_refused("etcd:", NULL, "no endpoints");
    expect_open_refused("etcd: , ", NULL, "no endpoints");
    expect_open_refused("etcd:ftp://h:2379", NULL, "use http://");
    expect_open_refused("etcd:unix://", NULL, "no socket path");
    expect_open_refused("etcd:http://127.0.0.1:2379", &no_password, "has no password");
    expect_open_refused("etcd:http://127.0.0.1:2379", &key_only, "without a client cert");
}

static void test_credentials_in_an_endpoint_are_refused_unseen(void **state)
{
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(tby_store_open("etcd:http://root:s3cret@127.0.0.1:2379", &store, &err),
                     -EINVAL);
    assert_null(strstr(err.msg, "s3cret"));
    assert_non_null(strstr(err.msg, "ETCD_PASSWORD"));
}

static void test_password_stays_out_of_messages(void **state)
{
    struct tby_store_options opts = { .username = "root", .password = "pa55-w0rd-xyz" };
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };
    struct tby_kv kv;
    char uri[64];
    int fd, port = closed_port(&fd);

    (void)state;
    snprintf(uri, sizeof(uri), "etcd:http://127.0.0.1:%d", port);
    assert_int_equal(tby_store_open_options(uri, &opts, &store, &err), 0);
    assert_int_equal(tby_store_get(store, "/k", &kv, &err), -EAGAIN);
    assert_non_null(strstr(err.msg, "authenticating as root"));
    assert_null(strstr(err.msg, opts.password));
    tby_store_close(store);
    close(fd);
}

/* The watch's thread keeps reconnecting; freeing the watch must stop it at once, also
 * when it waits for a silent server's answer. */
static void test_watch_retries_quietly_and_frees_promptly(void **state)
{
    struct tby_event_list events = { 0 };
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };
    struct tby_watch *w = NULL;
    char uri[96];
    int port_closed, port_silent, fd_closed, fd_silent;
    int64_t start;

    (void)state;
    port_closed = closed_port(&fd_closed);
    fd_silent = loopback_socket(true, &port_silent);
    snprintf(uri, sizeof(uri), "etcd:http://127.0.0.1:%d,http://127.0.0.1:%d", port_closed,
             port_silent);
    assert_int_equal(tby_store_open(uri, &store, &err), 0);
    assert_int_equal(tby_store_watch(store, "/w/", 5, &w, &err), 0);
    assert_true(tby_watch_fd(w) >= 0);
    assert_int_equal(tby_watch_next(w, &events, 500, &err), 0);
    assert_int_equal(events.n, 0);
    assert_int_equal(tby_watch_next_rev(w), 5);
    start = now_ms();
    tby_watch_free(w);
    assert_true(now_ms() - start < 500);
    tby_store_close(store);
    close(fd_closed);
    close(fd_silent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_round_trips_every_length_and_byte),
        cmocka_unit_test(test_base64_matches_etcd_and_refuses_garbage),
        cmocka_unit_test(test_kv_from_json_reads_string_numbers_and_defaults),
        cmocka_unit_test(test_prefix_ranges_bound_the_prefix_and_empty_means_all),
        cmocka_unit_test(test_unreachable_endpoints_give_eagain_naming_each),
        cmocka_unit_test(test_silent_endpoint_times_out_with_eagain),
        cmocka_unit_test(test_bare_uri_takes_endpoints_from_the_environment),
        cmocka_unit_test(test_missing_unix_socket_gives_eagain),
        cmocka_unit_test(test_bad_endpoints_and_options_are_refused),
        cmocka_unit_test(test_credentials_in_an_endpoint_are_refused_unseen),
        cmocka_unit_test(test_password_stays_out_of_messages),
        cmocka_unit_test(test_watch_retries_quietly_and_frees_promptly),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
