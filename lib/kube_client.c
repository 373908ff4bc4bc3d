/* kube_client.c — requests to the Kubernetes API from one thread: the request loop
 * (token file reread on change and on 401, Retry-After honoured on 429), GET of one
 * object, and LIST in pages that form one snapshot. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tabby/cleanup.h"
#include "kube_client.h"

#define DEFAULT_RETRIES 5
#define DEFAULT_MAX_WAIT_MS 10000
/* Without Retry-After a 429 waits this long. */
#define DEFAULT_RETRY_AFTER_MS 1000
#define DEFAULT_PAGE 500
/* A snapshot the server forgot between pages is read again this often. */
#define LIST_RESTARTS 3

int tby_kube_client_new(const struct tby_kube_config *cfg, struct tby_kube_client **out,
                        struct tby_error *err)
{
    struct tby_kube_client *c;

    *out = NULL;
    /* Refcounted by libcurl; tby_kube_client_free balances it. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return tby_error_set(err, -EIO, "%s: libcurl failed to initialise", cfg->source);
    c = calloc(1, sizeof(*c));
    if (!c) {
        curl_global_cleanup();
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    c->cfg = cfg;
    c->retries = DEFAULT_RETRIES;
    c->max_wait_ms = DEFAULT_MAX_WAIT_MS;
    c->answer.max = KUBE_MAX_ANSWER_BYTES;
    c->easy = curl_easy_init();
    if (!c->easy) {
        tby_kube_client_free(c);
        return tby_error_set(err, -ENOMEM, "%s: cannot make a curl handle", cfg->source);
    }
    *out = c;
    return 0;
}

void tby_kube_client_free(struct tby_kube_client *c)
{
    if (!c)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    kube_request_clear(&c->req);
    kube_token_clear(&c->token);
    tby_buf_clear(&c->answer);
    free(c);
    curl_global_cleanup();
}

void tby_kube_client_set_retries(struct tby_kube_client *c, int retries, long max_wait_ms)
{
    c->retries = retries < 0 ? 0 : retries;
    c->max_wait_ms = max_wait_ms < 0 ? 0 : max_wait_ms;
}

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
    return tby_buf_add(userdata, data, size * n) == 0 ? size * n : 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* One transfer; *status gets the HTTP status (0 when none came). */
static int perform(struct tby_kube_client *c, const char *method, const char *url,
                   const char *content_type, const char *body, const char *what, long *status,
                   struct tby_error *err)
{
    CURLcode rc;

    *status = 0;
    c->req.method = method;
    c->req.url = url;
    c->req.content_type = body ? (content_type ? content_type : "application/json") : NULL;
    c->req.body = body;
    if (kube_request_prepare(c->easy, &c->req, c->cfg, &c->token) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    tby_buf_reset(&c->answer);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &c->answer);
    rc = curl_easy_perform(c->easy);
    if (rc == CURLE_WRITE_ERROR && tby_buf_error(&c->answer) == -EFBIG)
        return tby_error_set(err, -EFBIG, "%s: the answer is larger than %u bytes", what,
                             KUBE_MAX_ANSWER_BYTES);
    if (rc != CURLE_OK)
        return kube_transport_error(c->easy, rc, &c->req, c->cfg, what, err);
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

static int parse_answer(struct tby_kube_client *c, const char *what, json_t **out,
                        struct tby_error *err)
{
    json_error_t jerr;

    if (!out)
        return 0;
    *out = json_loadb(c->answer.data ? c->answer.data : "", c->answer.len, 0, &jerr);
    if (!*out)
        return tby_error_set(err, -EIO, "%s: the server's answer is not JSON: %s", what,
                             jerr.text);
    return 0;
}

int kube_call(struct tby_kube_client *c, const char *method, const char *path,
              const char *content_type, const json_t *body, const char *what, json_t **out,
              struct tby_error *err)
{
    _cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct tby_buf url = { 0 };
    bool token_reread = false;
    int r = 0;

    if (out)
        *out = NULL;
    tby_buf_printf(&url, "%s%s", c->cfg->server, path);
    if ((body && !text) || tby_buf_error(&url) < 0) {
        tby_buf_clear(&url);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    for (int attempt = 0;; attempt++) {
        long status, wait_ms;

        r = kube_token_refresh(&c->token, c->cfg, false, err);
        if (r >= 0)
            r = perform(c, method, url.data, content_type, text, what, &status, err);
        if (r < 0)
            break;
        if (status >= 200 && status <= 299) {
            r = parse_answer(c, what, out, err);
            break;
        }
        wait_ms = kube_retry_after_ms(c->easy);
        if (kube_should_retry(status, wait_ms) && attempt < c->retries) {
            sleep_ms(wait_ms < 0 ? DEFAULT_RETRY_AFTER_MS
                                 : (wait_ms > c->max_wait_ms ? c->max_wait_ms : wait_ms));
            continue;
        }
        /* The token may have rotated since it was read: read it once more. */
        if (status == 401 && c->cfg->token_file && !token_reread) {
            token_reread = true;
            if (kube_token_refresh(&c->token, c->cfg, true, NULL) == 1)
                continue;
        }
        r = tby_kube_status_error(err, what, status, c->answer.data, c->answer.len);
        break;
    }
    tby_buf_clear(&url);
    return r;
}

/* A namespaced type's single object needs a namespace; a name is always needed. */
static int check_object_args(const struct tby_kube_resource *res, const char *ns,
                             const char *name, const char *what, struct tby_error *err)
{
    if (!name || !*name)
        return tby_error_set(err, -EINVAL, "%s: no name given", what);
    if (res->namespaced && (!ns || !*ns))
        return tby_error_set(err, -EINVAL, "%s: no namespace given", what);
    return 0;
}

int tby_kube_get(struct tby_kube_client *c, const struct tby_kube_resource *res,
                 const char *ns, const char *name, json_t **out, struct tby_error *err)
{
    struct tby_buf path = { 0 };
    char what[512];
    int r;

    *out = NULL;
    kube_what(what, sizeof(what), res, ns, name);
    r = check_object_args(res, ns, name, what, err);
    if (r < 0)
        return r;
    if (tby_kube_path(&path, res, ns, name, NULL) < 0)
        r = tby_error_set(err, -ENOMEM, "out of memory");
    else
        r = kube_call(c, "GET", path.data, NULL, NULL, what, out, err);
    if (r == 0 && kube_fill_type(*out, res) < 0) {
        json_decref(*out);
        *out = NULL;
        r = tby_error_set(err, -EIO, "%s: the server's answer is not an object", what);
    }
    tby_buf_clear(&path);
    return r;
}

/* ---- lists ------------------------------------------------------------------------------ */

int kube_collection_path(struct tby_buf *path, const struct tby_kube_resource *res,
                         const char *ns, const struct tby_kube_list_options *opts)
{
    char limit[32];

    snprintf(limit, sizeof(limit), "%ld", opts->limit > 0 ? opts->limit : DEFAULT_PAGE);
    tby_buf_reset(path);
    tby_kube_path(path, res, ns, NULL, NULL);
    if (opts->limit >= 0)
        tby_kube_query_add(path, "limit", limit);
    if (opts->label_selector && *opts->label_selector)
        tby_kube_query_add(path, "labelSelector", opts->label_selector);
    if (opts->field_selector && *opts->field_selector)
        tby_kube_query_add(path, "fieldSelector", opts->field_selector);
    return tby_buf_error(path);
}

static int page_path(struct tby_buf *path, const struct tby_kube_resource *res, const char *ns,
                     const struct tby_kube_list_options *opts, const char *cont)
{
    kube_collection_path(path, res, ns, opts);
    if (cont)
        tby_kube_query_add(path, "continue", cont);
    return tby_buf_error(path);
}

/* One pass over the pages; -ESTALE when the server forgot the snapshot midway. */
static int list_pages(struct tby_kube_client *c, const struct tby_kube_resource *res,
                      const char *ns, const struct tby_kube_list_options *opts, const char *what,
                      struct tby_kube_list *out, struct tby_error *err)
{
    _cleanup_free_ char *cont = NULL;
    struct tby_buf path = { 0 };
    int r = 0;

    do {
        _cleanup_json_ json_t *page = NULL;
        char *next = NULL;

        if (page_path(&path, res, ns, opts, cont) < 0) {
            r = tby_error_set(err, -ENOMEM, "out of memory");
            break;
        }
        r = kube_call(c, "GET", path.data, NULL, NULL, what, &page, err);
        if (r < 0)
            break;
        free(out->resource_version);
        r = kube_list_take(page, out->items, &out->resource_version, &next, err);
        if (r < 0) {
            tby_error_prefix(err, "%s", what);
            break;
        }
        free(cont);
        cont = next;
    } while (cont);
    tby_buf_clear(&path);
    return r;
}

int tby_kube_list(struct tby_kube_client *c, const struct tby_kube_resource *res,
                  const char *ns, const struct tby_kube_list_options *opts,
                  struct tby_kube_list *out, struct tby_error *err)
{
    static const struct tby_kube_list_options none;
    char what[512];
    int r = -ESTALE;

    memset(out, 0, sizeof(*out));
    kube_what(what, sizeof(what), res, ns, NULL);
    if (!opts)
        opts = &none;
    for (int pass = 0; pass <= LIST_RESTARTS && r == -ESTALE; pass++) {
        tby_kube_list_clear(out);
        out->items = json_array();
        if (!out->items)
            return tby_error_set(err, -ENOMEM, "out of memory");
        r = list_pages(c, res, ns, opts, what, out, err);
    }
    if (r == 0 && !out->resource_version)
        r = tby_error_set(err, -EIO, "%s: the list has no resourceVersion", what);
    for (size_t i = 0; r == 0 && i < json_array_size(out->items); i++) {
        if (kube_fill_type(json_array_get(out->items, i), res) < 0)
            r = tby_error_set(err, -ENOMEM, "out of memory");
    }
    if (r < 0)
        tby_kube_list_clear(out);
    return r;
}
