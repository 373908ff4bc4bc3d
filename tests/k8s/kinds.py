# kinds.py — what particular kinds do beyond the generic verbs of rest.py, the part of a
# real cluster's behaviour (apiserver strategies and the controllers that act at once)
# that tabby and kubectl notice:
#   Pod         starts Pending with the defaults kubectl shows; needs containers
#   Namespace   labelled kubernetes.io/metadata.name, Active, gets a `default`
#               ServiceAccount; deleting one deletes its contents (Terminating first)
#   Service     gets a cluster IP from 10.96.0.0/12 and port defaults
#   CRD         validated, Established at once, then its kind is served (every served
#               version, status subresource when declared); deleting it deletes its
#               objects and stops serving the kind
# Each hook runs under the store lock inside the write it belongs to.

import ipaddress

import status as st
from registry import CRD_RID

SA_RID = "/serviceaccounts"


class Kinds:
    def __init__(self, registry, store):
        self.registry = registry
        self.store = store
        self.api = None             # set by rest.Api
        self.next_service_ip = 10

    def keeps_status_on_create(self, t):
        # The kubelet registers a Node with its status; every other kind with a status
        # subresource starts without one.
        return t.kind == "Node" and t.group == ""

    def status_keeps_metadata(self, t):
        # The real status strategies of built-in kinds (Pods, Nodes, Services, …) take only
        # the spec (and, for Pods, the owner references) from the stored object: labels
        # and annotations written through /status are kept (Calico's CNI annotates pods,
        # calico-node annotates Nodes, this way). Custom resources take only the status.
        return t.crd is None

    def _hook(self, stage, t):
        if t.crd is not None:
            return None
        return getattr(self, f"_{stage}_{t.kind}", None) if t.group in (
            "", "apiextensions.k8s.io") else None

    def prepare_create(self, t, obj):
        h = self._hook("create", t)
        if h:
            h(obj)

    def after_create(self, t, entry):
        h = self._hook("created", t)
        if h:
            h(entry)

    def prepare_update(self, t, new, cur):
        h = self._hook("update", t)
        if h:
            h(new, cur.obj)

    def after_update(self, t, entry, cur):
        h = self._hook("updated", t)
        if h:
            h(entry)

    def before_delete(self, t, key, cur):
        h = self._hook("deleting", t)
        return h(key, cur) if h else None

    def after_delete(self, t, entry):
        h = self._hook("deleted", t)
        if h:
            h(entry)

    # ---- Pod -----------------------------------------------------------------------
    def _create_Pod(self, obj):
        spec = obj.get("spec")
        if not isinstance(spec, dict) or not spec.get("containers"):
            raise st.invalid("Pod", "", obj["metadata"]["name"], [
                ("FieldValueRequired", "spec.containers", "Required value")])
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("serviceAccountName", spec.get("serviceAccount", "default"))
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("securityContext", {})
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            if isinstance(c, dict):
                image = str(c.get("image", ""))
                latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
                c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
                c.setdefault("resources", {})
                for p in c.get("ports", []) or []:
                    if isinstance(p, dict):
                        p.setdefault("protocol", "TCP")
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}

    # ---- Namespace -----------------------------------------------------------------
    def _create_Namespace(self, obj):
        md = obj["metadata"]
        md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}

    def _update_Namespace(self, new, old):
        md = new["metadata"]
        if md.get("labels") is None:
            md["labels"] = {}
        md["labels"]["kubernetes.io/metadata.name"] = md["name"]

    def _created_Namespace(self, entry):
        ns = entry.obj["metadata"]["name"]
        if self.store.get(SA_RID, (ns, "default")) is None:
            sa = {"apiVersion": "v1", "kind": "ServiceAccount",
                  "metadata": {"name": "default", "namespace": ns}}
            self.api.create(self.registry.by_rid(SA_RID), "v1", ns, sa, {})

    def _deleting_Namespace(self, key, cur):
        obj = cur.copy()
        obj["metadata"]["deletionTimestamp"] = obj["metadata"].get("deletionTimestamp") or \
            _now()
        obj["status"] = {"phase": "Terminating"}
        entry = self.store.put("/namespaces", key, obj)
        ns = key[1]
        for t in self.registry.all():
            if t.namespaced and not t.virtual:
                self.api.remove_all(t.rid, ns)
        return entry

    # ---- Service -------------------------------------------------------------------
    def _create_Service(self, obj):
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName" and "clusterIP" not in spec:
            ip = ipaddress.ip_address("10.96.0.0") + self.next_service_ip
            self.next_service_ip += 1
            spec["clusterIP"] = str(ip)
        if spec.get("clusterIP"):
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for p in spec.get("ports", []) or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")
                p.setdefault("targetPort", p.get("port"))
        obj["status"] = {"loadBalancer": {}}

    # ---- CustomResourceDefinition --------------------------------------------------
    def _crd_check(self, obj):
        md, spec = obj["metadata"], obj.get("spec") or {}
        names = spec.get("names") or {}
        group, plural, kind = spec.get("group", ""), names.get("plural", ""), names.get("kind", "")
        causes = []
        if "." not in group:
            causes.append(("FieldValueInvalid", "spec.group",
                           f'Invalid value: "{group}": should be a domain with at least one dot'))
        if not plural:
            causes.append(("FieldValueRequired", "spec.names.plural", "Required value"))
        if not kind:
            causes.append(("FieldValueRequired", "spec.names.kind", "Required value"))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(("FieldValueNotSupported", "spec.scope",
                           f'Unsupported value: "{spec.get("scope", "")}": supported values: '
                           '"Cluster", "Namespaced"'))
        versions = spec.get("versions") or []
        if not versions:
            causes.append(("FieldValueInvalid", "spec.versions",
                           "Invalid value: null: must have exactly one version marked as "
                           "storage version"))
        elif sum(1 for v in versions if v.get("storage")) != 1:
            causes.append(("FieldValueInvalid", "spec.versions",
                           "Invalid value: ...: must have exactly one version marked as "
                           "storage version"))
        if plural and group and md["name"] != f"{plural}.{group}":
            causes.append(("FieldValueInvalid", "metadata.name",
                           f'Invalid value: "{md["name"]}": must be spec.names.plural+"."+'
                           'spec.group'))
        if not causes and self.registry.by_rid(f"{group}/{plural}") is not None and \
                self.registry.by_rid(f"{group}/{plural}").crd is None:
            causes.append(("FieldValueInvalid", "spec.group",
                           f'Invalid value: "{group}": the group is served by the server itself'))
        if causes:
            raise st.invalid("CustomResourceDefinition", "apiextensions.k8s.io", md["name"],
                             causes)
        names.setdefault("singular", kind.lower())
        names.setdefault("listKind", kind + "List")
        spec.setdefault("conversion", {"strategy": "None"})

    def _crd_status(self, obj, old_status):
        spec = obj["spec"]
        storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
        stored = list((old_status or {}).get("storedVersions") or [])
        if storage not in stored:
            stored.append(storage)
        conds = (old_status or {}).get("conditions")
        if not conds:
            t = _now()
            conds = [{"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                      "message": "no conflicts found", "lastTransitionTime": t},
                     {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                      "message": "the initial names have been accepted",
                      "lastTransitionTime": t}]
        obj["status"] = {"conditions": conds, "acceptedNames": dict(spec["names"]),
                         "storedVersions": stored}

    def _create_CustomResourceDefinition(self, obj):
        self._crd_check(obj)
        self._crd_status(obj, None)

    def _update_CustomResourceDefinition(self, new, old):
        self._crd_check(new)
        if new["spec"]["group"] != old["spec"]["group"] or \
                new["spec"]["names"]["plural"] != old["spec"]["names"]["plural"]:
            raise st.invalid("CustomResourceDefinition", "apiextensions.k8s.io",
                             new["metadata"]["name"], [
                                 ("FieldValueInvalid", "spec.group", "field is immutable")])
        self._crd_status(new, new.get("status") or old.get("status"))

    def _created_CustomResourceDefinition(self, entry):
        self.registry.add_crd(entry.obj)

    _updated_CustomResourceDefinition = _created_CustomResourceDefinition

    def _deleting_CustomResourceDefinition(self, key, cur):
        spec = cur.obj["spec"]
        rid = f"{spec['group']}/{spec['names']['plural']}"
        self.api.remove_all(rid)
        for w in list(self.store.watchers.get(rid, ())):
            w.interrupt("close")
        return None

    def _deleted_CustomResourceDefinition(self, entry):
        self.registry.remove_crd(entry.obj)

    # ---- restore -------------------------------------------------------------------
    def restore(self):
        """Serve the kinds of the CRDs a restored store holds."""
        for key in self.store.keys(CRD_RID):
            self.registry.add_crd(self.store.get(CRD_RID, key).obj)


def _now():
    from rest import now
    return now()
