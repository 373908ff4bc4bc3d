/* kube_resource.c — the Kubernetes types tabby reads, and the URLs that name them:
 * /api/v1/... for the core group, /apis/<group>/<version>/... for the others, with
 * names and query values percent-encoded. */
#include <stdio.h>
#include <string.h>

#include "tabby/kube.h"

const struct tby_kube_resource tby_kube_pods = { "", "v1", "pods", "Pod", true, true };
const struct tby_kube_resource tby_kube_namespaces = {
    "", "v1", "namespaces", "Namespace", false, true,
};
const struct tby_kube_resource tby_kube_serviceaccounts = {
    "", "v1", "serviceaccounts", "ServiceAccount", true, false,
};
const struct tby_kube_resource tby_kube_nodes = { "", "v1", "nodes", "Node", false, true };
const struct tby_kube_resource tby_kube_services = {
    "", "v1", "services", "Service", true, true,
};
const struct tby_kube_resource tby_kube_endpointslices = {
    "discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, false,
};
const struct tby_kube_resource tby_kube_networkpolicies = {
    "networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, false,
};
const struct tby_kube_resource tby_kube_crds = {
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
    false, true,
};

const char *tby_kube_resource_name(const struct tby_kube_resource *res, char *buf, size_t size)
{
    if (res->group[0])
        snprintf(buf, size, "%s.%s", res->plural, res->group);
    else
        snprintf(buf, size, "%s", res->plural);
    return buf;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

int tby_kube_escape(struct tby_buf *out, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (unreserved(*p)) {
            tby_buf_addc(out, (char)*p);
        } else {
            char enc[3] = { '%', hex[*p >> 4], hex[*p & 15] };

            tby_buf_add(out, enc, sizeof(enc));
        }
    }
    return tby_buf_error(out);
}

int tby_kube_path(struct tby_buf *out, const struct tby_kube_resource *res, const char *ns,
                  const char *name, const char *subresource)
{
    if (res->group[0])
        tby_buf_printf(out, "/apis/%s/%s", res->group, res->version);
    else
        tby_buf_printf(out, "/api/%s", res->version);
    if (res->namespaced && ns && *ns) {
        tby_buf_adds(out, "/namespaces/");
        tby_kube_escape(out, ns);
    }
    tby_buf_printf(out, "/%s", res->plural);
    if (name) {
        tby_buf_addc(out, '/');
        tby_kube_escape(out, name);
        if (subresource && *subresource)
            tby_buf_printf(out, "/%s", subresource);
    }
    return tby_buf_error(out);
}

int tby_kube_query_add(struct tby_buf *url, const char *key, const char *value)
{
    bool first = !url->data || !memchr(url->data, '?', url->len);

    tby_buf_addc(url, first ? '?' : '&');
    tby_kube_escape(url, key);
    tby_buf_addc(url, '=');
    return tby_kube_escape(url, value);
}
