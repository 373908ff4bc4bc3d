# patch.py — the three patch formats of PATCH requests:
#   application/merge-patch+json            RFC 7386 (maps merged, null deletes, lists replaced)
#   application/json-patch+json             RFC 6902 (add, remove, replace, move, copy, test)
#   application/strategic-merge-patch+json  Kubernetes' strategic merge, built-in types only
#
# Strategic merge, the subset implemented: maps merge recursively and null deletes a key;
# a list named in MERGE_KEYS below merges element-wise by its merge key (an element whose
# key matches is merged, a new key is appended); a list of scalars marked merge takes the
# union; every other list is replaced. Directives: `$patch: replace` and `$patch: delete`
# in a map, `$patch: delete` and `$patch: replace` as list elements,
# `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>` (orders the merged list),
# `$retainKeys` (keys of the map not listed are dropped). Custom resources refuse it (415)
# as the real server does.

import copy

from status import ApiError

# Merge keys of the lists of the built-in types that clients patch, by kind and path
# ("[]" stands for "every element of the list"). None: a list of scalars merged as a set.
_POD_SPEC = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "containers[].ports": "containerPort", "initContainers[].ports": "containerPort",
    "containers[].env": "name", "initContainers[].env": "name",
    "containers[].volumeMounts": "mountPath", "initContainers[].volumeMounts": "mountPath",
    "containers[].volumeDevices": "devicePath", "containers[].resizePolicy": "resourceName",
    "volumes": "name", "imagePullSecrets": "name", "hostAliases": "ip",
    "schedulingGates": "name", "resourceClaims": "name", "topologySpreadConstraints":
    "topologyKey",
}
_METADATA = {"metadata.finalizers": None, "metadata.ownerReferences": "uid"}


def _prefixed(prefix, table):
    return {f"{prefix}.{k}": v for k, v in table.items()}


MERGE_KEYS = {
    "Pod": {**_prefixed("spec", _POD_SPEC), "status.conditions": "type",
            "status.podIPs": "ip", "status.hostIPs": "ip"},
    "Node": {"spec.podCIDRs": None, "status.conditions": "type", "status.addresses": "type",
             "status.images": None},
    "Service": {"spec.ports": "port", "status.conditions": "type"},
    "ServiceAccount": {"secrets": "name", "imagePullSecrets": "name"},
    "Namespace": {"status.conditions": "type"},
    "DaemonSet": {**_prefixed("spec.template.spec", _POD_SPEC), "status.conditions": "type"},
    "Deployment": {**_prefixed("spec.template.spec", _POD_SPEC), "status.conditions": "type"},
    "CustomResourceDefinition": {"status.conditions": "type"},
}
# Kinds without lists worth merging still take strategic merge (maps merge).
STRATEGIC_KINDS = set(MERGE_KEYS) | {"ConfigMap", "Secret", "Endpoints", "Event",
                                     "NetworkPolicy", "EndpointSlice", "Lease", "ClusterRole",
                                     "ClusterRoleBinding", "Role", "RoleBinding"}


class PatchError(Exception):
    pass


# ---- RFC 7386 ---------------------------------------------------------------------
def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---- RFC 6902 ---------------------------------------------------------------------
def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise PatchError(f"doc is missing path: {'/' + '/'.join(parts)}")
            cur = cur[p]
        elif isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise PatchError(f"doc is missing path: {'/' + '/'.join(parts)}")
        else:
            raise PatchError(f"doc is missing path: {'/' + '/'.join(parts)}")
    return cur


def _add(doc, parts, value):
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                i = int(last)
            except ValueError:
                raise PatchError(f"invalid array index {last!r}")
            if i < 0 or i > len(parent):
                raise PatchError(f"add operation does not apply: index {i} out of bounds")
            parent.insert(i, value)
    else:
        raise PatchError(f"doc is missing path: {'/' + '/'.join(parts)}")
    return doc


def _remove(doc, parts):
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    try:
        if isinstance(parent, dict):
            return parent.pop(last)
        if isinstance(parent, list):
            return parent.pop(int(last))
    except (KeyError, ValueError, IndexError):
        pass
    raise PatchError(f"remove operation does not apply: doc is missing path: "
                     f"{'/' + '/'.join(parts)}")


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError("an operation needs an 'op'")
        kind, parts = op["op"], _pointer(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _walk(doc, parts)
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = _walk(doc, src)
            value = _remove(doc, src) if kind == "move" else copy.deepcopy(value)
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise PatchError(f"testing value {op.get('path')} failed: test failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return doc


# ---- strategic merge --------------------------------------------------------------
def strategic_merge(kind, target, patch):
    keys = dict(MERGE_KEYS.get(kind, {}))
    keys.update(_METADATA)
    return _smp_map(target if isinstance(target, dict) else {}, patch, "", keys)


def _child(path, k):
    return f"{path}.{k}" if path else k


def _smp_map(target, patch, path, keys):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    out = dict(target)
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(out.get(field), list):
                out[field] = [x for x in out[field] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
            continue
        p = _child(path, k)
        cur = out.get(k)
        if isinstance(v, dict):
            merged = _smp_map(cur if isinstance(cur, dict) else {}, v, p, keys)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list) and p in keys:
            out[k] = _smp_list(cur if isinstance(cur, list) else [], v, p, keys, keys[p])
        else:
            out[k] = copy.deepcopy(v)
    for k, order in patch.items():
        if k.startswith("$setElementOrder/"):
            field = k.split("/", 1)[1]
            p = _child(path, field)
            if isinstance(out.get(field), list) and p in keys:
                out[field] = _order(out[field], order, keys[p])
    if retain is not None:
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _smp_list(target, patch, path, keys, key):
    if key is None:  # scalars merged as a set
        out = list(target)
        for v in patch:
            if isinstance(v, dict) and v.get("$patch") == "replace":
                return [x for x in patch if not isinstance(x, dict)]
            if v not in out:
                out.append(v)
        return out
    if any(isinstance(e, dict) and e.get("$patch") == "replace" for e in patch):
        return [copy.deepcopy({k: v for k, v in e.items() if k != "$patch"})
                for e in patch if not (isinstance(e, dict) and e.get("$patch") == "replace"
                                       and len(e) == 1)]
    out = [copy.deepcopy(e) for e in target]
    elem_path = path + "[]"
    for e in patch:
        if not isinstance(e, dict) or key not in e:
            raise PatchError(f"map: {e} does not contain declared merge key: {key}")
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and
                    x.get(key) == e[key]), None)
        if e.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(_smp_map({}, e, elem_path, keys))
        else:
            out[idx] = _smp_map(out[idx], e, elem_path, keys)
    return out


def _order(items, order, key):
    """Items named in `order` first, in its order; the others after, as they were."""
    def ident(x):
        return x.get(key) if key is not None and isinstance(x, dict) else x
    wanted = [ident(o) for o in order]
    pos = {w: i for i, w in enumerate(wanted)}
    named = sorted((x for x in items if ident(x) in pos), key=lambda x: pos[ident(x)])
    return named + [x for x in items if ident(x) not in pos]


MERGE = "application/merge-patch+json"
JSON = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def apply(content_type, kind, builtin, target, patch):
    """The object `target` with `patch` applied; ApiError for a refused format."""
    try:
        if content_type == MERGE:
            return merge_patch(target, patch)
        if content_type == JSON:
            return json_patch(target, patch)
        if content_type == STRATEGIC:
            if not builtin or kind not in STRATEGIC_KINDS:
                raise ApiError(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted "
                               "media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml")
            out = strategic_merge(kind, target, patch)
            return out
    except PatchError as e:
        raise ApiError(422, "Invalid", str(e))
    except (TypeError, AttributeError, KeyError, ValueError) as e:
        raise ApiError(400, "BadRequest", f"the patch could not be applied: {e}")
    raise ApiError(415, "UnsupportedMediaType",
                   "the body of the request was in an unknown format - accepted media types "
                   "include: application/json-patch+json, application/merge-patch+json, "
                   "application/apply-patch+yaml" +
                   (", application/strategic-merge-patch+json" if builtin else ""))
