/* kube_http.c — the options of one request to the Kubernetes API (URL, method, body,
 * bearer token, TLS from files or memory, timeouts), the token file's rereading, and
 * failures that got no answer, in words. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tabby/buf.h"
#include "transfer_failure.h"
#include "kube_http.h"

/* A broken peer on an idle watch is noticed within about idle + 3 intervals. */
#define KEEPALIVE_IDLE_S 15
#define KEEPALIVE_INTERVAL_S 5
#define MAX_TOKEN_BYTES (64u << 10)

static void wipe_free(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
    free(s);
}

void kube_token_clear(struct kube_token *t)
{
    wipe_free(t->value);
    memset(t, 0, sizeof(*t));
}

static bool same_file(const struct kube_token *t, const struct stat *st)
{
    return t->value && t->dev == st->st_dev && t->ino == st->st_ino &&
           t->mtime.tv_sec == st->st_mtim.tv_sec && t->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           t->size == st->st_size;
}

int kube_token_refresh(struct kube_token *t, const struct tby_kube_config *cfg, bool force,
                       struct tby_error *err)
{
    char *text = NULL;
    size_t len, start = 0;
    struct stat st;
    int r;

    if (!cfg->token_file)
        return 0;
    if (stat(cfg->token_file, &st) < 0)
        return tby_error_set(err, -errno, "%s: token file %s: %s", cfg->source,
                             cfg->token_file, strerror(errno));
    if (!force && same_file(t, &st))
        return 0;
    r = tby_read_file(cfg->token_file, MAX_TOKEN_BYTES, &text, &len);
    if (r < 0)
        return tby_error_set(err, r, "%s: token file %s: %s", cfg->source, cfg->token_file,
                             strerror(-r));
    while (start < len && strchr(" \t\r\n", text[start]))
        start++;
    while (len > start && strchr(" \t\r\n", text[len - 1]))
        len--;
    if (len == start) {
        wipe_free(text);
        return tby_error_set(err, -EACCES, "%s: token file %s is empty", cfg->source,
                             cfg->token_file);
    }
    memmove(text, text + start, len - start);
    explicit_bzero(text + (len - start), start + 1);
    r = !t->value || strcmp(t->value, text) != 0;
    wipe_free(t->value);
    t->value = text;
    t->dev = st.st_dev;
    t->ino = st.st_ino;
    t->mtime = st.st_mtim;
    t->size = st.st_size;
    return r;
}

/* Header lines may hold the token: wiped before they are freed. */
static void free_headers(struct curl_slist *list)
{
    for (struct curl_slist *l = list; l; l = l->next)
        explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(list);
}

static struct curl_slist *add_header(struct curl_slist *list, const struct tby_buf *line)
{
    struct curl_slist *grown = NULL;

    if (list && tby_buf_error(line) == 0)
        grown = curl_slist_append(list, line->data);
    if (!grown)
        free_headers(list);
    return grown;
}

static struct curl_slist *headers_for(const struct kube_request *req, const char *token)
{
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    struct tby_buf line = { 0 };

    /* "Expect:" stops curl from waiting for a 100-continue on larger bodies. */
    tby_buf_printf(&line, "Expect:");
    h = add_header(h, &line);
    tby_buf_reset(&line);
    tby_buf_printf(&line, "User-Agent: tabby/%s", PACKAGE_VERSION);
    h = add_header(h, &line);
    if (req->content_type) {
        tby_buf_reset(&line);
        tby_buf_printf(&line, "Content-Type: %s", req->content_type);
        h = add_header(h, &line);
    }
    if (token) {
        tby_buf_reset(&line);
        tby_buf_printf(&line, "Authorization: Bearer %s", token);
        h = add_header(h, &line);
    }
    if (line.data)
        explicit_bzero(line.data, line.cap);
    tby_buf_clear(&line);
    return h;
}

static void set_blob(CURL *e, CURLoption option, const struct tby_kube_blob *b)
{
    /* The config outlives every transfer made from it: curl need not copy the bytes. */
    struct curl_blob blob = { b->data, b->len, CURL_BLOB_NOCOPY };

    curl_easy_setopt(e, option, &blob);
}

static void set_tls(CURL *e, const struct tby_kube_config *cfg)
{
    if (cfg->ca_data.data)
        set_blob(e, CURLOPT_CAINFO_BLOB, &cfg->ca_data);
    else if (cfg->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
    if (cfg->cert_data.data)
        set_blob(e, CURLOPT_SSLCERT_BLOB, &cfg->cert_data);
    else if (cfg->cert_file)
        curl_easy_setopt(e, CURLOPT_SSLCERT, cfg->cert_file);
    if (cfg->key_data.data)
        set_blob(e, CURLOPT_SSLKEY_BLOB, &cfg->key_data);
    else if (cfg->key_file)
        curl_easy_setopt(e, CURLOPT_SSLKEY, cfg->key_file);
    if (cfg->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

int kube_request_prepare(CURL *e, struct kube_request *req, const struct tby_kube_config *cfg,
                         const struct kube_token *token)
{
    const char *bearer = token && token->value ? token->value : cfg->token;

    free_headers(req->headers);
    req->headers = headers_for(req, bearer);
    if (!req->headers)
        return -ENOMEM;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (strcmp(req->method, "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
    }
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->stream ? req->stream_timeout_ms
                                                        : cfg->timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, (long)KEEPALIVE_IDLE_S);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, (long)KEEPALIVE_INTERVAL_S);
    set_tls(e, cfg);
    req->errbuf[0] = '\0';
    return 0;
}

void kube_request_clear(struct kube_request *req)
{
    free_headers(req->headers);
    req->headers = NULL;
}

int kube_transport_error(CURL *e, CURLcode rc, const struct kube_request *req,
                         const struct tby_kube_config *cfg, const char *what,
                         struct tby_error *err)
{
    char why[CURL_ERROR_SIZE + 64];

    transfer_failure_describe(e, rc, req->errbuf, cfg->connect_timeout_ms,
                          req->stream ? req->stream_timeout_ms : cfg->timeout_ms, why,
                          sizeof(why));
    return tby_error_set(err, transfer_failure_is_local(rc) ? -EINVAL : -EAGAIN, "%s: %s: %s",
                         what, cfg->server, why);
}

long kube_retry_after_ms(CURL *e)
{
    curl_off_t seconds = 0;

    if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &seconds) != CURLE_OK || seconds <= 0)
        return -1;
    return seconds > 3600 ? 3600 * 1000L : (long)seconds * 1000L;
}

bool kube_should_retry(long http_status, long retry_after_ms)
{
    return http_status == 429 || (http_status >= 500 && http_status <= 599 && retry_after_ms >= 0);
}

const char *kube_what(char *buf, size_t size, const struct tby_kube_resource *res,
                      const char *ns, const char *name)
{
    char type[256];
    bool has_ns = res->namespaced && ns && *ns;

    tby_kube_resource_name(res, type, sizeof(type));
    if (name && *name)
        snprintf(buf, size, "%s %s%s%s", type, has_ns ? ns : "", has_ns ? "/" : "", name);
    else if (has_ns)
        snprintf(buf, size, "%s in %s", type, ns);
    else
        snprintf(buf, size, "%s", type);
    return buf;
}
