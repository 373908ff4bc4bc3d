#!/usr/bin/env python3
# node_change.py — the changes of bench/node_k8s_bench.sh and how long each takes to reach
# the nodes' nftables: `nft monitor` runs in every node's namespace, each line stamped as
# it comes, and a change counts as programmed on a node at the first line after its start
# that carries it. CHANGES changes of each kind, one at a time:
#   pod_add      a pod on NODE (labels app=app-<k%50>, role=r-<k%20>, address 10.99.x.y):
#                on k8s the Pod created and its status written (IP, Running) as a kubelet
#                does, over one kept-alive connection; on sqlite its WorkloadEndpoint
#                applied with tabbyctl, as the CNI plugin records it. Programmed: the
#                address added to an IP set.
#   label        that pod's role label changed (a merge patch of the Pod; tabbyctl apply of
#                the endpoint): the address added to the new role's set.
#   policy_add   a NetworkPolicy applied with tabbyctl on both stores (on k8s a custom
#                resource): a rule with its new port (9000+k).
#
#   node_change.py summary RUN.json…   node_k8s_bench.sh's runs as ranges, ratios, goals
#   node_change.py CONFIG.json   prints {"pod_add": {"n1": [ms…], …}, "write_ms": {…},
#                                "timeouts": N} (a change not seen in TIMEOUT s is left out
#                                and counted)
# CONFIG: {"store": "k8s"|"sqlite", "netns": {NODE: NETNS}, "changes": N, "node": NODE,
# "tabbyctl": [ARGV to "apply -f FILE"], "tmp": DIR, "timeout": S, and on k8s
# "api": {"url", "ca", "token"}}. Run it where the datastore is reachable.
import http.client
import json
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse


def now_ms():
    return time.time() * 1000.0


class Monitor(threading.Thread):
    def __init__(self, netns):
        super().__init__(daemon=True)
        self.proc = subprocess.Popen(["ip", "netns", "exec", netns, "stdbuf", "-oL", "nft",
                                      "monitor"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.lines = []
        self.cv = threading.Condition()

    def run(self):
        for line in self.proc.stdout:
            with self.cv:
                self.lines.append((now_ms(), line))
                self.cv.notify_all()

    def seen(self, rx, t0, deadline):
        """ms from t0 to the first line after t0 matching rx, or None at the deadline."""
        i = 0
        with self.cv:
            while True:
                while i < len(self.lines):
                    t, line = self.lines[i]
                    i += 1
                    if t >= t0 and rx.search(line):
                        return t - t0
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cv.wait(left)

    def quiet(self, ms, most):
        """Waits until no line came for ms (most: seconds at most)."""
        end = time.monotonic() + most
        while time.monotonic() < end:
            with self.cv:
                last = self.lines[-1][0] if self.lines else 0
            if now_ms() - last >= ms:
                return
            time.sleep(ms / 4000.0)


class Api:
    def __init__(self, cfg):
        u = urllib.parse.urlsplit(cfg["url"])
        ctx = ssl.create_default_context(cafile=cfg["ca"])
        self.conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
        self.token = open(cfg["token"]).read().strip()

    def call(self, method, path, body, ctype="application/json"):
        self.conn.request(method, path, None if body is None else json.dumps(body),
                          {"Authorization": "Bearer " + self.token, "Content-Type": ctype})
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            sys.exit("node_change.py: %s %s: %d %s" % (method, path, r.status, data[:300]))
        return json.loads(data)


def pod_ip(k):
    return "10.99.%d.%d" % (k // 256, k % 256)


def wep_yaml(node, k, role):
    ns = "ns-%d" % (k % 10)
    return ("apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n"
            "  name: %s-k8s-bench-%d-eth0\n  namespace: %s\n  labels:\n"
            "    projectcalico.org/namespace: %s\n    projectcalico.org/orchestrator: k8s\n"
            "    app: app-%d\n    role: %s\nspec:\n  orchestrator: k8s\n  node: %s\n"
            "  pod: bench-%d\n  endpoint: eth0\n  interfaceName: tbc%08x\n"
            "  ipNetworks: [%s/32]\n  profiles: [kns.%s]\n"
            % (node, k, ns, ns, k % 50, role, node, k, k, pod_ip(k), ns))


def policy_yaml(k):
    return ("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n"
            "  name: bench-pol-%d\n  namespace: ns-%d\nspec:\n  selector: app == \"app-%d\"\n"
            "  ingress:\n  - action: Allow\n    protocol: TCP\n"
            "    source: {selector: role == \"r-%d\"}\n    destination: {ports: [%d]}\n"
            % (k, k % 10, k % 50, k % 20, 9000 + k))


def main():
    cfg = json.load(open(sys.argv[1]))
    k8s = cfg["store"] == "k8s"
    api = Api(cfg["api"]) if k8s else None
    node = cfg["node"]
    timeout = cfg.get("timeout", 30)
    mons = {n: Monitor(ns) for n, ns in cfg["netns"].items()}
    for m in mons.values():
        m.start()
    time.sleep(1)  # nft monitor listening (its own start prints nothing)
    out = {"write_ms": {}, "timeouts": 0}

    def tabbyctl(text):
        path = "%s/change.yaml" % cfg["tmp"]
        with open(path, "w") as f:
            f.write(text)
        subprocess.run(cfg["tabbyctl"] + ["apply", "-f", path], check=True,
                       stdout=subprocess.DEVNULL)

    def pod_add(k):
        if not k8s:
            return tabbyctl(wep_yaml(node, k, "r-%d" % (k % 20)))
        ns, name = "ns-%d" % (k % 10), "bench-%d" % k
        api.call("POST", "/api/v1/namespaces/%s/pods" % ns, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "app-%d" % (k % 50),
                                                  "role": "r-%d" % (k % 20)}},
            "spec": {"nodeName": node, "containers": [{"name": "c0", "image": "test"}]}})
        api.call("PATCH", "/api/v1/namespaces/%s/pods/%s/status" % (ns, name),
                 {"status": {"phase": "Running", "podIP": pod_ip(k),
                             "podIPs": [{"ip": pod_ip(k)}]}}, "application/merge-patch+json")

    def label(k):
        # a namespaced policy's selectors see its own namespace: policy j (ns-<j%10>)
        # selects role r-<j%20>, so the role set that k's namespace can join is k+10's
        role = "r-%d" % ((k + 10) % 20)
        if not k8s:
            return tabbyctl(wep_yaml(node, k, role))
        api.call("PATCH", "/api/v1/namespaces/ns-%d/pods/bench-%d" % (k % 10, k),
                 {"metadata": {"labels": {"role": role}}}, "application/merge-patch+json")

    def policy_add(k):
        tabbyctl(policy_yaml(k))

    kinds = [("pod_add", pod_add, lambda k: r"add element .*\b%s\b" % re.escape(pod_ip(k))),
             ("label", label, lambda k: r"add element .*\b%s\b" % re.escape(pod_ip(k))),
             ("policy_add", policy_add, lambda k: r"add rule .*dport %d\b" % (9000 + k))]
    out["traffic"] = {}
    for kind, do, pattern in kinds:
        if k8s:
            before = api.call("GET", "/_test/traffic", None)["addresses"]
        t_kind = time.monotonic()
        out[kind] = {n: [] for n in mons}
        out["write_ms"][kind] = []
        for k in range(cfg["changes"]):
            for m in mons.values():
                m.quiet(300, 5)
            rx = re.compile(pattern(k))
            t0 = now_ms()
            do(k)
            out["write_ms"][kind].append(round(now_ms() - t0, 1))
            deadline = time.monotonic() + timeout
            for n, m in mons.items():
                ms = m.seen(rx, t0, deadline)
                if ms is None:
                    out["timeouts"] += 1
                    with m.cv:
                        after = [line for t, line in m.lines if t >= t0][:20]
                    sys.stderr.write("node_change.py: %s %d not seen on %s (%s); after it:\n%s"
                                     % (kind, k, n, rx.pattern, "".join(after)))
                else:
                    out[kind][n].append(round(ms, 1))
        if k8s:
            out["traffic"][kind] = {"seconds": round(time.monotonic() - t_kind, 3),
                                    "before": before,
                                    "after": api.call("GET", "/_test/traffic", None)["addresses"]}
    for m in mons.values():
        m.proc.terminate()
    json.dump(out, sys.stdout)
    print()


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else float("nan")


def span(v, fmt="%.0f"):
    v = [x for x in v if x is not None]
    if not v:
        return "-"
    lo, hi = min(v), max(v)
    return (fmt % lo) if fmt % lo == fmt % hi else "%s-%s" % (fmt % lo, fmt % hi)


def delta(before, after, addr, key):
    b = (before or {}).get(addr, {}).get(key, 0)
    return (after or {}).get(addr, {}).get(key, 0) - b


def figures(run):
    """{metric: value} of one run."""
    f = {}
    for n in ("n1", "n2"):
        f["ready_ms " + n] = run["ready_ms"][n]
        f["start_cpu_ms " + n] = 1000.0 * run["start_ticks"][n] / run["hz"]
        f["rss_mb " + n] = run["rss_kb"][n] / 1024.0
        if "anon_kb" in run:
            f["anon_mb " + n] = run["anon_kb"][n] / 1024.0
        f["peak_mb " + n] = run["hwm_kb"][n] / 1024.0
        f["idle_cpu_% " + n] = 100.0 * run["idle_ticks"][n] / run["hz"] / 10
    ch = run["changes"]
    for kind in ("pod_add", "label", "policy_add"):
        lat = [x for n in ch[kind] for x in ch[kind][n]]
        f[kind + " p50_ms"] = pct(lat, 50)
        f[kind + " p90_ms"] = pct(lat, 90)
        f[kind + " write_ms"] = pct(ch["write_ms"][kind], 50)
    f["timeouts"] = ch["timeouts"]
    if run["store"] != "k8s":
        for n in ("n1", "n2"):
            f["ready_ms - api_ms " + n] = run["ready_ms"][n]  # no API server to wait for
        return f
    st, tr = run["start_traffic"], ch["traffic"]
    secs = sum(t["seconds"] for t in tr.values())
    api_s = run["api_cpu_ticks"] / run["hz"]
    f["api_cpu_% during changes"] = 100.0 * api_s / secs
    for n in ("n1", "n2"):
        ms = run.get("start_server_ms", {}).get(n)
        if ms is not None:
            # the Python double's own time answering the node's start (a real server
            # answers from its watch cache): ready without it, roughly
            f["api_ms serving start " + n] = ms
            f["ready_ms - api_ms " + n] = run["ready_ms"][n] - ms
    for n, addr in run["nodes"].items():
        row = st["addresses"].get(addr, {})
        f["start requests " + n] = row.get("requests", 0)
        f["start MB " + n] = row.get("bytes_out", 0) / 1e6
        f["start lists " + n] = sum(v for k, v in row.get("by", {}).items()
                                     if k.startswith("list "))
        for kind, t in tr.items():
            nk = max(1, len(ch[kind][n]))
            f["%s bytes/change %s" % (kind, n)] = delta(t["before"], t["after"], addr,
                                                        "bytes_out") / nk
        f["req/s changes " + n] = sum(delta(t["before"], t["after"], addr, "requests")
                                      for t in tr.values()) / secs
        last = tr["policy_add"]["after"].get(addr, {})
        f["watches open " + n] = last.get("watches_open", 0)
        it = run["idle_traffic"]
        idle_s = it["after"]["now"] - it["before"]["now"]
        f["req/s idle " + n] = delta(it["before"]["addresses"], it["after"]["addresses"], addr,
                                     "requests") / idle_s
        f["bytes/s idle " + n] = delta(it["before"]["addresses"], it["after"]["addresses"],
                                       addr, "bytes_out") / idle_s
    return f


def summary(paths):
    runs = {}
    loads = []
    for p in paths:
        run = json.load(open(p))
        runs.setdefault(run["store"], []).append(figures(run))
        loads.append(run["load"].split()[0])
    sq, k8 = runs.get("sqlite", []), runs.get("k8s", [])
    if not sq or not k8:
        print("summary: runs of both stores needed (sqlite %d, k8s %d)" % (len(sq), len(k8)))
    keys = list((k8 or sq)[0].keys())
    print("%-32s %16s %16s %8s" % ("figure (range over runs)", "sqlite", "k8s", "k8s/sql"))
    med = {}
    for k in keys:
        a = [r[k] for r in sq if k in r]
        b = [r[k] for r in k8 if k in r]
        fmt = "%.1f" if any(isinstance(x, float) and abs(x) < 100 for x in a + b) else "%.0f"
        ratio = ""
        if a and b and pct(a, 50):
            med[k] = pct(b, 50) / pct(a, 50)
            ratio = "%.2f" % med[k]
        print("%-32s %16s %16s %8s" % (k, span(a, fmt), span(b, fmt), ratio))
    print("runs: sqlite %d, k8s %d; load average at their starts: %s" %
          (len(sq), len(k8), " ".join(loads)))
    print("goals (issue 14: k8s within 10% of sqlite; ratio of the medians over runs):")
    for k in ("ready_ms n1", "ready_ms n2", "ready_ms - api_ms n1", "ready_ms - api_ms n2",
              "start_cpu_ms n1", "start_cpu_ms n2", "rss_mb n1", "rss_mb n2", "anon_mb n1",
              "anon_mb n2", "peak_mb n1", "peak_mb n2"):
        if k in med:
            print("  %-22s k8s/sqlite %.2f  %s" % (k, med[k], "met" if med[k] <= 1.10 else
                                                   "MISSED"))
    print("(ready_ms - api_ms: ready less the test double's own time answering that node's\n"
          " requests, i.e. roughly ready on a server answering from its watch cache; the\n"
          " sqlite changes' latency includes tabbyctl's run, see write_ms)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "summary":
        summary(sys.argv[2:])
    else:
        main()
