# client_cases.py — checks of the test API server through the official Python client
# (Debian's python3-kubernetes), one case per call:
#   python3 client_cases.py CASE STATE_DIR
# prints nothing and exits 0 when the case holds, else prints why and exits 1. Used by
# tests/integration/k8s_apiserver.sh; each case makes its own namespace.

import json
import os
import ssl
import sys
import threading
import time
import http.client

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

STATE = sys.argv[2] if len(sys.argv) > 2 else ""


def fail(msg):
    print(msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def core():
    config.load_kube_config(os.path.join(STATE, "kubeconfig"))
    return client.CoreV1Api()


def control(method, path, body=None):
    """The server's /_test/ interface, with the admin token."""
    ctx = ssl.create_default_context(cafile=os.path.join(STATE, "ca.crt"))
    port = int(open(os.path.join(STATE, "port")).read())
    token = open(os.path.join(STATE, "admin.token")).read().strip()
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    c.request(method, path, json.dumps(body) if body is not None else None,
              {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = c.getresponse()
    doc = json.loads(r.read() or b"null")
    check(r.status == 200, f"{method} {path}: {r.status} {doc}")
    return doc


def refused(what, call, *args, **kwargs):
    """The ApiException a call must end in; fails the case when it succeeds."""
    try:
        call(*args, **kwargs)
    except ApiException as e:
        return e
    fail(f"{what} was accepted")


def namespace(v1, name):
    try:
        v1.delete_namespace(name)
    except ApiException:
        pass
    v1.create_namespace({"metadata": {"name": name}})
    return name


def pod(name, labels=None, node=None):
    spec = {"containers": [{"name": "c", "image": "busybox:1.36"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def in_thread(fn, delay=0.3):
    def run():
        time.sleep(delay)
        fn()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


# ---- cases -------------------------------------------------------------------------
def case_list():
    v1 = core()
    ns = namespace(v1, "py-list")
    for i in range(5):
        v1.create_namespaced_pod(ns, pod(f"p{i}", {"i": str(i), "even": str(i % 2 == 0)}))
    pods = v1.list_namespaced_pod(ns)
    check(len(pods.items) == 5, f"listed {len(pods.items)} pods, want 5")
    rvs = {int(p.metadata.resource_version) for p in pods.items}
    check(max(rvs) <= int(pods.metadata.resource_version), "an item is newer than its list")
    check(len({p.metadata.uid for p in pods.items}) == 5, "uids are not distinct")
    sel = v1.list_namespaced_pod(ns, label_selector="even=True,i in (0,1,2,3)")
    check(sorted(p.metadata.name for p in sel.items) == ["p0", "p2"],
          f"label selector gave {[p.metadata.name for p in sel.items]}")
    sel = v1.list_namespaced_pod(ns, label_selector="i notin (0,1),!missing,i")
    check(len(sel.items) == 3, f"notin/!key/exists gave {len(sel.items)} pods, want 3")
    allp = v1.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={ns}")
    check(len(allp.items) == 5, "field selector metadata.namespace across namespaces")
    page = v1.list_namespaced_pod(ns, limit=2)
    check(len(page.items) == 2 and page.metadata._continue and
          page.metadata.remaining_item_count == 3, "limit=2 page: items, continue, remaining")
    e = refused("an unsupported field selector", v1.list_namespaced_pod, ns,
                field_selector="spec.bogus=1")
    check(e.status == 400 and "field label not supported: spec.bogus" in e.body,
          f"bad field selector: {e.status} {e.body}")


def case_watch():
    v1 = core()
    ns = namespace(v1, "py-watch")
    rv = v1.list_namespaced_pod(ns).metadata.resource_version

    def mutate():
        v1.create_namespaced_pod(ns, pod("w1", {"a": "1"}))
        v1.patch_namespaced_pod("w1", ns, {"metadata": {"labels": {"a": "2"}}})
        v1.delete_namespaced_pod("w1", ns)
    in_thread(mutate)
    seen = []
    for ev in watch.Watch().stream(v1.list_namespaced_pod, ns, resource_version=rv,
                                   timeout_seconds=20):
        o = ev["raw_object"]
        seen.append((ev["type"], o["metadata"]["name"], o["metadata"]["labels"].get("a")))
        if ev["type"] == "DELETED":
            break
    check(seen == [("ADDED", "w1", "1"), ("MODIFIED", "w1", "2"), ("DELETED", "w1", "2")],
          f"events {seen}")


def case_bookmarks():
    v1 = core()
    ns = namespace(v1, "py-bookmark")
    rv = int(v1.list_namespaced_pod(ns).metadata.resource_version)
    # A write elsewhere moves the revision on; the bookmark must carry it.
    v1.create_namespaced_config_map("default", {"metadata": {"generateName": "bm-"}})
    marks = []
    for ev in watch.Watch().stream(v1.list_namespaced_pod, ns, resource_version=str(rv),
                                   allow_watch_bookmarks=True, timeout_seconds=20):
        if ev["type"] == "BOOKMARK":
            marks.append(int(ev["raw_object"]["metadata"]["resourceVersion"]))
            if len(marks) == 2:
                break
    check(len(marks) == 2, f"saw {len(marks)} bookmarks in 20 s")
    check(marks[0] > rv, f"bookmark resourceVersion {marks[0]} is not past {rv}")


def case_expired():
    v1 = core()
    ns = namespace(v1, "py-expired")
    old = v1.list_namespaced_pod(ns).metadata.resource_version
    v1.create_namespaced_pod(ns, pod("e1"))
    control("POST", "/_test/compact", {})
    try:
        for ev in watch.Watch().stream(v1.list_namespaced_pod, ns, resource_version=old,
                                       timeout_seconds=5):
            fail(f"an event from a compacted revision: {ev['type']}")
        fail("the watch from a compacted revision ended without an error")
    except ApiException as e:
        check(e.status == 410 and "Expired: too old resource version" in str(e.reason),
              f"watch from a compacted revision: {e.status} {e.reason}")
    e = refused("an exact list at a compacted revision", v1.list_namespaced_pod, ns,
                resource_version=old, resource_version_match="Exact")
    check(e.status == 410 and "The resourceVersion for the provided list is too old" in e.body,
          f"exact list at a compacted revision: {e.status} {e.body}")


def case_continue_expired():
    v1 = core()
    ns = namespace(v1, "py-continue")
    for i in range(4):
        v1.create_namespaced_pod(ns, pod(f"c{i}"))
    page = v1.list_namespaced_pod(ns, limit=2)
    token = page.metadata._continue
    # An exact snapshot: a pod made after the first page is not in the second.
    v1.create_namespaced_pod(ns, pod("c9"))
    rest = v1.list_namespaced_pod(ns, limit=10, _continue=token)
    check([p.metadata.name for p in rest.items] == ["c2", "c3"],
          f"second page {[p.metadata.name for p in rest.items]}, want the snapshot's c2 c3")
    control("POST", "/_test/compact", {})
    e = refused("a continue token from a compacted revision", v1.list_namespaced_pod, ns,
                limit=2, _continue=token)
    body = json.loads(e.body)
    check(e.status == 410 and body["reason"] == "Expired" and
          "continue parameter is too old" in body["message"] and
          body["metadata"].get("continue"), f"compacted continue: {e.status} {e.body}")
    again = v1.list_namespaced_pod(ns, limit=10, _continue=body["metadata"]["continue"])
    check([p.metadata.name for p in again.items] == ["c2", "c3", "c9"],
          f"the inconsistent continue gave {[p.metadata.name for p in again.items]}")


def case_conflict():
    v1 = core()
    ns = namespace(v1, "py-conflict")
    p = v1.create_namespaced_pod(ns, pod("x1"))
    v1.patch_namespaced_pod("x1", ns, {"metadata": {"labels": {"moved": "on"}}})
    p.metadata.labels = {"stale": "yes"}
    e = refused("an update with a stale resourceVersion", v1.replace_namespaced_pod, "x1", ns,
                p)
    body = json.loads(e.body)
    check(e.status == 409 and body["reason"] == "Conflict" and
          body["message"] == 'Operation cannot be fulfilled on pods "x1": the object has '
          'been modified; please apply your changes to the latest version and try again',
          f"stale update: {e.status} {e.body}")
    e = refused("a second create of the same name", v1.create_namespaced_pod, ns, pod("x1"))
    check(e.status == 409 and json.loads(e.body)["reason"] == "AlreadyExists",
          f"duplicate create: {e.status} {e.body}")
    cur = v1.read_namespaced_pod("x1", ns)
    cur.metadata.labels = {"fresh": "yes"}
    got = v1.replace_namespaced_pod("x1", ns, cur)
    check(int(got.metadata.resource_version) > int(cur.metadata.resource_version),
          "a current update did not move the resourceVersion")
    check(got.metadata.generation == 1, f"a label change bumped generation to "
          f"{got.metadata.generation}")


def case_selector_watch():
    v1 = core()
    ns = namespace(v1, "py-selwatch")
    v1.create_namespaced_pod(ns, pod("s1", {"app": "web"}))
    rv = v1.list_namespaced_pod(ns).metadata.resource_version

    def mutate():
        v1.patch_namespaced_pod("s1", ns, {"metadata": {"labels": {"app": "db"}}})
        v1.patch_namespaced_pod("s1", ns, {"metadata": {"labels": {"app": "web"}}})
        v1.patch_namespaced_pod("s1", ns, {"metadata": {"labels": {"x": "y"}}})
    in_thread(mutate)
    seen = []
    for ev in watch.Watch().stream(v1.list_namespaced_pod, ns, resource_version=rv,
                                   label_selector="app=web", timeout_seconds=20):
        seen.append(ev["type"])
        if len(seen) == 3:
            break
    check(seen == ["DELETED", "ADDED", "MODIFIED"], f"selector watch events {seen}")


def case_fault_status():
    """429 and 503 with Retry-After (the client waits and retries), 500, a stall; each
    fault used up after its count."""
    v1 = core()
    ns = namespace(v1, "py-fault")
    path = f"/api/v1/namespaces/{ns}/pods"
    for code in (429, 503, 500):
        since = control("GET", "/_test/requests?since=0")["next"]
        control("POST", "/_test/faults", {"verb": "list", "path": f"{path}$", "status": code,
                                          "retryAfter": 1, "times": 1})
        t0 = time.monotonic()
        try:
            v1.list_namespaced_pod(ns)
            err = None
        except ApiException as e:
            err = e
        secs = time.monotonic() - t0
        got = [r["status"] for r in control("GET", f"/_test/requests?since={since}")["requests"]
               if r["path"] == path]
        if code == 500:
            check(err is not None and err.status == 500 and got == [500],
                  f"500: error {err!r}, statuses {got}")
            check("Internal error occurred" in err.body, f"500 body {err.body}")
        else:
            # urllib3 under the Python client honours Retry-After on 429 and 503.
            check(err is None and got == [code, 200] and secs >= 0.9,
                  f"{code}: error {err!r}, statuses {got} after {secs:.1f} s")
    control("POST", "/_test/faults", {"verb": "get", "path": "^/version/?$", "stall": 1.5})
    t0 = time.monotonic()
    client.VersionApi().get_code()
    check(time.monotonic() - t0 >= 1.4, "the stall did not delay the request")
    faults = control("GET", "/_test/faults")["faults"]
    check(all(f["remaining"] == 0 and f["hits"] == 1 for f in faults),
          f"faults not used once each: {faults}")
    control("DELETE", "/_test/faults")


def _watch_until_end(v1, ns, timeout):
    """(events, error, seconds): a watch run until the server ends it."""
    t0 = time.monotonic()
    evs, err = [], None
    try:
        for ev in watch.Watch().stream(v1.list_namespaced_pod, ns, timeout_seconds=timeout):
            evs.append(ev["type"])
    except Exception as e:  # noqa: BLE001 — which error is the point
        err = e
    return evs, err, time.monotonic() - t0


def _open_watches(ns):
    return sum(1 for w in control("GET", "/_test/watches")["watches"]
               if f"/namespaces/{ns}/" in w["path"])


def _wait(cond, seconds=15):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


def case_fault_watches():
    """Open watches dropped cleanly, cut mid-stream, sent 410; a watch answered 410."""
    v1 = core()
    ns = namespace(v1, "py-fwatch")
    out = {}
    for action in ("drop", "reset", "expire"):
        t = threading.Thread(target=lambda a=action: out.__setitem__(a, _watch_until_end(
            v1, ns, 60)))
        t.start()
        check(_wait(lambda: _open_watches(ns) == 1), f"{action}: the watch did not open")
        body = {"path": f"/namespaces/{ns}/", "reset": action == "reset"}
        n = control("POST", f"/_test/watches/{'expire' if action == 'expire' else 'drop'}", body)
        check(list(n.values()) == [1], f"{action}: acted on {n}")
        t.join(30)
        check(not t.is_alive(), f"{action}: the watch did not end")
    evs, err, secs = out["drop"]
    check(err is None and secs < 30, f"drop: error {err!r} after {secs:.1f} s")
    evs, err, secs = out["reset"]
    check(err is not None and not isinstance(err, ApiException),
          f"reset: the client saw no broken stream ({err!r})")
    evs, err, secs = out["expire"]
    check(isinstance(err, ApiException) and err.status == 410, f"expire: {err!r}")
    control("POST", "/_test/faults", {"verb": "watch", "path": f"/namespaces/{ns}/pods",
                                      "status": 410, "event": True, "times": 1})
    evs, err, secs = _watch_until_end(v1, ns, 10)
    check(isinstance(err, ApiException) and err.status == 410, f"injected 410 event: {err!r}")


def case_many_watches():
    """75 watches (5 clients x 15 types) held at once; each sees its own type's write."""
    ctx = ssl.create_default_context(cafile=os.path.join(STATE, "ca.crt"))
    port = int(open(os.path.join(STATE, "port")).read())
    token = open(os.path.join(STATE, "admin.token")).read().strip()
    types = [("api/v1", "configmaps", "ConfigMap", True), ("api/v1", "secrets", "Secret", True),
             ("api/v1", "pods", "Pod", True), ("api/v1", "services", "Service", True),
             ("api/v1", "endpoints", "Endpoints", True),
             ("api/v1", "serviceaccounts", "ServiceAccount", True),
             ("api/v1", "events", "Event", True), ("api/v1", "nodes", "Node", False),
             ("apis/networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", True),
             ("apis/discovery.k8s.io/v1", "endpointslices", "EndpointSlice", True),
             ("apis/coordination.k8s.io/v1", "leases", "Lease", True),
             ("apis/apps/v1", "daemonsets", "DaemonSet", True),
             ("apis/rbac.authorization.k8s.io/v1", "roles", "Role", True),
             ("apis/rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", False),
             ("apis/apps/v1", "deployments", "Deployment", True)]
    hdr = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def conn():
        return http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
    c = conn()
    c.request("GET", "/api/v1/namespaces", headers=hdr)
    rv = json.loads(c.getresponse().read())["metadata"]["resourceVersion"]
    seen, threads = {}, []

    def watch_one(i, base, plural):
        w = conn()
        w.request("GET", f"/{base}/{plural}?watch=true&resourceVersion={rv}&timeoutSeconds=40",
                  headers=hdr)
        r = w.getresponse()
        line = r.readline()
        seen[(i, plural)] = json.loads(line)["object"]["metadata"]["name"] if line else None
        w.close()
    for i in range(5):
        for base, plural, kind, _ in types:
            t = threading.Thread(target=watch_one, args=(i, base, plural), daemon=True)
            t.start()
            threads.append(t)
    check(_wait(lambda: control("GET", "/_test/state")["watches"] >= 75, 30),
          f"only {control('GET', '/_test/state')['watches']} watches open")
    for base, plural, kind, namespaced in types:
        obj = {"apiVersion": base.split("/", 1)[1] if base.startswith("apis/") else "v1",
               "kind": kind, "metadata": {"name": f"many-{plural}"}}
        if kind == "Pod":
            obj["spec"] = {"containers": [{"name": "c", "image": "x"}]}
        if kind in ("DaemonSet", "Deployment"):
            obj["spec"] = {"selector": {"matchLabels": {"a": "b"}}}
        if kind == "EndpointSlice":
            obj["addressType"] = "IPv4"
        path = f"/{base}/namespaces/default/{plural}" if namespaced else f"/{base}/{plural}"
        c.request("POST", path, json.dumps(obj), hdr)
        r = c.getresponse()
        body = r.read()
        check(r.status == 201, f"create {kind}: {r.status} {body[:200]}")
    for t in threads:
        t.join(30)
    wrong = {k: v for k, v in seen.items() if v != f"many-{k[1]}"}
    check(len(seen) == 75 and not wrong, f"{len(seen)} watches answered; wrong: {wrong}")


CASES = {n[5:]: f for n, f in globals().items() if n.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in CASES:
        print(f"usage: client_cases.py {{{','.join(CASES)}}} STATE_DIR")
        sys.exit(2)
    CASES[sys.argv[1]]()
