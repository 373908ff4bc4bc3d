# discovery.py — the documents clients read before they touch a resource: /version,
# discovery (/api, /apis, /api/v1, /apis/G, /apis/G/V; the aggregated
# APIGroupDiscoveryList form when the client asks for it, else the plain one), and the
# OpenAPI v3 index and per-group-version documents.
#
# The OpenAPI documents carry paths and operations only, no schemas: enough for kubectl
# 1.32's `create`/`apply` without --validate=false. kubectl looks for the PATCH operation
# of the kind and its `fieldValidation` query parameter; finding it, it leaves
# validation to the server (which here accepts every field: there is no schema to check
# against). The PATCH operations list no strategic-merge-patch body, so `kubectl apply`
# computes its strategic merge patches from the types compiled into kubectl (and merge
# patches for custom resources), exactly as it does against a server without OpenAPI v2.
# /openapi/v2 answers 404, as on a server that disabled it.

import hashlib
import json

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-tabby-test-double",
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2025-01-01T00:00:00Z", "goVersion": "python3", "compiler": "python",
           "platform": "linux/amd64"}

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def wants_aggregated(accept):
    for part in (accept or "").split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip()
                  for p in part.split(";")[1:] if "=" in p}
        if params.get("as") == "APIGroupDiscoveryList" and params.get("v") == "v2" and \
                params.get("g") == "apidiscovery.k8s.io":
            return True
    return False


def _gv(group, version):
    return f"{group}/{version}" if group else version


def _hash(*parts):
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def api_versions(server_address):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def _group_doc(group, versions, preferred):
    return {"name": group,
            "versions": [{"groupVersion": _gv(group, v), "version": v} for v in versions],
            "preferredVersion": {"groupVersion": _gv(group, preferred), "version": preferred}}


def api_groups(registry):
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_doc(g, vs, p) for g, vs, p in registry.groups() if g]}


def api_group(registry, group):
    for g, vs, p in registry.groups():
        if g == group and g:
            return dict(kind="APIGroup", apiVersion="v1", **_group_doc(g, vs, p))
    return None


def resource_list(registry, group, version):
    types = registry.of_group_version(group, version)
    if not types:
        return None
    res = []
    for t in sorted(types, key=lambda t: t.plural):
        r = {"name": t.plural, "singularName": t.singular, "namespaced": t.namespaced,
             "kind": t.kind, "verbs": t.verbs()}
        if t.short:
            r["shortNames"] = t.short
        if t.categories:
            r["categories"] = t.categories
        r["storageVersionHash"] = _hash(t.rid)[:12]
        res.append(r)
        for sub, (sg, sv, sk, verbs) in sorted(t.all_subresources().items()):
            s = {"name": f"{t.plural}/{sub}", "singularName": "", "namespaced": t.namespaced,
                 "kind": sk, "verbs": verbs}
            if sg != t.group or sv:
                s["group"], s["version"] = sg, sv or version
            res.append(s)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": _gv(group, version),
            "resources": res}


def _aggregated_version(registry, group, version):
    resources = []
    for t in sorted(registry.of_group_version(group, version), key=lambda t: t.plural):
        r = {"resource": t.plural,
             "responseKind": {"group": group, "version": version, "kind": t.kind},
             "scope": "Namespaced" if t.namespaced else "Cluster",
             "singularResource": t.singular, "verbs": t.verbs()}
        if t.short:
            r["shortNames"] = t.short
        if t.categories:
            r["categories"] = t.categories
        subs = []
        for sub, (sg, sv, sk, verbs) in sorted(t.all_subresources().items()):
            subs.append({"subresource": sub,
                         "responseKind": {"group": sg, "version": sv or version, "kind": sk},
                         "verbs": verbs})
        if subs:
            r["subresources"] = subs
        resources.append(r)
    return {"version": version, "resources": resources, "freshness": "Current"}


def aggregated(registry, core):
    """APIGroupDiscoveryList of /api (core=True) or /apis."""
    items = []
    for g, vs, preferred in registry.groups():
        if (g == "") != core:
            continue
        ordered = [preferred] + [v for v in vs if v != preferred]
        item = {"metadata": {"creationTimestamp": None},
                "versions": [_aggregated_version(registry, g, v) for v in ordered]}
        if g:
            item["metadata"]["name"] = g
        items.append(item)
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


# ---- OpenAPI v3 ------------------------------------------------------------------
def _prefix(group, version):
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def openapi_index(registry):
    paths = {}
    for g, vs, _ in registry.groups():
        for v in vs:
            p = _prefix(g, v).lstrip("/")
            h = openapi_hash(registry, g, v)
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={h}"}
    paths["api"] = {"serverRelativeURL": "/openapi/v3/api?hash=" + _hash("api")}
    paths["apis"] = {"serverRelativeURL": "/openapi/v3/apis?hash=" + _hash("apis")}
    return {"paths": paths}


def openapi_hash(registry, group, version):
    names = sorted((t.plural, t.kind, t.namespaced, t.status)
                   for t in registry.of_group_version(group, version))
    return _hash(group, version, names).upper()


_PATCH_BODY = {"content": {ct: {"schema": {"type": "object"}} for ct in (
    "application/json-patch+json", "application/merge-patch+json",
    "application/apply-patch+yaml")}}
_QUERY = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
          for n in ("dryRun", "fieldManager", "fieldValidation")]
_OK = {"200": {"description": "OK"}}


def _op(action, gvk, op_id, body=None):
    op = {"operationId": op_id, "x-kubernetes-action": action,
          "x-kubernetes-group-version-kind": gvk, "responses": _OK}
    if action in ("patch", "put", "post"):
        op["parameters"] = list(_QUERY)
    if body is not None:
        op["requestBody"] = body
    return op


def openapi_doc(registry, group, version):
    types = registry.of_group_version(group, version)
    if not types:
        return None
    paths = {}
    base = _prefix(group, version)
    for t in types:
        gvk = {"group": group, "version": version, "kind": t.kind}
        obj_body = {"content": {"application/json": {"schema": {"type": "object"}}}}
        coll = f"{base}/namespaces/{{namespace}}/{t.plural}" if t.namespaced else \
            f"{base}/{t.plural}"
        name = t.kind
        if t.virtual:
            paths[coll] = {"post": _op("post", gvk, f"create{name}", obj_body)}
            continue
        paths[coll] = {"get": _op("list", gvk, f"list{name}"),
                       "post": _op("post", gvk, f"create{name}", obj_body)}
        if t.namespaced:
            paths[f"{base}/{t.plural}"] = {"get": _op("list", gvk, f"list{name}ForAllNamespaces")}
        item = {"get": _op("get", gvk, f"read{name}"),
                "put": _op("put", gvk, f"replace{name}", obj_body),
                "patch": _op("patch", gvk, f"patch{name}", _PATCH_BODY),
                "delete": _op("delete", gvk, f"delete{name}")}
        paths[f"{coll}/{{name}}"] = item
        if t.status:
            paths[f"{coll}/{{name}}/status"] = {
                "get": _op("get", gvk, f"read{name}Status"),
                "put": _op("put", gvk, f"replace{name}Status", obj_body),
                "patch": _op("patch", gvk, f"patch{name}Status", _PATCH_BODY)}
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes (tabby test double)", "version": VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}

