# tables.py — the server-side printing kubectl asks for (`Accept: ...;as=Table;g=meta.k8s.io`):
# a meta.k8s.io/v1 Table with column definitions and one row per object, the row's
# object reduced to PartialObjectMetadata unless the client asks includeObject=Object.
# Columns follow kubectl's usual output for the kinds tabby uses; other kinds print
# Name and Age, custom resources their additionalPrinterColumns (simple JSONPaths).

import calendar
import time

from store import dumps


def _age(ts):
    if not ts:
        return "<unknown>"
    try:
        then = calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return "<unknown>"
    s = max(0, int(time.time() - then))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 48:
        return f"{h}h"
    d = h // 24
    return f"{d}d"


def _col(name, typ="string", fmt="", priority=0, desc=""):
    return {"name": name, "type": typ, "format": fmt, "description": desc, "priority": priority}


NAME = _col("Name", fmt="name", desc="Name must be unique within a namespace.")
AGE = _col("Age", desc="CreationTimestamp is a timestamp representing the server time when "
           "this object was created.")


def _pod(o):
    spec, status = o.get("spec") or {}, o.get("status") or {}
    cs = status.get("containerStatuses") or []
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in cs)
    phase = status.get("reason") or status.get("phase") or "Unknown"
    if o["metadata"].get("deletionTimestamp"):
        phase = "Terminating"
    return [f"{ready}/{len(spec.get('containers') or [])}", phase, restarts,
            _age(o["metadata"].get("creationTimestamp")), status.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>", "<none>", "<none>"]


def _node(o):
    conds = (o.get("status") or {}).get("conditions") or []
    ready = next((c for c in conds if c.get("type") == "Ready"), None)
    state = "Ready" if ready and ready.get("status") == "True" else \
        ("NotReady" if ready else "Unknown")
    if (o.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = o["metadata"].get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels
                   if k.startswith("node-role.kubernetes.io/"))
    addrs = (o.get("status") or {}).get("addresses") or []
    internal = next((a.get("address") for a in addrs if a.get("type") == "InternalIP"), "<none>")
    return [state, ",".join(roles) or "<none>", _age(o["metadata"].get("creationTimestamp")),
            ((o.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", ""), internal]


def _selector(sel):
    if not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        parts.append(f"{e.get('key')} {str(e.get('operator', '')).lower()} "
                     f"({','.join(e.get('values') or [])})")
    return ",".join(parts) or "<none>"


TABLES = {
    "Pod": ([NAME, _col("Ready"), _col("Status"), _col("Restarts", "integer"), AGE,
             _col("IP", priority=1), _col("Node", priority=1),
             _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)], _pod),
    "Namespace": ([NAME, _col("Status"), AGE],
                  lambda o: [(o.get("status") or {}).get("phase", ""),
                             _age(o["metadata"].get("creationTimestamp"))]),
    "Node": ([NAME, _col("Status"), _col("Roles"), AGE, _col("Version"),
              _col("Internal-IP", priority=1)], _node),
    "NetworkPolicy": ([NAME, _col("Pod-Selector"), AGE],
                      lambda o: [_selector((o.get("spec") or {}).get("podSelector")) if
                                 (o.get("spec") or {}).get("podSelector") else "<none>",
                                 _age(o["metadata"].get("creationTimestamp"))]),
    "Service": ([NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"),
                 AGE],
                lambda o: [(o.get("spec") or {}).get("type", ""),
                           (o.get("spec") or {}).get("clusterIP", "<none>"), "<none>",
                           ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}"
                                    for p in (o.get("spec") or {}).get("ports") or []) or "<none>",
                           _age(o["metadata"].get("creationTimestamp"))]),
    "CustomResourceDefinition": ([NAME, _col("Created At", "date")],
                                 lambda o: [o["metadata"].get("creationTimestamp", "")]),
}


def _jsonpath(obj, path):
    cur = obj
    for part in path.strip().lstrip(".").split("."):
        if not part:
            continue
        if isinstance(cur, dict):
            cur = cur.get(part)
        else:
            return None
    return cur


def columns_of(t, version):
    """(column definitions, row function) for a type."""
    if t.crd is not None:
        pcs = (t.printer_columns or {}).get(version)
        if pcs:
            defs = [NAME] + [_col(c["name"], c.get("type", "string"), c.get("format", ""),
                                  c.get("priority", 0), c.get("description", "")) for c in pcs]

            def row(o, pcs=pcs):
                cells = []
                for c in pcs:
                    v = _jsonpath(o, c.get("jsonPath", ""))
                    if c.get("type") == "date" and v:
                        v = _age(v)
                    cells.append(v)
                return cells
            return defs, row
    if t.crd is None and t.kind in TABLES:
        return TABLES[t.kind]
    return [NAME, AGE], lambda o: [_age(o["metadata"].get("creationTimestamp"))]


def _partial(obj):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


def row(t, version, obj, include):
    _, fn = columns_of(t, version)
    r = {"cells": [obj["metadata"].get("name")] + fn(obj)}
    if include == "Object":
        r["object"] = obj
    elif include != "None":
        r["object"] = _partial(obj)
    return r


def table(t, version, objs, list_meta, include="Metadata", with_columns=True):
    defs, _ = columns_of(t, version)
    doc = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
           "columnDefinitions": defs if with_columns else None,
           "rows": [row(t, version, o, include) for o in objs]}
    if not with_columns:
        del doc["columnDefinitions"]
    return dumps(doc)
