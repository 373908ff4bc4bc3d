# protobuf.py — request bodies in Kubernetes' protobuf encoding, decoded to the JSON
# form. kubectl's typed clients (`kubectl create namespace|configmap|secret|
# serviceaccount|token|role|rolebinding|clusterrole|clusterrolebinding`, `kubectl auth
# can-i`, `kubectl auth whoami`) send protobuf and there is no way to make them send
# JSON; answers may stay JSON (they accept it). Only the kinds below are known (field
# numbers from the k8s.io/api generated.proto files); any other protobuf body is
# refused with 415. The envelope: the bytes "k8s\0", then a runtime.Unknown message
# (typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2: the object's own message).

import base64
import struct
import time

import status as st

S, B, I, BOOL, TIME = "string", "bytes", "int", "bool", "time"


def _f(name, typ, repeated=False):
    return (name, typ, repeated)


def _map(name, value_type):
    return (name, ("map", value_type), False)


OBJECT_META = {
    1: _f("name", S), 2: _f("generateName", S), 3: _f("namespace", S), 4: _f("selfLink", S),
    5: _f("uid", S), 6: _f("resourceVersion", S), 7: _f("generation", I),
    8: _f("creationTimestamp", TIME), 9: _f("deletionTimestamp", TIME),
    10: _f("deletionGracePeriodSeconds", I), 11: _map("labels", S), 12: _map("annotations", S),
    13: _f("ownerReferences", "OwnerReference", True), 14: _f("finalizers", S, True),
}

MESSAGES = {
    "ObjectMeta": OBJECT_META,
    "OwnerReference": {5: _f("apiVersion", S), 1: _f("kind", S), 3: _f("name", S),
                       4: _f("uid", S), 6: _f("controller", BOOL),
                       7: _f("blockOwnerDeletion", BOOL)},
    "Namespace": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: _f("finalizers", S, True)},
    "ConfigMap": {1: _f("metadata", "ObjectMeta"), 2: _map("data", S), 3: _map("binaryData", B),
                  4: _f("immutable", BOOL)},
    "Secret": {1: _f("metadata", "ObjectMeta"), 2: _map("data", B), 3: _f("type", S),
               4: _map("stringData", S), 5: _f("immutable", BOOL)},
    "ServiceAccount": {1: _f("metadata", "ObjectMeta"), 2: _f("secrets", "ObjectReference", True),
                       3: _f("imagePullSecrets", "LocalObjectReference", True),
                       4: _f("automountServiceAccountToken", BOOL)},
    "ObjectReference": {1: _f("kind", S), 2: _f("namespace", S), 3: _f("name", S),
                        4: _f("uid", S), 5: _f("apiVersion", S), 6: _f("resourceVersion", S),
                        7: _f("fieldPath", S)},
    "LocalObjectReference": {1: _f("name", S)},
    "TokenRequest": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "TokenRequestSpec")},
    "TokenRequestSpec": {1: _f("audiences", S, True), 4: _f("expirationSeconds", I),
                         3: _f("boundObjectRef", "BoundObjectReference")},
    "BoundObjectReference": {1: _f("kind", S), 2: _f("apiVersion", S), 3: _f("name", S),
                             4: _f("uid", S)},
    "SelfSubjectReview": {1: _f("metadata", "ObjectMeta")},
    "SelfSubjectAccessReview": {1: _f("metadata", "ObjectMeta"),
                                2: _f("spec", "SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {1: _f("resourceAttributes", "ResourceAttributes"),
                                    2: _f("nonResourceAttributes", "NonResourceAttributes")},
    "ResourceAttributes": {1: _f("namespace", S), 2: _f("verb", S), 3: _f("group", S),
                           4: _f("version", S), 5: _f("resource", S), 6: _f("subresource", S),
                           7: _f("name", S)},
    "NonResourceAttributes": {1: _f("path", S), 2: _f("verb", S)},
    "SelfSubjectRulesReview": {1: _f("metadata", "ObjectMeta"),
                               2: _f("spec", "SelfSubjectRulesReviewSpec")},
    "SelfSubjectRulesReviewSpec": {1: _f("namespace", S)},
    "SubjectAccessReview": {1: _f("metadata", "ObjectMeta"),
                            2: _f("spec", "SubjectAccessReviewSpec")},
    "SubjectAccessReviewSpec": {1: _f("resourceAttributes", "ResourceAttributes"),
                                2: _f("nonResourceAttributes", "NonResourceAttributes"),
                                3: _f("user", S), 4: _f("groups", S, True),
                                5: _map("extra", "ExtraValue"), 6: _f("uid", S)},
    "ExtraValue": {1: _f("items", S, True)},
    "Role": {1: _f("metadata", "ObjectMeta"), 2: _f("rules", "PolicyRule", True)},
    "ClusterRole": {1: _f("metadata", "ObjectMeta"), 2: _f("rules", "PolicyRule", True),
                    3: _f("aggregationRule", "AggregationRule")},
    "RoleBinding": {1: _f("metadata", "ObjectMeta"), 2: _f("subjects", "Subject", True),
                    3: _f("roleRef", "RoleRef")},
    "PolicyRule": {1: _f("verbs", S, True), 2: _f("apiGroups", S, True),
                   3: _f("resources", S, True), 4: _f("resourceNames", S, True),
                   5: _f("nonResourceURLs", S, True)},
    "Subject": {1: _f("kind", S), 2: _f("apiGroup", S), 3: _f("name", S),
                4: _f("namespace", S)},
    "RoleRef": {1: _f("apiGroup", S), 2: _f("kind", S), 3: _f("name", S)},
    "AggregationRule": {1: _f("clusterRoleSelectors", "LabelSelector", True)},
    "LabelSelector": {1: _map("matchLabels", S),
                      2: _f("matchExpressions", "LabelSelectorRequirement", True)},
    "LabelSelectorRequirement": {1: _f("key", S), 2: _f("operator", S), 3: _f("values", S, True)},
    "DeleteOptions": {1: _f("gracePeriodSeconds", I), 2: _f("preconditions", "Preconditions"),
                      3: _f("orphanDependents", BOOL), 4: _f("propagationPolicy", S),
                      5: _f("dryRun", S, True)},
    "Preconditions": {1: _f("uid", S), 2: _f("resourceVersion", S)},
    "Time": {1: _f("seconds", I), 2: _f("nanos", I)},
}
MESSAGES["ClusterRoleBinding"] = MESSAGES["RoleBinding"]
TYPE_META = {1: _f("apiVersion", S), 2: _f("kind", S)}
UNKNOWN = {1: _f("typeMeta", "TypeMeta"), 2: _f("raw", B)}
MESSAGES["TypeMeta"] = TYPE_META
MESSAGES["Unknown"] = UNKNOWN

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


class DecodeError(Exception):
    pass


def _varint(buf, i):
    shift, out = 0, 0
    while True:
        if i >= len(buf):
            raise DecodeError("truncated varint")
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            return out, i
        shift += 7


def _fields(buf):
    """(number, wire type, value) of each field of a message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise DecodeError(f"unsupported wire type {wt}")
        yield num, wt, v


def _scalar(typ, wt, v):
    if typ == S:
        return bytes(v).decode()
    if typ == B:
        return base64.b64encode(bytes(v)).decode()
    if typ == BOOL:
        return bool(v)
    if typ == I:
        if wt == 1:
            return struct.unpack("<q", v)[0]
        return v - (1 << 64) if v >= 1 << 63 else v
    raise DecodeError(f"bad scalar {typ}")


def _value(typ, wt, v):
    if typ == TIME:
        t = decode_message("Time", v)
        if not t.get("seconds"):
            return None
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t["seconds"]))
    if typ in MESSAGES:
        return decode_message(typ, v)
    if wt == 2 and typ in (I, BOOL):  # packed repeated numbers: not used by these kinds
        raise DecodeError("packed repeated scalars are not supported")
    return _scalar(typ, wt, v)


def decode_message(name, buf):
    schema = MESSAGES[name]
    out = {}
    for num, wt, v in _fields(buf):
        if num not in schema:
            continue
        fname, typ, repeated = schema[num]
        if isinstance(typ, tuple):  # map entry: key = 1, value = 2
            key, val = "", None
            for n2, wt2, v2 in _fields(v):
                if n2 == 1:
                    key = bytes(v2).decode()
                elif n2 == 2:
                    val = _value(typ[1], wt2, v2)
            if val is None:
                val = "" if typ[1] in (S, B) else {}
            out.setdefault(fname, {})[key] = val
            continue
        val = _value(typ, wt, v)
        if repeated:
            out.setdefault(fname, []).append(val)
        elif val is not None and val != "":
            out[fname] = val
    return out


def decode(body):
    """The JSON form of a protobuf request body; 415 for kinds not known here."""
    if body[:4] != b"k8s\x00":
        raise st.bad_request("the body of the request is not in Kubernetes' protobuf envelope")
    try:
        env = decode_message("Unknown", body[4:])
        tm = env.get("typeMeta") or {}
        kind = tm.get("kind", "")
        if kind not in MESSAGES or kind in ("TypeMeta", "Unknown", "Time", "ObjectMeta"):
            raise st.ApiError(415, "UnsupportedMediaType",
                              f"the body of the request was in an unknown format - the test API "
                              f"server decodes protobuf only for some kinds, not {kind!r}; "
                              "accepted media types include: application/json")
        raw = base64.b64decode(env.get("raw", ""))
        obj = {"kind": kind, "apiVersion": tm.get("apiVersion", "")}
        obj.update(decode_message(kind, raw))
        return obj
    except (DecodeError, UnicodeDecodeError, IndexError, struct.error) as e:
        raise st.bad_request(f"the protobuf body could not be decoded: {e}")
