# registry.py — the resource types the test API server serves: one table entry per
# built-in type (adding a type is adding a line to BUILTIN), and the types that
# CustomResourceDefinitions add while they exist. Everything that depends on "which
# types exist" — routing, discovery, OpenAPI, RBAC names — asks the registry.

import threading

STANDARD_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                  "watch"]


class ResourceType:
    """One served resource. `rid` ("group/plural") identifies its storage, which every
    served version shares (objects are stored once; the version only changes the
    apiVersion a reader sees, as a CRD with conversion strategy None does)."""

    def __init__(self, group, versions, plural, kind, namespaced, short=(), categories=(),
                 status=False, fields=(), create_on_update=False, virtual=False,
                 storage_version=None, printer_columns=None, crd=None, singular=None,
                 subresources=None, list_kind=None):
        self.group = group
        self.versions = list(versions)
        self.storage_version = storage_version or self.versions[0]
        self.plural = plural
        self.singular = singular or kind.lower()
        self.kind = kind
        self.list_kind = list_kind or kind + "List"
        self.namespaced = namespaced
        self.short = list(short)
        self.categories = list(categories)
        self.status = status
        self.fields = set(fields)
        self.create_on_update = create_on_update
        # A virtual resource (an access review) is only ever created, never stored.
        self.virtual = virtual
        self.printer_columns = printer_columns
        self.crd = crd
        # Extra subresources: name -> (group, version, kind, verbs).
        self.subresources = dict(subresources or {})
        self.rid = f"{group}/{plural}"

    def api_version(self, version=None):
        v = version or self.storage_version
        return f"{self.group}/{v}" if self.group else v

    def verbs(self):
        return ["create"] if self.virtual else STANDARD_VERBS

    def all_subresources(self):
        subs = {}
        if self.status:
            subs["status"] = (self.group, None, self.kind, ["get", "patch", "update"])
        subs.update(self.subresources)
        return subs


def R(group, version, plural, kind, namespaced=True, **kw):
    return ResourceType(group, [version], plural, kind, namespaced, **kw)


POD_FIELDS = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
              "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
              "status.nominatedNodeName")

BUILTIN = [
    R("", "v1", "pods", "Pod", short=["po"], categories=["all"], status=True, fields=POD_FIELDS),
    R("", "v1", "namespaces", "Namespace", False, short=["ns"], status=True,
      fields=["status.phase"]),
    R("", "v1", "serviceaccounts", "ServiceAccount", short=["sa"],
      subresources={"token": ("authentication.k8s.io", "v1", "TokenRequest", ["create"])}),
    R("", "v1", "nodes", "Node", False, short=["no"], status=True,
      fields=["spec.unschedulable"]),
    R("", "v1", "services", "Service", short=["svc"], categories=["all"], status=True),
    R("", "v1", "endpoints", "Endpoints", short=["ep"], create_on_update=True,
      list_kind="EndpointsList"),
    R("", "v1", "configmaps", "ConfigMap", short=["cm"]),
    R("", "v1", "secrets", "Secret", fields=["type"]),
    R("", "v1", "events", "Event", short=["ev"]),
    R("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short=["netpol"]),
    R("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    R("apps", "v1", "daemonsets", "DaemonSet", short=["ds"], categories=["all"], status=True),
    R("apps", "v1", "deployments", "Deployment", short=["deploy"], categories=["all"],
      status=True),
    R("coordination.k8s.io", "v1", "leases", "Lease"),
    R("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
      False, short=["crd", "crds"], categories=["api-extensions"], status=True),
    R("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    R("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    R("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    R("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    R("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
      False, virtual=True),
    R("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview",
      False, virtual=True),
    R("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False,
      virtual=True),
    R("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False, virtual=True),
    R("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False,
      virtual=True),
]

# Groups in the order discovery lists them (the core group is served under /api).
GROUP_ORDER = ["apps", "apiextensions.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
               "coordination.k8s.io", "discovery.k8s.io", "networking.k8s.io",
               "rbac.authorization.k8s.io"]

CRD_RID = "apiextensions.k8s.io/customresourcedefinitions"


class Registry:
    def __init__(self):
        self.lock = threading.Lock()
        self.types = {}          # rid -> ResourceType
        self.generation = 0      # bumped on every change (discovery and OpenAPI hashes)
        for t in BUILTIN:
            self.types[t.rid] = t

    def lookup(self, group, version, plural):
        with self.lock:
            t = self.types.get(f"{group}/{plural}")
        if t is None or version not in t.versions:
            return None
        return t

    def by_rid(self, rid):
        with self.lock:
            return self.types.get(rid)

    def all(self):
        with self.lock:
            return list(self.types.values())

    def groups(self):
        """[(group, [versions], preferred)] of every API group, core first."""
        seen = {}
        for t in self.all():
            vs = seen.setdefault(t.group, [])
            for v in t.versions:
                if v not in vs:
                    vs.append(v)
        order = [""] + [g for g in GROUP_ORDER if g in seen]
        order += sorted(g for g in seen if g not in order)
        return [(g, seen[g], _preferred(seen[g])) for g in order if g in seen]

    def of_group_version(self, group, version):
        return [t for t in self.all() if t.group == group and version in t.versions]

    def add_crd(self, crd):
        """Serve what a CustomResourceDefinition declares; returns the type."""
        t = type_of_crd(crd)
        with self.lock:
            old = self.types.get(t.rid)
            if old is not None and old.crd is None:
                return None  # never shadow a built-in type
            self.types[t.rid] = t
            self.generation += 1
        return t

    def remove_crd(self, crd):
        spec = crd.get("spec", {})
        rid = f"{spec.get('group')}/{spec.get('names', {}).get('plural')}"
        with self.lock:
            t = self.types.get(rid)
            if t is not None and t.crd is not None:
                del self.types[rid]
                self.generation += 1
        return rid


def _preferred(versions):
    def rank(v):
        # GA before beta before alpha, higher numbers first (v2 > v1 > v1beta1).
        import re
        m = re.match(r"v(\d+)(?:(alpha|beta)(\d+))?$", v)
        if not m:
            return (3, 0, 0, v)
        stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
        return (stage, -int(m.group(1)), -int(m.group(3) or 0), v)
    return sorted(versions, key=rank)[0]


def type_of_crd(crd):
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    versions = [v for v in spec.get("versions", []) if v.get("served", True)]
    storage = next((v["name"] for v in spec.get("versions", []) if v.get("storage")),
                   versions[0]["name"] if versions else "v1")
    status = any("status" in (v.get("subresources") or {}) for v in versions)
    cols = {}
    for v in versions:
        cols[v["name"]] = v.get("additionalPrinterColumns")
    fields = set()
    for v in versions:
        for f in v.get("selectableFields") or []:
            fields.add(f.get("jsonPath", "").lstrip("."))
    t = ResourceType(spec.get("group", ""), [v["name"] for v in versions] or [storage],
                     names.get("plural", ""), names.get("kind", ""),
                     spec.get("scope", "Namespaced") == "Namespaced",
                     short=names.get("shortNames") or [], categories=names.get("categories") or [],
                     status=status, fields=fields, storage_version=storage,
                     printer_columns=cols, crd=crd.get("metadata", {}).get("name"),
                     singular=names.get("singular") or names.get("kind", "").lower(),
                     list_kind=names.get("listKind"))
    return t
