/* kube_check.c — tabby's Kubernetes client against a running API server (the test double
 * tests/k8s/apiserver.py; tests/integration/kube_client.sh starts it): one case per run,
 *   kube_check KUBECONFIG CASE
 * silent and exit 0 when the case holds, else the reason on stderr and exit 1. Faults
 * are injected through the server's /_test/ API (the kubeconfig's admin token), sent by
 * the client's own request function. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tabby/cleanup.h"
#include "tabby/kube.h"
#include "tabby/kube_config.h"
#include "tabby/kube_informer.h"
#include "kube_client.h"

#define WAIT_MS 30000

static const struct tby_kube_resource configmaps = {
    "", "v1", "configmaps", "ConfigMap", true, false,
};

static struct tby_kube_config *cfg;
static struct tby_kube_client *kc;
static const char *failed_case;
static char dir[512]; /* the kubeconfig's: the server's files */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", failed_case);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* Every message a case sees is checked for the token. */
static void no_secret(const struct tby_error *err)
{
    if (cfg->token && strstr(err->msg, cfg->token))
        die("a message shows the token: %s", err->msg);
}

static void ok(int r, const struct tby_error *err, const char *what)
{
    no_secret(err);
    if (r < 0)
        die("%s: %s (%d)", what, err->msg, r);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A request to the server's test control API. */
static json_t *control(const char *method, const char *path, const char *body)
{
    _cleanup_json_ json_t *req = body ? json_loads(body, 0, NULL) : NULL;
    struct tby_error err = { 0 };
    json_t *answer = NULL;

    if (body && !req)
        die("bad control body %s", body);
    ok(kube_call(kc, method, path, NULL, req, path, &answer, &err), &err, path);
    return answer;
}

static void control_do(const char *method, const char *path, const char *body)
{
    json_decref(control(method, path, body));
}

static void make_namespace(const char *name)
{
    _cleanup_json_ json_t *ns = json_pack("{s:{s:s}}", "metadata", "name", name);
    struct tby_error err = { 0 };

    ok(tby_kube_create(kc, &tby_kube_namespaces, NULL, ns, NULL, &err), &err, name);
}

static json_t *make_cm(const char *ns, const char *name, const char *label)
{
    _cleanup_json_ json_t *cm = json_pack("{s:{s:s, s:{s:s}}, s:{s:s}}", "metadata", "name", name,
                                          "labels", "half", label, "data", "k", "v");
    struct tby_error err = { 0 };
    json_t *out = NULL;

    ok(tby_kube_create(kc, &configmaps, ns, cm, &out, &err), &err, name);
    return out;
}

static const char *meta(const json_t *obj, const char *field)
{
    const char *v = json_string_value(json_object_get(json_object_get(obj, "metadata"), field));

    return v ? v : "";
}

/* ---- informers -------------------------------------------------------------------------- */

struct watcher {
    struct tby_kube_informer *inf;
    struct tby_kube_changes got;
    size_t seen; /* changes already matched */
};

static void watcher_start(struct watcher *w, const char *ns, bool also_namespaces)
{
    struct tby_kube_watch_options opts = { .ns = ns, .page_size = 2, .timeout_s = 60 };
    struct tby_error err = { 0 };

    memset(w, 0, sizeof(*w));
    ok(tby_kube_informer_new(cfg, &w->inf, &err), &err, "informer");
    ok(tby_kube_informer_add(w->inf, &configmaps, &opts, &err), &err, "add");
    if (also_namespaces)
        ok(tby_kube_informer_add(w->inf, &tby_kube_namespaces, NULL, &err), &err, "add");
    ok(tby_kube_informer_start(w->inf, &err), &err, "start");
}

static void watcher_stop(struct watcher *w)
{
    tby_kube_informer_free(w->inf);
    tby_kube_changes_clear(&w->got);
}

static const char *type_name(enum tby_kube_change_type t)
{
    static const char *const names[] = { "ADDED", "MODIFIED", "DELETED", "SYNCED", "ONLINE",
                                         "OFFLINE", "RELISTED" };

    return names[t];
}

static void pump(struct watcher *w, int timeout_ms)
{
    struct pollfd pfd = { .fd = tby_kube_informer_fd(w->inf), .events = POLLIN };
    struct tby_error err = { 0 };

    poll(&pfd, 1, timeout_ms);
    ok(tby_kube_informer_next(w->inf, &w->got, &err), &err, "next");
}

/* Waits for the next change of reflector 0 (past w->seen) of type `type` (and object
 * name, when given); returns it. Changes of other kinds in between are allowed only if
 * `strict` is false, else ADDED/MODIFIED/DELETED ones in between fail the case. */
static struct tby_kube_change *expect(struct watcher *w, enum tby_kube_change_type type,
                                      const char *name, bool strict)
{
    int64_t end = now_ms() + WAIT_MS;

    for (;;) {
        for (; w->seen < w->got.n; w->seen++) {
            struct tby_kube_change *c = &w->got.items[w->seen];
            bool object_change = c->type <= TBY_KUBE_DELETED;

            if (c->reflector != 0)
                continue;
            if (c->type == type && (!name || strcmp(meta(c->object, "name"), name) == 0)) {
                w->seen++;
                return c;
            }
            if (strict && object_change)
                die("waiting for %s %s, got %s %s", type_name(type), name ? name : "",
                    type_name(c->type), meta(c->object, "name"));
        }
        if (now_ms() > end)
            die("no %s %s within %d ms", type_name(type), name ? name : "", WAIT_MS);
        pump(w, 200);
    }
}

/* ---- the cases -------------------------------------------------------------------------- */

static void case_tls_token(void)
{
    _cleanup_json_ json_t *ns = NULL;
    json_t *none = NULL;
    struct tby_kube_config wrong = *cfg;
    struct tby_kube_client *other = NULL;
    struct tby_error err = { 0 };
    int r;

    ok(tby_kube_get(kc, &tby_kube_namespaces, NULL, "default", &ns, &err), &err, "get");
    if (strcmp(meta(ns, "name"), "default") != 0 ||
        strcmp(json_string_value(json_object_get(ns, "kind")), "Namespace") != 0)
        die("odd namespace answer");
    /* A wrong token: 401, named, not shown. */
    wrong.token = "wrong-token-0123456789";
    ok(tby_kube_client_new(&wrong, &other, &err), &err, "client");
    r = tby_kube_get(other, &tby_kube_namespaces, NULL, "default", &none, &err);
    tby_kube_client_free(other);
    if (r != -EACCES || !strstr(err.msg, "namespaces default: 401") ||
        strstr(err.msg, wrong.token))
        die("a wrong token gave %d: %s", r, err.msg);
    /* No CA: the server's certificate is not trusted. */
    wrong = *cfg;
    wrong.ca_data = (struct tby_kube_blob){ 0 };
    ok(tby_kube_client_new(&wrong, &other, &err), &err, "client");
    r = tby_kube_get(other, &tby_kube_namespaces, NULL, "default", &none, &err);
    tby_kube_client_free(other);
    no_secret(&err);
    if (r == 0 || !strstr(err.msg, "certificate"))
        die("without its CA the server was trusted (%d): %s", r, err.msg);
}

/* A client certificate instead of a token (files beside the kubeconfig). */
static void case_client_cert(void)
{
    struct tby_kube_config c = *cfg;
    struct tby_kube_client *other = NULL;
    struct tby_error err = { 0 };
    json_t *ns = NULL;
    char crt[600], key[600];
    int r;

    snprintf(crt, sizeof(crt), "%s/admin.crt", dir);
    snprintf(key, sizeof(key), "%s/admin.key", dir);
    c.token = NULL;
    c.cert_file = crt;
    c.key_file = key;
    ok(tby_kube_client_new(&c, &other, &err), &err, "client");
    r = tby_kube_get(other, &tby_kube_namespaces, NULL, "default", &ns, &err);
    tby_kube_client_free(other);
    json_decref(ns);
    ok(r, &err, "get with a client certificate");
}

static json_t *count_of(const char *key)
{
    _cleanup_json_ json_t *counts = control("GET", "/_test/counts", NULL);

    return json_incref(json_object_get(json_object_get(counts, "by"), key));
}

static void case_paging(void)
{
    struct tby_kube_list_options opts = { .limit = 5 };
    struct tby_kube_list list = { 0 };
    struct tby_error err = { 0 };
    json_t *n;
    char name[32];

    make_namespace("kt-page");
    for (int i = 0; i < 23; i++) {
        snprintf(name, sizeof(name), "cm-%02d", i);
        json_decref(make_cm("kt-page", name, i % 2 ? "yes" : "no"));
    }
    control_do("DELETE", "/_test/requests", NULL);
    ok(tby_kube_list(kc, &configmaps, "kt-page", &opts, &list, &err), &err, "list");
    if (json_array_size(list.items) != 23 || !list.resource_version)
        die("listed %zu of 23", json_array_size(list.items));
    for (int i = 0; i < 23; i++) {
        json_t *item = json_array_get(list.items, (size_t)i);

        snprintf(name, sizeof(name), "cm-%02d", i);
        if (strcmp(meta(item, "name"), name) != 0 ||
            strcmp(json_string_value(json_object_get(item, "kind")), "ConfigMap") != 0)
            die("item %d is %s", i, meta(item, "name"));
    }
    tby_kube_list_clear(&list);
    n = count_of("list configmaps");
    if (json_integer_value(n) != 5)
        die("23 objects in pages of 5 took %" JSON_INTEGER_FORMAT " lists", json_integer_value(n));
    json_decref(n);
    /* Selectors, encoded. */
    opts.label_selector = "half in (yes),half!=maybe";
    ok(tby_kube_list(kc, &configmaps, "kt-page", &opts, &list, &err), &err, "list");
    if (json_array_size(list.items) != 11)
        die("label selector: %zu of 11", json_array_size(list.items));
    tby_kube_list_clear(&list);
    opts.label_selector = NULL;
    opts.field_selector = "metadata.name=cm-07";
    ok(tby_kube_list(kc, &configmaps, "kt-page", &opts, &list, &err), &err, "list");
    if (json_array_size(list.items) != 1 || strcmp(meta(json_array_get(list.items, 0), "name"),
                                                   "cm-07") != 0)
        die("field selector: %zu items", json_array_size(list.items));
    tby_kube_list_clear(&list);
}

static void case_continue_expired(void)
{
    struct tby_kube_list_options opts = { .limit = 5 };
    struct tby_kube_list list = { 0 };
    struct tby_error err = { 0 };
    json_t *n;

    control_do("DELETE", "/_test/requests", NULL);
    control_do("POST", "/_test/faults",
               "{\"verb\":\"list\",\"path\":\"configmaps\",\"query\":\"continue\","
               "\"status\":410,\"times\":1}");
    ok(tby_kube_list(kc, &configmaps, "kt-page", &opts, &list, &err), &err, "list");
    control_do("DELETE", "/_test/faults", NULL);
    if (json_array_size(list.items) != 23)
        die("listed %zu of 23 after an expired continue token", json_array_size(list.items));
    tby_kube_list_clear(&list);
    n = count_of("list configmaps");
    if (json_integer_value(n) != 7) /* page 1, page 2 refused, then 5 pages */
        die("took %" JSON_INTEGER_FORMAT " lists, not 7", json_integer_value(n));
    json_decref(n);
}

/* The rv a watch on configmaps in `ns` was opened with; 0 when none is open. */
static long open_watch_rv(const char *ns)
{
    _cleanup_json_ json_t *ws = control("GET", "/_test/watches", NULL);
    const json_t *w;
    size_t i;
    long best = 0;

    json_array_foreach(json_object_get(ws, "watches"), i, w) {
        const char *path = json_string_value(json_object_get(w, "path"));
        const char *query = json_string_value(json_object_get(w, "query"));
        const char *rv = query ? strstr(query, "resourceVersion=") : NULL;

        if (path && strstr(path, ns) && strstr(path, "configmaps") && rv) {
            long v = strtol(rv + strlen("resourceVersion="), NULL, 10);

            best = v > best ? v : best;
        }
    }
    return best;
}

static void wait_watch_open(struct watcher *w, const char *ns)
{
    int64_t end = now_ms() + WAIT_MS;

    while (open_watch_rv(ns) == 0 && now_ms() < end)
        pump(w, 100);
    if (open_watch_rv(ns) == 0)
        die("no watch opened in %s", ns);
}

static void case_watch_bookmark(void)
{
    _cleanup_json_ json_t *bump = NULL;
    struct watcher w;
    struct tby_error err = { 0 };
    struct tby_kube_change *c;
    json_t *cm, *patch;
    long bump_rv;
    int64_t end;

    make_namespace("kt-watch");
    json_decref(make_cm("kt-watch", "pre", "no"));
    watcher_start(&w, "kt-watch", true);
    expect(&w, TBY_KUBE_ADDED, "pre", true);
    expect(&w, TBY_KUBE_SYNCED, NULL, true);
    end = now_ms() + WAIT_MS;
    while (!tby_kube_informer_synced(w.inf) && now_ms() < end)
        pump(&w, 100);
    if (!tby_kube_informer_synced(w.inf))
        die("not synced");

    cm = make_cm("kt-watch", "w1", "no");
    json_decref(cm);
    c = expect(&w, TBY_KUBE_ADDED, "w1", true);
    if (strcmp(json_string_value(json_object_get(c->object, "kind")), "ConfigMap") != 0)
        die("an event's object without kind");
    patch = json_pack("{s:{s:s}}", "data", "k", "changed");
    ok(tby_kube_patch(kc, &configmaps, "kt-watch", "w1", TBY_KUBE_PATCH_MERGE, patch, NULL,
                      NULL, &err), &err, "patch");
    json_decref(patch);
    c = expect(&w, TBY_KUBE_MODIFIED, "w1", true);
    if (strcmp(json_string_value(json_object_get(json_object_get(c->object, "data"), "k")),
               "changed") != 0)
        die("MODIFIED without the change");
    ok(tby_kube_delete(kc, &configmaps, "kt-watch", "w1", NULL, &err), &err, "delete");
    c = expect(&w, TBY_KUBE_DELETED, "w1", true);
    if (c->final_state_unknown)
        die("a watched delete marked as unknown");

    /* Another type moves the revision on; a BOOKMARK tells the watch. */
    make_namespace("kt-bump");
    ok(tby_kube_get(kc, &tby_kube_namespaces, NULL, "kt-bump", &bump, &err), &err, "get");
    bump_rv = strtol(meta(bump, "resourceVersion"), NULL, 10);
    /* Bookmarks come every second; two make sure one passed the bump. */
    end = now_ms() + 2500;
    while (now_ms() < end)
        pump(&w, 100);
    control_do("POST", "/_test/watches/drop", "{\"path\":\"kt-watch/configmaps\"}");
    end = now_ms() + WAIT_MS;
    while (open_watch_rv("kt-watch") < bump_rv && now_ms() < end)
        pump(&w, 100);
    if (open_watch_rv("kt-watch") < bump_rv)
        die("the watch came back from %ld, before the bookmark's %ld", open_watch_rv("kt-watch"),
            bump_rv);
    /* And nothing was delivered twice. */
    cm = make_cm("kt-watch", "w2", "no");
    json_decref(cm);
    expect(&w, TBY_KUBE_ADDED, "w2", true);
    watcher_stop(&w);
}

static void case_relist_diff(void)
{
    struct watcher w;
    struct tby_error err = { 0 };
    struct tby_kube_change *c;
    json_t *patch;

    make_namespace("kt-relist");
    json_decref(make_cm("kt-relist", "a", "no"));
    json_decref(make_cm("kt-relist", "b", "no"));
    watcher_start(&w, "kt-relist", false);
    expect(&w, TBY_KUBE_ADDED, "a", true);
    expect(&w, TBY_KUBE_ADDED, "b", true);
    expect(&w, TBY_KUBE_SYNCED, NULL, true);

    /* The watch goes and cannot come back while things change, and history is lost. */
    control_do("POST", "/_test/faults",
               "{\"verb\":\"watch\",\"path\":\"kt-relist\",\"status\":503,\"times\":0}");
    control_do("POST", "/_test/watches/drop", "{\"path\":\"kt-relist/configmaps\"}");
    expect(&w, TBY_KUBE_OFFLINE, NULL, true);
    json_decref(make_cm("kt-relist", "c", "no"));
    patch = json_pack("{s:{s:s}}", "data", "k", "a2");
    ok(tby_kube_patch(kc, &configmaps, "kt-relist", "a", TBY_KUBE_PATCH_STRATEGIC, patch, NULL,
                      NULL, &err), &err, "patch");
    json_decref(patch);
    ok(tby_kube_delete(kc, &configmaps, "kt-relist", "b", NULL, &err), &err, "delete");
    control_do("POST", "/_test/compact", "{}");
    control_do("DELETE", "/_test/faults", NULL);

    /* 410 → list again → exactly the difference, in list order, then deletions. */
    c = expect(&w, TBY_KUBE_MODIFIED, "a", true);
    if (strcmp(json_string_value(json_object_get(json_object_get(c->object, "data"), "k")),
               "a2") != 0)
        die("the relist's MODIFIED lacks the change");
    expect(&w, TBY_KUBE_ADDED, "c", true);
    c = expect(&w, TBY_KUBE_DELETED, "b", true);
    if (!c->final_state_unknown || strcmp(meta(c->object, "namespace"), "kt-relist") != 0)
        die("a relist's DELETED should be a stub with the namespace");
    json_decref(make_cm("kt-relist", "d", "no"));
    expect(&w, TBY_KUBE_ADDED, "d", true);
    watcher_stop(&w);
}

static void case_reconnect(void)
{
    struct watcher w;

    make_namespace("kt-drop");
    watcher_start(&w, "kt-drop", false);
    expect(&w, TBY_KUBE_SYNCED, NULL, true);
    wait_watch_open(&w, "kt-drop");
    control_do("POST", "/_test/watches/drop", "{\"path\":\"kt-drop/configmaps\",\"reset\":true}");
    expect(&w, TBY_KUBE_OFFLINE, NULL, true);
    json_decref(make_cm("kt-drop", "after", "no"));
    expect(&w, TBY_KUBE_ONLINE, NULL, true);
    expect(&w, TBY_KUBE_ADDED, "after", true);
    json_decref(make_cm("kt-drop", "later", "no"));
    expect(&w, TBY_KUBE_ADDED, "later", true);
    watcher_stop(&w);
}

static void case_retry_after(void)
{
    _cleanup_json_ json_t *cm = NULL;
    json_t *none = NULL;
    struct tby_error err = { 0 };
    int64_t start;
    int r;

    make_namespace("kt-429");
    json_decref(make_cm("kt-429", "x", "no"));
    control_do("POST", "/_test/faults",
               "{\"verb\":\"get\",\"path\":\"kt-429\",\"status\":429,\"retryAfter\":1,"
               "\"times\":2}");
    start = now_ms();
    ok(tby_kube_get(kc, &configmaps, "kt-429", "x", &cm, &err), &err, "get");
    if (now_ms() - start < 1900)
        die("two 429s with Retry-After: 1 took only %" PRId64 " ms", now_ms() - start);
    control_do("POST", "/_test/faults",
               "{\"verb\":\"get\",\"path\":\"kt-429\",\"status\":429,\"retryAfter\":1,"
               "\"times\":0}");
    tby_kube_client_set_retries(kc, 1, 10000);
    r = tby_kube_get(kc, &configmaps, "kt-429", "x", &none, &err);
    tby_kube_client_set_retries(kc, 5, 10000);
    control_do("DELETE", "/_test/faults", NULL);
    no_secret(&err);
    if (r != -EAGAIN || !strstr(err.msg, "configmaps kt-429/x: 429 TooManyRequests"))
        die("a lasting 429 gave %d: %s", r, err.msg);
}

struct mutate_ctx {
    int calls;
};

static int add_label(json_t *obj, void *ctx, struct tby_error *err)
{
    struct mutate_ctx *m = ctx;
    json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");

    (void)err;
    if (++m->calls == 1) {
        /* Someone else writes between our read and our write. */
        json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "other", "yes");
        struct tby_error e = { 0 };

        ok(tby_kube_patch(kc, &configmaps, "kt-rmw", "x", TBY_KUBE_PATCH_MERGE, patch, NULL,
                          NULL, &e), &e, "concurrent patch");
        json_decref(patch);
    }
    return json_object_set_new(labels, "mine", json_string("yes"));
}

static void case_conflict_retry(void)
{
    _cleanup_json_ json_t *out = NULL;
    _cleanup_json_ json_t *copy = NULL;
    struct mutate_ctx m = { 0 };
    struct tby_error err = { 0 };
    const json_t *labels;
    json_t *stale;
    int r;

    make_namespace("kt-rmw");
    stale = make_cm("kt-rmw", "x", "no");
    ok(tby_kube_modify(kc, &configmaps, "kt-rmw", "x", add_label, &m, 0, &out, &err), &err,
       "modify");
    labels = json_object_get(json_object_get(out, "metadata"), "labels");
    if (m.calls != 2 || !json_object_get(labels, "other") || !json_object_get(labels, "mine"))
        die("read-modify-write: %d calls, labels other=%d mine=%d", m.calls,
            json_object_get(labels, "other") != NULL, json_object_get(labels, "mine") != NULL);
    /* An update from a stale read is refused as a conflict, naming the object. */
    r = tby_kube_update(kc, &configmaps, NULL, stale, NULL, &err);
    json_decref(stale);
    if (r != -ECANCELED || !strstr(err.msg, "configmaps kt-rmw/x: 409 Conflict: "))
        die("a stale update gave %d: %s", r, err.msg);
    /* Creating it again: exists. */
    copy = json_pack("{s:{s:s}}", "metadata", "name", "x");
    r = tby_kube_create(kc, &configmaps, "kt-rmw", copy, NULL, &err);
    if (r != -EEXIST || !strstr(err.msg, "configmaps kt-rmw/x: 409 AlreadyExists"))
        die("a second create gave %d: %s", r, err.msg);
}

static void case_delete_precondition(void)
{
    _cleanup_json_ json_t *cm = NULL;
    struct tby_kube_preconditions wrong = { .uid = "00000000-0000-0000-0000-000000000000" };
    struct tby_kube_preconditions right = { 0 };
    struct tby_error err = { 0 };
    int r;

    make_namespace("kt-del");
    cm = make_cm("kt-del", "x", "no");
    r = tby_kube_delete(kc, &configmaps, "kt-del", "x", &wrong, &err);
    if (r != -ECANCELED || !strstr(err.msg, "configmaps kt-del/x: 409 Conflict: ") ||
        !strstr(err.msg, "Precondition failed"))
        die("a wrong uid gave %d: %s", r, err.msg);
    wrong = (struct tby_kube_preconditions){ .resource_version = "1" };
    r = tby_kube_delete(kc, &configmaps, "kt-del", "x", &wrong, &err);
    if (r != -ECANCELED)
        die("a wrong resourceVersion gave %d: %s", r, err.msg);
    right.uid = meta(cm, "uid");
    right.resource_version = meta(cm, "resourceVersion");
    ok(tby_kube_delete(kc, &configmaps, "kt-del", "x", &right, &err), &err, "delete");
    r = tby_kube_delete(kc, &configmaps, "kt-del", "x", &right, &err);
    if (r != -ENOENT || !strstr(err.msg, "configmaps kt-del/x: 404 NotFound"))
        die("deleting again gave %d: %s", r, err.msg);
}

/* Pods: status through its subresource (a PUT there changes only status, a PUT of the
 * object leaves status alone), annotations by JSON patch and strategic merge. */
static void case_status_subresource(void)
{
    _cleanup_json_ json_t *pod = json_pack("{s:{s:s}, s:{s:[{s:s, s:s}]}}", "metadata", "name",
                                           "web", "spec", "containers", "name", "c", "image",
                                           "busybox");
    _cleanup_json_ json_t *made = NULL, *after = NULL, *got = NULL;
    _cleanup_json_ json_t *ops = json_loads("[{\"op\":\"add\",\"path\":\"/metadata/annotations\","
                                            "\"value\":{\"tabby.io/ip\":\"10.0.0.5\"}}]", 0, NULL);
    _cleanup_json_ json_t *bad = json_pack("{s:s}", "x", "y");
    struct tby_error err = { 0 };
    const char *ip;
    int r;

    make_namespace("kt-pod");
    ok(tby_kube_create(kc, &tby_kube_pods, "kt-pod", pod, &made, &err), &err, "create pod");
    json_object_set_new(json_object_get(made, "status"), "phase", json_string("Running"));
    json_object_set_new(json_object_get(made, "spec"), "hostname", json_string("ignored"));
    ok(tby_kube_update_status(kc, &tby_kube_pods, NULL, made, &after, &err), &err, "status");
    if (strcmp(json_string_value(json_object_get(json_object_get(after, "status"), "phase")),
               "Running") != 0 ||
        json_object_get(json_object_get(after, "spec"), "hostname"))
        die("the status subresource changed more or less than status");
    ok(tby_kube_patch(kc, &tby_kube_pods, "kt-pod", "web", TBY_KUBE_PATCH_JSON, ops, NULL,
                      &got, &err), &err, "json patch");
    ip = json_string_value(json_object_get(json_object_get(json_object_get(got, "metadata"),
                                                           "annotations"), "tabby.io/ip"));
    if (!ip || strcmp(ip, "10.0.0.5") != 0)
        die("the JSON patch did not add the annotation");
    r = tby_kube_patch(kc, &tby_kube_pods, "kt-pod", "web", TBY_KUBE_PATCH_JSON, bad, NULL, NULL,
                       &err);
    if (r != -EINVAL)
        die("a JSON patch that is no list gave %d", r);
    r = tby_kube_patch(kc, &tby_kube_pods, "kt-pod", "nope", TBY_KUBE_PATCH_MERGE, bad, NULL,
                       NULL, &err);
    if (r != -ENOENT || !strstr(err.msg, "pods kt-pod/nope: 404 NotFound"))
        die("patching a missing pod gave %d: %s", r, err.msg);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*run)(void);
    } cases[] = {
        { "tls-token", case_tls_token },
        { "client-cert", case_client_cert },
        { "paging", case_paging },
        { "continue-expired", case_continue_expired },
        { "watch-bookmark", case_watch_bookmark },
        { "relist-diff", case_relist_diff },
        { "reconnect", case_reconnect },
        { "retry-after", case_retry_after },
        { "conflict-retry", case_conflict_retry },
        { "delete-precondition", case_delete_precondition },
        { "status-subresource", case_status_subresource },
    };
    struct tby_error err = { 0 };
    char *slash;
    size_t i;

    if (argc != 3) {
        fprintf(stderr, "usage: kube_check KUBECONFIG CASE\n");
        return 2;
    }
    failed_case = argv[2];
    for (i = 0; i < TBY_ARRAY_SIZE(cases) && strcmp(cases[i].name, argv[2]) != 0; i++) {
    }
    if (i == TBY_ARRAY_SIZE(cases))
        die("unknown case");
    ok(tby_kube_config_from_file(argv[1], NULL, &cfg, &err), &err, "kubeconfig");
    ok(tby_kube_client_new(cfg, &kc, &err), &err, "client");
    snprintf(dir, sizeof(dir), "%s", argv[1]);
    slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    cases[i].run();
    tby_kube_client_free(kc);
    tby_kube_config_free(cfg);
    return 0;
}
