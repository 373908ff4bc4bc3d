/* kube_token.c — ServiceAccount tokens from the API (TokenRequest), for what tabby hands
 * to others: the CNI plugins' kubeconfig, which tabby-node keeps fresh as calico-node
 * does. And the API's timestamps, which say when such a token expires. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tabby/cleanup.h"
#include "tabby/kube.h"

void tby_kube_token_clear(struct tby_kube_token *t)
{
    if (t->token) {
        explicit_bzero(t->token, strlen(t->token));
        free(t->token);
    }
    memset(t, 0, sizeof(*t));
}

int tby_kube_request_token(struct tby_kube_client *c, const char *ns, const char *name,
                           long seconds, struct tby_kube_token *out, struct tby_error *err)
{
    _cleanup_json_ json_t *body = NULL, *answer = NULL;
    const json_t *status;
    const char *token, *expires;
    int r;

    memset(out, 0, sizeof(*out));
    /* No audiences: the API's own, which is what a client of the API needs. */
    body = json_pack("{s:s, s:s, s:{s:[], s:I}}", "apiVersion", "authentication.k8s.io/v1",
                     "kind", "TokenRequest", "spec", "audiences", "expirationSeconds",
                     (json_int_t)seconds);
    if (!body)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = tby_kube_create_subresource(c, &tby_kube_serviceaccounts, ns, name, "token", body,
                                    &answer, err);
    if (r < 0)
        return r;
    status = json_object_get(answer, "status");
    token = json_string_value(json_object_get(status, "token"));
    expires = json_string_value(json_object_get(status, "expirationTimestamp"));
    if (!token || !*token || !expires || tby_kube_time_parse(expires, &out->expires) < 0)
        return tby_error_set(err, -EIO, "serviceaccounts %s/%s: the TokenRequest's answer has "
                             "no status.token or no valid status.expirationTimestamp", ns,
                             name);
    out->token = strdup(token);
    if (!out->token)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

int tby_kube_time_parse(const char *text, int64_t *seconds)
{
    struct tm tm = { 0 };
    const char *p = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    int sign, hours, minutes, n = 0;

    if (!p)
        return -EINVAL;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    *seconds = (int64_t)timegm(&tm);
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return 0;
    if ((*p != '+' && *p != '-') || sscanf(p + 1, "%2d:%2d%n", &hours, &minutes, &n) != 2 ||
        p[1 + n] != '\0')
        return -EINVAL;
    sign = *p == '-' ? -1 : 1;
    *seconds -= sign * (hours * 3600 + minutes * 60);
    return 0;
}
