# rest.py — what the verbs do to objects, the generic part of a real kube-apiserver's
# registry: create (uid, creationTimestamp, generation, the namespace must exist,
# AlreadyExists), update (optimistic concurrency on metadata.resourceVersion, no-op
# updates write nothing, generation bumped on spec changes, the status subresource owns
# status), patch (three formats, see patch.py), delete (uid/resourceVersion
# preconditions, finalizers), deletecollection, get, and list (label/field selectors,
# limit/continue over one consistent snapshot, resourceVersion/resourceVersionMatch).
# Per-kind behaviour (pods start Pending, namespaces cascade, CRDs register types) is in
# kinds.py.

import base64
import json
import random
import re
import time
import uuid

import patch as patches
import selector
import status as st
from store import Entry, Expired, TooLarge, dumps

NS_RID = "/namespaces"

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric "
                  "character (e.g. 'example.com', regex used for validation is "
                  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
              "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
              "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
# Kinds whose names are path segments (anything but '/', '%', '.', '..').
_PATH_SEGMENT_NAMES = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def key_of(t, ns, name):
    return (ns if t.namespaced else "", name)


def q1(query, name, default=None):
    v = query.get(name)
    return v[-1] if v else default


def qbool(query, name):
    """A boolean query parameter as Go's strconv.ParseBool reads it."""
    return q1(query, name, "") in ("1", "t", "T", "true", "TRUE", "True")


def spec_part(t, obj):
    """What a change of bumps metadata.generation: all but metadata (and status when a
    status subresource owns it)."""
    return {k: v for k, v in obj.items()
            if k not in ("metadata", "apiVersion", "kind") and not (t.status and k == "status")}


def encode_continue(rv, last_key):
    tok = {"v": "meta.k8s.io/v1", "rv": rv, "start": "/".join(last_key) + "\x00"}
    return base64.urlsafe_b64encode(json.dumps(tok).encode()).decode().rstrip("=")


def decode_continue(token):
    try:
        pad = "=" * (-len(token) % 4)
        tok = json.loads(base64.urlsafe_b64decode(token + pad))
        rv, start = int(tok["rv"]), tok["start"]
        if tok.get("v") != "meta.k8s.io/v1" or not start.endswith("\x00"):
            raise ValueError
        ns, _, name = start[:-1].partition("/")
        return rv, (ns, name)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise st.bad_request("continue key is not valid: incorrect encoded start "
                             "resourceVersion (version meta.k8s.io/v1)")


def parse_rv(text, what="resourceVersion"):
    try:
        v = int(text)
        if v < 0:
            raise ValueError
        return v
    except (TypeError, ValueError):
        raise st.bad_request(f'{what}: Invalid value: "{text}": must be a valid resourceVersion')


class Api:
    def __init__(self, store, registry, kinds):
        self.store = store
        self.registry = registry
        self.kinds = kinds
        kinds.api = self

    # ---- encoding ------------------------------------------------------------------
    def encode(self, t, version, entry):
        """The JSON of a stored object as a reader of `version` sees it."""
        want = t.api_version(version)
        if entry.obj.get("apiVersion") == want:
            return entry.raw
        obj = dict(entry.obj)
        obj["apiVersion"] = want
        return dumps(obj)

    def view(self, t, version, entry):
        if entry.obj.get("apiVersion") == t.api_version(version):
            return entry
        obj = dict(entry.obj)
        obj["apiVersion"] = t.api_version(version)
        return Entry(obj, entry.rv)

    # ---- checks --------------------------------------------------------------------
    def require_namespace(self, ns, for_create=False):
        e = self.store.get(NS_RID, ("", ns))
        if e is None:
            raise st.not_found("namespaces", "", ns)
        if for_create and e.obj.get("status", {}).get("phase") == "Terminating":
            raise st.forbidden("", "", "", f"unable to create new content in namespace {ns} "
                               "because it is being terminated")

    def _typemeta(self, t, version, obj):
        if not isinstance(obj, dict):
            raise st.bad_request("the body of the request could not be decoded as an object")
        av, kind = obj.get("apiVersion"), obj.get("kind")
        if av and av != t.api_version(version):
            raise st.bad_request(f"the API version in the data ({av}) does not match the "
                                 f"expected API version ({t.api_version(version)})")
        if kind and kind != t.kind:
            raise st.bad_request(f"the kind in the data ({kind}) does not match the expected "
                                 f"kind ({t.kind})")
        # kind and apiVersion lead, as the real server writes them.
        rest = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
        obj.clear()
        obj["kind"] = t.kind
        obj["apiVersion"] = t.api_version(t.storage_version)
        obj.update(rest)
        md = obj.get("metadata")
        if md is None:
            md = obj["metadata"] = {}
        if not isinstance(md, dict):
            raise st.bad_request("metadata must be an object")
        return md

    def _namespace_of_body(self, t, md, ns):
        if t.namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise st.bad_request("the namespace of the provided object does not match the "
                                     "namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)

    def _check_name(self, t, name):
        if t.kind in _PATH_SEGMENT_NAMES:
            if name in (".", "..") or "/" in name or "%" in name:
                raise st.invalid(t.kind, t.group, name, [
                    ("FieldValueInvalid", "metadata.name",
                     f'Invalid value: "{name}": may not contain \'/\' or \'%\'')])
            return
        if t.kind == "Namespace":
            if len(name) > 63 or not _LABEL.match(name):
                raise st.invalid(t.kind, t.group, name, [
                    ("FieldValueInvalid", "metadata.name",
                     f'Invalid value: "{name}": {_LABEL_MSG}')])
            return
        if len(name) > 253 or not _SUBDOMAIN.match(name):
            raise st.invalid(t.kind, t.group, name, [
                ("FieldValueInvalid", "metadata.name",
                 f'Invalid value: "{name}": {_SUBDOMAIN_MSG}')])

    # ---- reads ---------------------------------------------------------------------
    def get(self, t, ns, name):
        e = self.store.get(t.rid, key_of(t, ns, name))
        if e is None:
            raise st.not_found(t.plural, t.group, name)
        return e

    def list(self, t, version, ns, query):
        """(rv, [Entry], continue, remaining): one page of a list."""
        lsel = selector.parse_labels(q1(query, "labelSelector"))
        fsel = selector.parse_fields(q1(query, "fieldSelector"), t.fields)
        limit = int(q1(query, "limit", "0") or 0)
        cont = q1(query, "continue")
        rv_text = q1(query, "resourceVersion")
        match = q1(query, "resourceVersionMatch")
        if match and match not in ("Exact", "NotOlderThan"):
            raise st.bad_request(f'resourceVersionMatch: Unsupported value: "{match}"')
        if match and not rv_text:
            raise st.invalid("ListOptions", "meta.k8s.io", "", [
                ("FieldValueForbidden", "resourceVersionMatch",
                 "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is "
                 "provided")])
        start = None
        at = None
        if cont:
            if rv_text:
                raise st.bad_request("specifying resource version is not allowed when using "
                                     "continue")
            at, start = decode_continue(cont)
            if at == -1:
                at = None
            elif at < self.store.compacted:
                # Continuing at the present is the only way on; hand out that token.
                raise st.ApiError(410, "Expired", st.CONTINUE_INCONSISTENT,
                                  list_meta={"continue": encode_continue(-1, start)})
        elif rv_text:
            rv = parse_rv(rv_text)
            if match == "Exact" or (limit and not match and rv != 0):
                at = rv
            elif rv > self.store.rv and not self.store.wait_for(rv, 3):
                raise st.timeout(f"Too large resource version: {rv}, current: {self.store.rv}",
                                 1, [{"reason": "ResourceVersionTooLarge",
                                      "message": "Too large resource version"}])
        try:
            rv, snap = self.store.at(t.rid, at)
        except Expired:
            if cont:
                raise st.expired(st.CONTINUE_EXPIRED)
            raise st.expired(st.LIST_EXPIRED)
        except TooLarge as e:
            raise st.timeout(str(e), 1, [{"reason": "ResourceVersionTooLarge",
                                          "message": "Too large resource version"}])
        i = 0
        if start is not None:
            lo, hi = 0, len(snap)
            while lo < hi:
                mid = (lo + hi) // 2
                if snap[mid][0] <= start:
                    lo = mid + 1
                else:
                    hi = mid
            i = lo
        out = []
        filtered = lsel is not None or fsel is not None
        n = len(snap)
        while i < n and (not limit or len(out) < limit):
            key, e = snap[i]
            i += 1
            if ns and t.namespaced and key[0] != ns:
                continue
            if lsel is not None and not lsel(e.obj.get("metadata", {}).get("labels") or {}):
                continue
            if fsel is not None and not fsel(e.obj):
                continue
            out.append(e)
        token, remaining = None, None
        if limit and i < n:
            if ns and t.namespaced:
                more = any(k[0] == ns for k, _ in snap[i:])
            else:
                more = True
            if more:
                token = encode_continue(rv, snap[i - 1][0])
                if not filtered and not (ns and t.namespaced):
                    remaining = n - i  # counted, not a scan of the rest on every page
                elif not filtered:
                    remaining = sum(1 for k, _ in snap[i:] if k[0] == ns)
        return rv, out, token, remaining

    def list_bytes(self, t, version, rv, entries, token, remaining):
        meta = {"resourceVersion": str(rv)}
        if token:
            meta["continue"] = token
        if remaining:
            meta["remainingItemCount"] = remaining
        head = dumps({"kind": t.list_kind, "apiVersion": t.api_version(version),
                      "metadata": meta})[:-1]
        return head + b',"items":[' + b",".join(self.encode(t, version, e) for e in entries) + \
            b"]}"

    # ---- writes --------------------------------------------------------------------
    def create(self, t, version, ns, obj, query, user=None):
        md = self._typemeta(t, version, obj)
        self._namespace_of_body(t, md, ns)
        dry = "All" in query.get("dryRun", [])
        with self.store.lock:
            if t.namespaced:
                self.require_namespace(ns, for_create=True)
            name = md.get("name")
            if not name and md.get("generateName"):
                for _ in range(10):
                    name = md["generateName"] + "".join(
                        random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
                    if self.store.get(t.rid, key_of(t, ns, name)) is None:
                        break
            if not name:
                raise st.invalid(t.kind, t.group, "", [
                    ("FieldValueRequired", "metadata.name",
                     "Required value: name or generateName is required")])
            self._check_name(t, name)
            md["name"] = name
            if self.store.get(t.rid, key_of(t, ns, name)) is not None:
                raise st.already_exists(t.plural, t.group, name)
            for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "selfLink"):
                md.pop(k, None)
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now()
            md["generation"] = 1
            if t.status and not self.kinds.keeps_status_on_create(t):
                obj.pop("status", None)
            self.kinds.prepare_create(t, obj)
            if dry:
                md["resourceVersion"] = ""
                return Entry(obj, 0)
            entry = self.store.put(t.rid, key_of(t, ns, name), obj)
            self.kinds.after_create(t, entry)
            return entry

    def update(self, t, version, ns, name, obj, query, subresource=None):
        md = self._typemeta(t, version, obj)
        if md.get("name") and md["name"] != name:
            raise st.bad_request(f"the name of the object ({md['name']}) does not match the "
                                 f"name on the URL ({name})")
        self._namespace_of_body(t, md, ns)
        md["name"] = name
        with self.store.lock:
            cur = self.store.get(t.rid, key_of(t, ns, name))
            if cur is None:
                if t.create_on_update and not subresource:
                    return 201, self.create(t, version, ns, obj, query)
                raise st.not_found(t.plural, t.group, name)
            self._preconditions(t, name, cur, md)
            return 200, self._commit(t, ns, name, cur, obj, query, subresource)

    def patch(self, t, version, ns, name, content_type, body, query, subresource=None):
        try:
            p = json.loads(body or b"null")
        except ValueError as e:
            raise st.bad_request(f"error decoding patch: {e}")
        with self.store.lock:
            cur = self.store.get(t.rid, key_of(t, ns, name))
            if cur is None:
                raise st.not_found(t.plural, t.group, name)
            base = cur.copy()
            base["apiVersion"] = t.api_version(version)
            obj = patches.apply(content_type, t.kind, t.crd is None, base, p)
            if not isinstance(obj, dict):
                raise st.bad_request("the patched object is not an object")
            md = self._typemeta(t, version, obj)
            if md.get("name") != name or (t.namespaced and md.get("namespace") != ns):
                raise st.invalid(t.kind, t.group, name, [
                    ("FieldValueInvalid", "metadata.name",
                     f'Invalid value: "{md.get("name")}": field is immutable')])
            self._preconditions(t, name, cur, md)
            return self._commit(t, ns, name, cur, obj, query, subresource)

    def _preconditions(self, t, name, cur, md):
        rv = md.get("resourceVersion")
        if rv and rv != cur.obj["metadata"]["resourceVersion"]:
            raise st.stale(t.plural, t.group, name)
        uid = md.get("uid")
        if uid and uid != cur.obj["metadata"].get("uid"):
            raise st.conflict(t.plural, t.group, name,
                              f"Precondition failed: UID in precondition: {uid}, UID in "
                              f"object meta: {cur.obj['metadata'].get('uid')}")

    def _commit(self, t, ns, name, cur, obj, query, subresource):
        """Store `obj` as the new version of `cur` (under the store lock)."""
        old = cur.obj
        if subresource == "status":
            new = cur.copy()
            if self.kinds.status_keeps_metadata(t):
                owners = new["metadata"].get("ownerReferences")
                new["metadata"] = obj["metadata"]
                if t.kind == "Pod":  # as the real strategy: status writers keep off owners
                    new["metadata"].pop("ownerReferences", None)
                    if owners is not None:
                        new["metadata"]["ownerReferences"] = owners
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
        else:
            new = obj
            if t.status:
                if "status" in old:
                    new["status"] = json.loads(dumps(old["status"]))
                else:
                    new.pop("status", None)
        md, omd = new["metadata"], old["metadata"]
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if k in omd:
                md[k] = omd[k]
            else:
                md.pop(k, None)
        md["namespace"] = omd.get("namespace")
        if md["namespace"] is None:
            md.pop("namespace")
        md["resourceVersion"] = omd["resourceVersion"]
        md["generation"] = omd.get("generation", 1)
        if subresource != "status" and spec_part(t, new) != spec_part(t, old):
            md["generation"] = md["generation"] + 1
        self.kinds.prepare_update(t, new, cur)
        if new == old:
            return cur  # a no-op writes nothing (no new resourceVersion, no event)
        if "All" in query.get("dryRun", []):
            return Entry(new, cur.rv)
        key = key_of(t, ns, name)
        if md.get("deletionTimestamp") and not md.get("finalizers"):
            # The last finalizer gone: deleted as it was stored, as the real store does.
            return self._remove(t, key, cur)
        entry = self.store.put(t.rid, key, new)
        self.kinds.after_update(t, entry, cur)
        return entry

    def delete(self, t, version, ns, name, opts, query):
        opts = opts or {}
        pre = opts.get("preconditions") or {}
        dry = "All" in query.get("dryRun", []) or "All" in (opts.get("dryRun") or [])
        with self.store.lock:
            key = key_of(t, ns, name)
            cur = self.store.get(t.rid, key)
            if cur is None:
                raise st.not_found(t.plural, t.group, name)
            omd = cur.obj["metadata"]
            if pre.get("uid") and pre["uid"] != omd.get("uid"):
                raise st.conflict(t.plural, t.group, name,
                                  f"Precondition failed: UID in precondition: {pre['uid']}, UID "
                                  f"in object meta: {omd.get('uid')}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != omd["resourceVersion"]:
                raise st.conflict(t.plural, t.group, name,
                                  f"Precondition failed: ResourceVersion in precondition: "
                                  f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                  f"{omd['resourceVersion']}")
            if dry:
                return cur
            if omd.get("finalizers"):
                if omd.get("deletionTimestamp"):
                    return cur
                new = cur.copy()
                new["metadata"]["deletionTimestamp"] = now()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                return self.store.put(t.rid, key, new)
            return self._remove(t, key, cur)

    def _remove(self, t, key, cur):
        cur = self.kinds.before_delete(t, key, cur) or cur
        entry = self.store.remove(t.rid, key)
        self.kinds.after_delete(t, entry)
        return entry

    def delete_collection(self, t, version, ns, query, opts):
        q = {k: v for k, v in query.items() if k in ("labelSelector", "fieldSelector")}
        with self.store.lock:
            rv, entries, _, _ = self.list(t, version, ns, q)
            out = []
            for e in entries:
                md = e.obj["metadata"]
                out.append(self.delete(t, version, md.get("namespace", ""), md["name"], opts,
                                       query))
            return self.store.rv, out

    def remove_all(self, rid, namespace=None):
        """Delete every object of a type (of a namespace): a CRD or a namespace going."""
        t = self.registry.by_rid(rid)
        with self.store.lock:
            for key in self.store.keys(rid):
                if namespace is None or key[0] == namespace:
                    cur = self.store.get(rid, key)
                    if t is not None:
                        self._remove(t, key, cur)
                    else:
                        self.store.remove(rid, key)
