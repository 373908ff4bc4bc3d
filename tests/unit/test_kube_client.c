/* test_kube_client.c — the Kubernetes client without a server: URLs and selector
 * encoding, Status answers as errors, list pages, the token file's rereading, and what
 * callers read when the server cannot be reached (no secret in it).
 * tests/integration/kube_client.sh runs the client against a server. */
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
#include <unistd.h>

#include <cmocka.h>

#include "tabby/cleanup.h"
#include "tabby/kube.h"
#include "kube_http.h"

#define TOKEN "s3cr3t-T0KEN-never-shown"

static const struct tby_kube_resource ippools = {
    "crd.projectcalico.org", "v1", "ippools", "IPPool", false, false,
};

static char *path_of(const struct tby_kube_resource *res, const char *ns, const char *name,
                     const char *sub)
{
    struct tby_buf b = { 0 };

    assert_int_equal(tby_kube_path(&b, res, ns, name, sub), 0);
    return tby_buf_steal(&b, NULL);
}

static void test_paths_of_core_group_and_crd_types(void **state)
{
    static const struct {
        const struct tby_kube_resource *res;
        const char *ns, *name, *sub, *want;
    } cases[] = {
        { &tby_kube_pods, "default", "web", NULL, "/api/v1/namespaces/default/pods/web" },
        { &tby_kube_pods, "default", "web", "status",
          "/api/v1/namespaces/default/pods/web/status" },
        { &tby_kube_pods, "kube-system", NULL, NULL, "/api/v1/namespaces/kube-system/pods" },
        { &tby_kube_pods, NULL, NULL, NULL, "/api/v1/pods" },
        { &tby_kube_pods, "", NULL, NULL, "/api/v1/pods" },
        { &tby_kube_nodes, "ignored", "n1", NULL, "/api/v1/nodes/n1" },
        { &tby_kube_networkpolicies, "x", "deny all", NULL,
          "/apis/networking.k8s.io/v1/namespaces/x/networkpolicies/deny%20all" },
        { &ippools, NULL, "default-ipv4-ippool", NULL,
          "/apis/crd.projectcalico.org/v1/ippools/default-ipv4-ippool" },
        { &tby_kube_crds, NULL, "ippools.crd.projectcalico.org", NULL,
          "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
          "ippools.crd.projectcalico.org" },
        { &tby_kube_pods, "a/b", "c?d#e", NULL, "/api/v1/namespaces/a%2Fb/pods/c%3Fd%23e" },
    };

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *p = path_of(cases[i].res, cases[i].ns, cases[i].name, cases[i].sub);

        assert_string_equal(p, cases[i].want);
    }
}

static void test_selectors_are_percent_encoded(void **state)
{
    struct tby_buf b = { 0 };

    (void)state;
    tby_buf_adds(&b, "/api/v1/pods");
    tby_kube_query_add(&b, "labelSelector", "app in (web,db),tier!=x,!old");
    tby_kube_query_add(&b, "fieldSelector", "spec.nodeName=node-1");
    tby_kube_query_add(&b, "continue", "eyJ2Ijo+/=");
    assert_int_equal(tby_buf_error(&b), 0);
    assert_string_equal(b.data, "/api/v1/pods"
                                "?labelSelector=app%20in%20%28web%2Cdb%29%2Ctier%21%3Dx%2C%21old"
                                "&fieldSelector=spec.nodeName%3Dnode-1"
                                "&continue=eyJ2Ijo%2B%2F%3D");
    tby_buf_reset(&b);
    /* UTF-8 bytes each become %XX; unreserved characters stay. */
    tby_kube_escape(&b, "a-b_c.d~e\xc3\xa9");
    assert_string_equal(b.data, "a-b_c.d~e%C3%A9");
    tby_buf_clear(&b);
}

static void test_what_names_objects_as_messages_do(void **state)
{
    char buf[256];

    (void)state;
    assert_string_equal(kube_what(buf, sizeof(buf), &tby_kube_pods, "default", "web"),
                        "pods default/web");
    assert_string_equal(kube_what(buf, sizeof(buf), &tby_kube_nodes, "x", "n1"), "nodes n1");
    assert_string_equal(kube_what(buf, sizeof(buf), &tby_kube_pods, "default", NULL),
                        "pods in default");
    assert_string_equal(kube_what(buf, sizeof(buf), &ippools, NULL, NULL),
                        "ippools.crd.projectcalico.org");
}

static void test_http_status_maps_to_errno(void **state)
{
    static const struct {
        long code;
        const char *reason;
        int want;
    } cases[] = {
        { 404, "NotFound", -ENOENT },  { 409, "AlreadyExists", -EEXIST },
        { 409, "Conflict", -ECANCELED }, { 409, NULL, -ECANCELED },
        { 410, "Expired", -ESTALE },   { 410, "Gone", -ESTALE },
        { 401, NULL, -EACCES },        { 403, "Forbidden", -EACCES },
        { 400, "BadRequest", -EINVAL }, { 422, "Invalid", -EINVAL },
        { 415, NULL, -EINVAL },        { 429, "TooManyRequests", -EAGAIN },
        { 500, NULL, -EAGAIN },        { 503, NULL, -EAGAIN },
        { 504, "Timeout", -EAGAIN },   { 405, NULL, -EOPNOTSUPP },
        { 413, NULL, -EFBIG },         { 418, NULL, -EIO },
        { 302, NULL, -EIO },
    };

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(cases); i++)
        assert_int_equal(tby_kube_status_errno(cases[i].code, cases[i].reason), cases[i].want);
}

static void expect_status(long http, const char *body, int code, const char *msg)
{
    struct tby_error err = { 0 };

    assert_int_equal(tby_kube_status_error(&err, "pods default/web", http, body,
                                           body ? strlen(body) : 0),
                     code);
    assert_int_equal(err.code, code);
    assert_string_equal(err.msg, msg);
}

static void test_status_answers_become_messages_naming_the_object(void **state)
{
    (void)state;
    expect_status(409,
                  "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                  "\"message\":\"Operation cannot be fulfilled on pods \\\"web\\\": the object "
                  "has been modified\",\"reason\":\"Conflict\",\"code\":409}",
                  -ECANCELED,
                  "pods default/web: 409 Conflict: Operation cannot be fulfilled on pods "
                  "\"web\": the object has been modified");
    expect_status(409,
                  "{\"kind\":\"Status\",\"message\":\"pods \\\"web\\\" already exists\","
                  "\"reason\":\"AlreadyExists\",\"code\":409}",
                  -EEXIST, "pods default/web: 409 AlreadyExists: pods \"web\" already exists");
    /* The Status's code wins over the HTTP one; no message, no reason. */
    expect_status(200, "{\"kind\":\"Status\",\"code\":404}", -ENOENT,
                  "pods default/web: 404 NotFound");
    /* Not a Status: the HTTP status alone. */
    expect_status(502, "<html>bad gateway</html>", -EAGAIN, "pods default/web: 502 BadGateway");
    expect_status(503, NULL, -EAGAIN, "pods default/web: 503 ServiceUnavailable");
    expect_status(418, "{}", -EIO, "pods default/web: 418");
}

static void test_expired_status_is_recognised(void **state)
{
    _cleanup_json_ json_t *gone = json_loads("{\"kind\":\"Status\",\"code\":410,"
                                             "\"reason\":\"Expired\",\"message\":\"too old "
                                             "resource version: 1 (5)\"}", 0, NULL);
    _cleanup_json_ json_t *reason_only = json_loads("{\"reason\":\"Gone\"}", 0, NULL);
    _cleanup_json_ json_t *other = json_loads("{\"kind\":\"Status\",\"code\":500,"
                                              "\"reason\":\"InternalError\"}", 0, NULL);

    (void)state;
    assert_true(tby_kube_status_is_expired(gone));
    assert_true(tby_kube_status_is_expired(reason_only));
    assert_false(tby_kube_status_is_expired(other));
    assert_false(tby_kube_status_is_expired(NULL));
}

static void test_list_pages_are_decoded(void **state)
{
    static const char page[] =
        "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"42\","
        "\"continue\":\"tok\",\"remainingItemCount\":3},\"items\":[{\"metadata\":{\"name\":"
        "\"a\"}},{\"metadata\":{\"name\":\"b\"}}]}";
    static const char last[] =
        "{\"metadata\":{\"resourceVersion\":\"43\",\"continue\":\"\"},\"items\":null}";
    static const char *const bad[] = {
        "[]", "{\"items\":{}}", "{\"items\":[1]}", "{\"metadata\":[]}",
        "{\"metadata\":{\"resourceVersion\":7}}", "{\"items\":[", "",
    };
    _cleanup_json_ json_t *items = json_array();
    char *rv = NULL, *cont = NULL;
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(tby_kube_list_decode(page, strlen(page), items, &rv, &cont, &err), 0);
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(rv, "42");
    assert_string_equal(cont, "tok");
    free(rv);
    free(cont);
    /* The last page: no continue; an empty list may say items: null. */
    assert_int_equal(tby_kube_list_decode(last, strlen(last), items, &rv, &cont, &err), 0);
    assert_string_equal(rv, "43");
    assert_null(cont);
    assert_int_equal(json_array_size(items), 2);
    free(rv);
    for (size_t i = 0; i < TBY_ARRAY_SIZE(bad); i++) {
        assert_int_equal(tby_kube_list_decode(bad[i], strlen(bad[i]), items, &rv, &cont, &err),
                         -EINVAL);
        assert_null(rv);
        assert_null(cont);
        assert_true(strncmp(err.msg, "list: ", 6) == 0);
    }
}

static char dir[64];

static void write_token(const char *text)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/token", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_token_file_is_read_again_when_it_changes(void **state)
{
    struct tby_kube_config cfg = { .source = "in-cluster" };
    struct kube_token tok = { 0 };
    struct tby_error err = { 0 };
    char path[128], cmd[128];

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/tby-kubetok-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/token", dir);
    cfg.token_file = path;
    write_token("first\n");
    assert_int_equal(kube_token_refresh(&tok, &cfg, false, &err), 1);
    assert_string_equal(tok.value, "first");
    assert_int_equal(kube_token_refresh(&tok, &cfg, false, &err), 0);
    /* kubelet replaces the file (a new inode through a symlink swap, here a rename). */
    {
        char tmp[160];
        FILE *f;

        snprintf(tmp, sizeof(tmp), "%s/token.new", dir);
        f = fopen(tmp, "w");
        assert_non_null(f);
        fputs("  second-token \n", f);
        fclose(f);
        assert_int_equal(rename(tmp, path), 0);
    }
    assert_int_equal(kube_token_refresh(&tok, &cfg, false, &err), 1);
    assert_string_equal(tok.value, "second-token");
    /* Forced, the same content is no change. */
    assert_int_equal(kube_token_refresh(&tok, &cfg, true, &err), 0);
    write_token(" \n");
    assert_int_equal(kube_token_refresh(&tok, &cfg, true, &err), -EACCES);
    assert_non_null(strstr(err.msg, "is empty"));
    unlink(path);
    assert_int_equal(kube_token_refresh(&tok, &cfg, false, &err), -ENOENT);
    assert_non_null(strstr(err.msg, path));
    kube_token_clear(&tok);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A port nothing listens on: bound, so nobody else takes it, but not listening. */
static int closed_port(int *fd)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(addr);

    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&addr, &len), 0);
    return ntohs(addr.sin_port);
}

static void test_unreachable_server_is_eagain_without_secrets(void **state)
{
    _cleanup_(tby_kube_client_freep) struct tby_kube_client *c = NULL;
    _cleanup_json_ json_t *obj = NULL;
    struct tby_kube_config cfg = { .source = "test", .token = TOKEN,
                                   .timeout_ms = 2000, .connect_timeout_ms = 2000 };
    struct tby_kube_list list = { 0 };
    struct tby_error err = { 0 };
    char server[64];
    int fd, port = closed_port(&fd);

    (void)state;
    snprintf(server, sizeof(server), "http://127.0.0.1:%d", port);
    cfg.server = server;
    assert_int_equal(tby_kube_client_new(&cfg, &c, &err), 0);
    assert_int_equal(tby_kube_get(c, &tby_kube_pods, "default", "web", &obj, &err), -EAGAIN);
    assert_null(obj);
    assert_non_null(strstr(err.msg, "pods default/web: "));
    assert_non_null(strstr(err.msg, server));
    assert_non_null(strstr(err.msg, "onnection refused"));
    assert_null(strstr(err.msg, TOKEN));
    assert_int_equal(tby_kube_list(c, &tby_kube_pods, NULL, NULL, &list, &err), -EAGAIN);
    assert_null(list.items);
    assert_true(strncmp(err.msg, "pods: ", 6) == 0);
    /* Arguments a server would refuse are refused before asking. */
    assert_int_equal(tby_kube_get(c, &tby_kube_pods, NULL, "web", &obj, &err), -EINVAL);
    assert_string_equal(err.msg, "pods web: no namespace given");
    assert_int_equal(tby_kube_update_status(c, &tby_kube_serviceaccounts, "x", obj, NULL, &err),
                     -EINVAL);
    assert_string_equal(err.msg, "serviceaccounts: no status subresource");
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_of_core_group_and_crd_types),
        cmocka_unit_test(test_selectors_are_percent_encoded),
        cmocka_unit_test(test_what_names_objects_as_messages_do),
        cmocka_unit_test(test_http_status_maps_to_errno),
        cmocka_unit_test(test_status_answers_become_messages_naming_the_object),
        cmocka_unit_test(test_expired_status_is_recognised),
        cmocka_unit_test(test_list_pages_are_decoded),
        cmocka_unit_test(test_token_file_is_read_again_when_it_changes),
        cmocka_unit_test(test_unreachable_server_is_eagain_without_secrets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
