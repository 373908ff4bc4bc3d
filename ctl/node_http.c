/* node_http.c — asking tabby-node's HTTP port for a JSON document (/status for node
 * diagnose, /flows for flows), once, with a deadline: a tabby-node that is stopped or stuck
 * must not hold the command up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "ctl.h"

#define ANSWER_MAX (4 * 1024 * 1024)

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
    return tby_buf_add(ctx, data, size * n) == 0 ? size * n : 0;
}

json_t *ctl_node_get(const char *health, const char *path, int timeout_ms, char *error,
                     size_t size)
{
    _cleanup_buf_ struct tby_buf body = { .max = ANSWER_MAX };
    json_error_t jerr;
    json_t *doc;
    char url[600];
    long code = 0;
    CURLcode rc;
    CURL *curl;

    snprintf(url, sizeof(url), "http://%s%s", health, path);
    if (!(curl = curl_easy_init())) {
        snprintf(error, size, "out of memory");
        return NULL;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        snprintf(error, size, "%s: %s", url,
                 rc == CURLE_OPERATION_TIMEDOUT ? "no answer in time (stopped or stuck?)"
                                                : curl_easy_strerror(rc));
        return NULL;
    }
    if (code != 200) {
        snprintf(error, size, "%s answered %ld (a tabby-node without %s?)", url, code, path);
        return NULL;
    }
    doc = json_loadb(body.data ? body.data : "", body.len, 0, &jerr);
    if (!json_is_object(doc)) {
        snprintf(error, size, "%s: not JSON: %s", url, jerr.text);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

int ctl_timeout_ms(const char *arg, int *ms)
{
    char *end;
    double s = strtod(arg, &end);

    if (end == arg || *end || s <= 0 || s > 600)
        return -1;
    *ms = (int)(s * 1000);
    return 0;
}

void ctl_node_health(const char *flag, char *out, size_t size)
{
    const char *port = getenv("TABBY_HEALTH_PORT");

    if (!flag && port && port[0])
        snprintf(out, size, "127.0.0.1:%s", port);
    else
        snprintf(out, size, "%s", flag ? flag : "127.0.0.1:9099");
}
