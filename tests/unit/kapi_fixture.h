/* kapi_fixture.h — the Kubernetes API server TEST DOUBLE (tests/k8s/apiserver.py) for the
 * unit tests that need an API: started in a scratch folder (the server's state in
 * DIR/api, its request log in DIR/api.log), Calico's CRDs (manifests/crds.yaml) applied,
 * stopped by its pid — and with the test process if that dies first (the server gets
 * SIGTERM when its parent goes).
 *
 * Two users, so that the server's request log tells the code under test from the test:
 * the test is the admin (admin_uri, `client`, the /_test/ control API); the code under
 * test opens `uri`, whose kubeconfig is the user "tabby". A machine without python3 or
 * openssl cannot run the server: kapi_start returns false with the reason in `why`, and
 * the tests skip.
 *
 * Header-only, for the tests' own use (include after cmocka.h; needs lib/ on the include
 * path for the client's request function). kapi_stop frees everything and removes the
 * folder. */
#ifndef TABBY_TEST_KAPI_FIXTURE_H
#define TABBY_TEST_KAPI_FIXTURE_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/kube.h"
#include "tabby/kube_config.h"
#include "tabby/yaml.h"
#include "kube_client.h"

#define KAPI_SERVER TOP_SRCDIR "/tests/k8s/apiserver.py"
#define KAPI_CRDS TOP_SRCDIR "/manifests/crds.yaml"
#define KAPI_USER "tabby"
#define KAPI_TOKEN "tabby-unit-test-token"
#define KAPI_START_MS 60000

struct kapi {
    char dir[64];
    pid_t pid;
    char admin_uri[160];           /* k8s:…: the test's own store, as the admin */
    char uri[160];                 /* k8s:…: the code under test's, as KAPI_USER */
    struct tby_kube_config *cfg;   /* the admin's */
    struct tby_kube_client *client;
    char why[160];                 /* why it cannot run, when kapi_start said false */
};

static inline int64_t kapi_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void kapi_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* The server's answer to an admin request of its control API (/_test/...), a new
 * reference; `body` JSON text or NULL. Fails the test when it answers an error. */
static inline json_t *kapi_control(struct kapi *k, const char *method, const char *path,
                                   const char *body)
{
    _cleanup_json_ json_t *in = body ? json_loads(body, 0, NULL) : NULL;
    struct tby_error err = { 0 };
    json_t *out = NULL;

    assert_true(!body || in);
    if (kube_call(k->client, method, path, NULL, in, "test control", &out, &err) < 0)
        fail_msg("%s %s: %s", method, path, tby_error_str(&err));
    return out;
}

/* The sequence number of the last request the server has logged: requests logged later
 * (each once answered; a watch once it ended) have larger ones. */
static inline long kapi_seq(struct kapi *k)
{
    _cleanup_json_ json_t *a = kapi_control(k, "GET", "/_test/requests?since=9223372036854775807",
                                            NULL);

    return (long)json_integer_value(json_object_get(a, "next"));
}

/* The requests of `user` the server logged after `since`, watches left out: a new
 * array of its records (verb, path, resource, ...). */
static inline json_t *kapi_requests(struct kapi *k, long since, const char *user)
{
    char path[96];
    _cleanup_json_ json_t *a = NULL;
    json_t *out = json_array(), *r;
    size_t i;

    assert_non_null(out);
    snprintf(path, sizeof(path), "/_test/requests?since=%ld", since);
    a = kapi_control(k, "GET", path, NULL);
    json_array_foreach(json_object_get(a, "requests"), i, r) {
        if (!json_is_true(json_object_get(r, "watch")) &&
            strcmp(json_string_value(json_object_get(r, "user")) ?: "", user) == 0)
            json_array_append(out, r);
    }
    return out;
}

/* How many of those have the verb `verb` (NULL: any) on `resource` (NULL: any). */
static inline int kapi_count(struct kapi *k, long since, const char *user, const char *verb,
                             const char *resource)
{
    _cleanup_json_ json_t *a = kapi_requests(k, since, user);
    const json_t *r;
    size_t i;
    int n = 0;

    json_array_foreach(a, i, r) {
        const char *v = json_string_value(json_object_get(r, "verb"));
        const char *res = json_string_value(json_object_get(r, "resource"));

        if ((!verb || (v && strcmp(v, verb) == 0)) &&
            (!resource || (res && strcmp(res, resource) == 0)))
            n++;
    }
    return n;
}

/* Those requests as "verb path" lines, for messages. */
static inline void kapi_describe(struct kapi *k, long since, const char *user, char *out,
                                 size_t size)
{
    _cleanup_json_ json_t *a = kapi_requests(k, since, user);
    const json_t *r;
    size_t i, used = 0;

    out[0] = '\0';
    json_array_foreach(a, i, r) {
        int w = snprintf(out + used, size - used, "%s %s\n",
                         json_string_value(json_object_get(r, "verb")),
                         json_string_value(json_object_get(r, "path")));

        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
}

/* How many watches of `user` the server holds open now, on paths containing `path`
 * (NULL: any). A watch is open there a moment after its client saw the answer's status,
 * and still a moment after its client went away. */
static inline int kapi_watches(struct kapi *k, const char *user, const char *path)
{
    _cleanup_json_ json_t *a = kapi_control(k, "GET", "/_test/watches", NULL);
    const json_t *w;
    size_t i;
    int n = 0;

    json_array_foreach(json_object_get(a, "watches"), i, w) {
        const char *p = json_string_value(json_object_get(w, "path"));

        if (strcmp(json_string_value(json_object_get(w, "user")) ?: "", user) == 0 &&
            (!path || (p && strstr(p, path))))
            n++;
    }
    return n;
}

/* Creates an object as the admin; fails the test on an error. */
static inline void kapi_create(struct kapi *k, const struct tby_kube_resource *res,
                               const char *json_text)
{
    _cleanup_json_ json_t *obj = json_loads(json_text, 0, NULL);
    struct tby_error err = { 0 };

    assert_non_null(obj);
    if (tby_kube_create(k->client, res, NULL, obj, NULL, &err) < 0)
        fail_msg("create: %s", tby_error_str(&err));
}

static inline void kapi_delete(struct kapi *k, const struct tby_kube_resource *res,
                               const char *ns, const char *name)
{
    struct tby_error err = { 0 };

    if (tby_kube_delete(k->client, res, ns, name, NULL, &err) < 0)
        fail_msg("delete %s: %s", name, tby_error_str(&err));
}

static inline void kapi_apply_crds(struct kapi *k)
{
    _cleanup_free_ char *text = NULL;
    struct tby_yaml_docs docs = { 0 };
    struct tby_error err = { 0 };
    size_t len, i;
    json_t *doc;

    assert_int_equal(tby_read_file(KAPI_CRDS, 0, &text, &len), 0);
    if (tby_yaml_load(text, len, KAPI_CRDS, &docs, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    json_array_foreach(docs.docs, i, doc) {
        if (tby_kube_create(k->client, &tby_kube_crds, NULL, doc, NULL, &err) < 0)
            fail_msg("CRD %zu: %s", i, tby_error_str(&err));
    }
    tby_yaml_docs_clear(&docs);
}

/* The user's kubeconfig: the admin's with the user's token. */
static inline void kapi_user_kubeconfig(struct kapi *k)
{
    char path[128], *at;
    _cleanup_free_ char *admin = NULL, *token = NULL;
    struct tby_buf out = { 0 };
    size_t len;

    snprintf(path, sizeof(path), "%s/api/admin.token", k->dir);
    assert_int_equal(tby_read_file(path, 0, &token, &len), 0);
    token[strcspn(token, "\r\n")] = '\0';
    snprintf(path, sizeof(path), "%s/api/kubeconfig", k->dir);
    assert_int_equal(tby_read_file(path, 0, &admin, &len), 0);
    assert_non_null(at = strstr(admin, token));
    tby_buf_add(&out, admin, (size_t)(at - admin));
    tby_buf_printf(&out, "%s%s", KAPI_TOKEN, at + strlen(token));
    assert_int_equal(tby_buf_error(&out), 0);
    snprintf(path, sizeof(path), "%s/user.kubeconfig", k->dir);
    kapi_write_file(path, out.data);
    tby_buf_clear(&out);
    snprintf(k->uri, sizeof(k->uri), "k8s:%s", path);
}

/* Starts a server (extra arguments NULL-terminated, may be NULL) and applies the CRDs.
 * false when this machine cannot run it (k->why says why). */
static inline bool kapi_start(struct kapi *k, const char *name, const char *const *args)
{
    char api[96], log[96], err_log[96], tokens[96], port[128];
    const char *argv[32];
    struct tby_error err = { 0 };
    int64_t until;
    size_t n = 0;
    struct stat sb;

    memset(k, 0, sizeof(*k));
    k->pid = -1;
    if (access(KAPI_SERVER, R_OK) < 0) {
        snprintf(k->why, sizeof(k->why), "%s is missing", KAPI_SERVER);
        return false;
    }
    if (system("command -v python3 >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1")) {
        snprintf(k->why, sizeof(k->why), "the API server test double needs python3 and "
                 "openssl");
        return false;
    }
    snprintf(k->dir, sizeof(k->dir), "/tmp/tby-%s-XXXXXX", name);
    assert_non_null(mkdtemp(k->dir));
    snprintf(api, sizeof(api), "%s/api", k->dir);
    snprintf(log, sizeof(log), "%s/api.log", k->dir);
    snprintf(err_log, sizeof(err_log), "%s/api.err", k->dir);
    snprintf(tokens, sizeof(tokens), "%s/tokens", k->dir);
    snprintf(port, sizeof(port), "%s/port", api);
    kapi_write_file(tokens, KAPI_TOKEN "," KAPI_USER ",uid-" KAPI_USER "\n");
    for (const char *fixed[] = { "python3", KAPI_SERVER, "--dir", api, "--log", log,
                                 "--token-file", tokens, NULL },
                    **a = fixed;
         *a; a++)
        argv[n++] = *a;
    for (; args && *args && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    fflush(NULL);
    k->pid = fork();
    assert_true(k->pid >= 0);
    if (k->pid == 0) {
        FILE *e = freopen(err_log, "w", stderr);
        sigset_t none;

        /* the server stops on SIGTERM, which a tabby-node core started before blocks */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (e && dup2(fileno(e), STDOUT_FILENO) >= 0)
            execvp("python3", (char *const *)argv);
        _exit(127);
    }
    for (until = kapi_now_ms() + KAPI_START_MS; stat(port, &sb) < 0 || sb.st_size == 0;) {
        _cleanup_free_ char *why = NULL;
        size_t len;

        if (kapi_now_ms() > until || waitpid(k->pid, NULL, WNOHANG) == k->pid) {
            tby_read_file(err_log, 0, &why, &len);
            fail_msg("the API server test double did not start: %s", why ? why : "");
        }
        usleep(50 * 1000);
    }
    snprintf(k->admin_uri, sizeof(k->admin_uri), "k8s:%s/kubeconfig", api);
    if (tby_kube_config_from_file(k->admin_uri + 4, NULL, &k->cfg, &err) < 0 ||
        tby_kube_client_new(k->cfg, &k->client, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    kapi_user_kubeconfig(k);
    kapi_apply_crds(k);
    return true;
}

static inline void kapi_stop(struct kapi *k)
{
    char cmd[96];

    tby_kube_client_free(k->client);
    tby_kube_config_free(k->cfg);
    k->client = NULL;
    k->cfg = NULL;
    if (k->pid > 0) {
        kill(k->pid, SIGTERM);
        waitpid(k->pid, NULL, 0);
    }
    k->pid = -1;
    if (k->dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->dir);
        assert_int_equal(system(cmd), 0);
    }
}

#endif
