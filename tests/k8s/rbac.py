# rbac.py — authorization. Without --rbac every authenticated user may do everything.
# With --rbac the server decides as kube-apiserver's RBAC authorizer does: members of
# system:masters may do everything; anyone else needs a rule of a ClusterRole bound by a
# ClusterRoleBinding, or of a Role/ClusterRole bound by a RoleBinding in the request's
# namespace (rbac.authorization.k8s.io/v1 objects, served and stored like any other).
# Rules match verbs, apiGroups, resources ("pods", "pods/status", "*", "*/status"),
# resourceNames and nonResourceURLs ("/healthz", "/apis/*"), "*" everywhere.
# Not implemented: aggregated ClusterRoles (aggregationRule), escalation checks when
# writing roles and bindings.
#
# A fresh cluster gets the bootstrap roles clients rely on: cluster-admin (bound to
# system:masters), system:discovery and system:public-info-viewer (discovery, /version,
# health, bound to system:authenticated), system:basic-user (access reviews of oneself).

import status as st

CRB, CR = "rbac.authorization.k8s.io/clusterrolebindings", "rbac.authorization.k8s.io/clusterroles"
RB, ROLE = "rbac.authorization.k8s.io/rolebindings", "rbac.authorization.k8s.io/roles"


def _rule_matches(rule, attrs):
    if "path" in attrs:
        if not _has(rule.get("verbs"), attrs["verb"]):
            return False
        for u in rule.get("nonResourceURLs") or []:
            if u == "*" or u == attrs["path"] or (u.endswith("*") and
                                                   attrs["path"].startswith(u[:-1])):
                return True
        return False
    if rule.get("nonResourceURLs"):
        return False
    if not _has(rule.get("verbs"), attrs["verb"]):
        return False
    if not _has(rule.get("apiGroups"), attrs["api_group"]):
        return False
    res = attrs["resource"] + ("/" + attrs["subresource"] if attrs.get("subresource") else "")
    ok = False
    for r in rule.get("resources") or []:
        if r == "*" or r == res:
            ok = True
        elif r.startswith("*/") and attrs.get("subresource") == r[2:]:
            ok = True
        if ok:
            break
    if not ok:
        return False
    names = rule.get("resourceNames")
    if names:
        return bool(attrs.get("name")) and attrs["name"] in names
    return True


def _has(values, v):
    values = values or []
    return "*" in values or v in values


def _subject_matches(subj, user):
    kind = subj.get("kind")
    if kind == "User":
        return subj.get("name") == user.name
    if kind == "Group":
        return subj.get("name") in user.groups
    if kind == "ServiceAccount":
        return user.name == f"system:serviceaccount:{subj.get('namespace')}:{subj.get('name')}"
    return False


class Authorizer:
    def __init__(self, store, enabled):
        self.store = store
        self.enabled = enabled

    def _rules(self, ref, namespace):
        kind, name = ref.get("kind"), ref.get("name")
        if kind == "ClusterRole":
            e = self.store.get(CR, ("", name))
        elif kind == "Role":
            e = self.store.get(ROLE, (namespace, name))
        else:
            e = None
        return (e.obj.get("rules") or []) if e else []

    def allowed(self, user, attrs):
        """(allowed, reason)."""
        if not self.enabled or user.is_master():
            return True, ""
        with self.store.lock:
            bindings = [(e.obj, "") for _, e in self.store.current(CRB)]
            ns = attrs.get("namespace")
            if ns and "path" not in attrs:
                bindings += [(e.obj, ns) for k, e in self.store.current(RB) if k[0] == ns]
            for b, bns in bindings:
                if not any(_subject_matches(s, user) for s in b.get("subjects") or []):
                    continue
                for rule in self._rules(b.get("roleRef") or {}, bns):
                    if _rule_matches(rule, attrs):
                        where = f'RoleBinding "{b["metadata"]["name"]}" of ' if bns else \
                            f'ClusterRoleBinding "{b["metadata"]["name"]}" of '
                        return True, f'RBAC: allowed by {where}{b["roleRef"].get("kind")} ' \
                                     f'"{b["roleRef"].get("name")}" to User "{user.name}"'
        return False, ""

    def check(self, user, attrs):
        """Raise 403 as the real server words it unless allowed."""
        ok, _ = self.allowed(user, attrs)
        if ok:
            return
        if "path" in attrs:
            raise st.forbidden("", "", "", f'User "{user.name}" cannot {attrs["verb"]} path '
                               f'"{attrs["path"]}"')
        res = attrs["resource"] + ("/" + attrs["subresource"] if attrs.get("subresource") else "")
        where = f'in the namespace "{attrs["namespace"]}"' if attrs.get("namespace") else \
            "at the cluster scope"
        why = f'User "{user.name}" cannot {attrs["verb"]} resource "{res}" in API group ' \
              f'"{attrs["api_group"]}" {where}'
        raise st.forbidden(attrs["resource"], attrs["api_group"], attrs.get("name", ""), why)

    def rules_review(self, user, namespace):
        """The status of a SelfSubjectRulesReview: every rule that applies to `user` in
        `namespace`, as bound (not merged)."""
        res, nonres = [], []
        with self.store.lock:
            bindings = [(e.obj, "") for _, e in self.store.current(CRB)]
            bindings += [(e.obj, namespace) for k, e in self.store.current(RB)
                         if namespace and k[0] == namespace]
            for b, bns in bindings:
                if not any(_subject_matches(s, user) for s in b.get("subjects") or []):
                    continue
                for rule in self._rules(b.get("roleRef") or {}, bns):
                    if rule.get("nonResourceURLs"):
                        nonres.append({"verbs": rule.get("verbs") or [],
                                       "nonResourceURLs": rule["nonResourceURLs"]})
                    else:
                        r = {k: rule[k] for k in ("verbs", "apiGroups", "resources",
                                                  "resourceNames") if rule.get(k)}
                        res.append(r)
        return {"resourceRules": res, "nonResourceRules": nonres, "incomplete": False}

    def review(self, user, spec):
        """The status of a (Self)SubjectAccessReview for `user`."""
        ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if nra:
            attrs = {"verb": nra.get("verb", ""), "path": nra.get("path", "")}
        else:
            ra = ra or {}
            attrs = {"verb": ra.get("verb", ""), "api_group": ra.get("group", ""),
                     "resource": ra.get("resource", ""), "subresource": ra.get("subresource", ""),
                     "namespace": ra.get("namespace", ""), "name": ra.get("name", "")}
        ok, reason = self.allowed(user, attrs)
        out = {"allowed": ok}
        if reason:
            out["reason"] = reason
        return out


def bootstrap_objects():
    """(rid, object) of the roles and bindings a fresh cluster has."""
    def role(name, rules):
        return (CR, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                     "metadata": {"name": name,
                                  "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
                     "rules": rules})

    def binding(name, role_name, kind, subject):
        return (CRB, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                      "metadata": {"name": name,
                                   "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role_name},
                      "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": kind,
                                    "name": subject}]})
    return [
        role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                               {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        binding("cluster-admin", "cluster-admin", "Group", "system:masters"),
        role("system:discovery", [{"nonResourceURLs": [
            "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
            "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        binding("system:discovery", "system:discovery", "Group", "system:authenticated"),
        role("system:public-info-viewer", [{"nonResourceURLs": [
            "/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        binding("system:public-info-viewer", "system:public-info-viewer", "Group",
                "system:authenticated"),
        role("system:basic-user", [{"apiGroups": ["authorization.k8s.io"], "resources": [
            "selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
            {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"],
             "verbs": ["create"]}]),
        binding("system:basic-user", "system:basic-user", "Group", "system:authenticated"),
    ]
