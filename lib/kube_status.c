/* kube_status.c — the Kubernetes API's failures (HTTP status + a Status object) as
 * tabby errors: an errno the caller can act on, and a message naming the object with
 * the server's own words. */
#include <errno.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/kube.h"

int tby_kube_status_errno(long http_status, const char *reason)
{
    switch (http_status) {
    case 400:
    case 415:
    case 422:
        return -EINVAL;
    case 401:
    case 403:
        return -EACCES;
    case 404:
        return -ENOENT;
    case 405:
        return -EOPNOTSUPP;
    case 409:
        return reason && strcmp(reason, "AlreadyExists") == 0 ? -EEXIST : -ECANCELED;
    case 410:
        return -ESTALE;
    case 413:
        return -EFBIG;
    case 429:
        return -EAGAIN;
    default:
        return http_status >= 500 && http_status <= 599 ? -EAGAIN : -EIO;
    }
}

/* Reasons for the codes a Status may lack one for. */
static const char *reason_phrase(long code)
{
    switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 502: return "BadGateway";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "";
    }
}

int tby_kube_status_error(struct tby_error *err, const char *what, long http_status,
                          const char *body, size_t len)
{
    _cleanup_json_ json_t *status = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *kind = json_string_value(json_object_get(status, "kind"));
    const char *reason = NULL;
    const char *message = NULL;
    long code = http_status;

    if (kind && strcmp(kind, "Status") == 0) {
        json_int_t c = json_integer_value(json_object_get(status, "code"));

        reason = json_string_value(json_object_get(status, "reason"));
        message = json_string_value(json_object_get(status, "message"));
        if (c >= 100 && c <= 599)
            code = (long)c;
    }
    if (!reason || !*reason)
        reason = reason_phrase(code);
    int r = tby_kube_status_errno(code, reason);

    if (message && *message)
        return tby_error_set(err, r, "%s: %ld%s%s: %s", what, code, *reason ? " " : "", reason,
                             message);
    return tby_error_set(err, r, "%s: %ld%s%s", what, code, *reason ? " " : "", reason);
}

bool tby_kube_status_is_expired(const json_t *status)
{
    const char *reason = json_string_value(json_object_get(status, "reason"));

    if (json_integer_value(json_object_get(status, "code")) == 410)
        return true;
    return reason && (strcmp(reason, "Expired") == 0 || strcmp(reason, "Gone") == 0);
}
