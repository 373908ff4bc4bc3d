#!/usr/bin/env python3
# node_load.py — the load of the node benches (bench/node_bench.sh, node_k8s_bench.sh):
# ENDPOINTS endpoints labelled app=app-<i%50>, role=r-<i%20> in 10 namespaces ns-<i%10>,
# at 10.<100+i/65536>.<i/256%256>.<i%256>; the first LOCAL of them on the first of NODES,
# the next LOCAL on the second, ...; the rest on 100-endpoint nodes far-<i/100> elsewhere.
# POLICIES policies: policy j lets role r-<j%20> reach app-<j%50> on one of 100 ports.
#
#   node_load.py calico ENDPOINTS POLICIES LOCAL [NODES]   WorkloadEndpoints, then the
#                                                          policies (Calico YAML, stdout)
#   node_load.py weps ENDPOINTS LOCAL [NODES]              the endpoints only
#   node_load.py policies POLICIES                         the policies only
#   node_load.py pods STATE ENDPOINTS LOCAL [NODES]        the endpoints as running Pods
#       (and their Namespaces) written into the test API server's --state file while it
#       is stopped, as the server stores them: a restart serves them at once. 10,000 pods
#       through the API take minutes of requests; the bench measures the node, not that.
#       The watch history is emptied (a restart that forgot it): nothing watches yet.
import json
import os
import sys
import time
import uuid

w = sys.stdout.write


def nodes_of(argv, i):
    return (argv[i] if len(argv) > i else "n1").split(",")


def place(i, local, nodes):
    return nodes[i // local] if local and i < local * len(nodes) else "far-%d" % (i // 100)


def ip(i):
    return "10.%d.%d.%d" % (100 + i // 65536, i // 256 % 256, i % 256)


def weps(n, local, nodes):
    for i in range(n):
        node = place(i, local, nodes)
        ns = "ns-%d" % (i % 10)
        w("apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n"
          "  name: %s-k8s-p%d-eth0\n  namespace: %s\n  labels:\n"
          "    projectcalico.org/namespace: %s\n    projectcalico.org/orchestrator: k8s\n"
          "    app: app-%d\n    role: r-%d\nspec:\n  orchestrator: k8s\n  node: %s\n"
          "  pod: p%d\n  endpoint: eth0\n  interfaceName: tbb%08x\n"
          "  ipNetworks: [%s/32]\n  profiles: [kns.%s]\n---\n"
          % (node, i, ns, ns, i % 50, i % 20, node, i, i, ip(i), ns))


def policies(p):
    for j in range(p):
        w("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n"
          "  name: pol-%d\n  namespace: ns-%d\nspec:\n  selector: app == \"app-%d\"\n"
          "  ingress:\n  - action: Allow\n    protocol: TCP\n"
          "    source: {selector: role == \"r-%d\"}\n    destination: {ports: [%d]}\n---\n"
          % (j, j % 10, j % 50, j % 20, 8000 + j % 100))


def pods(state, n, local, nodes):
    with open(state) as f:
        doc = json.load(f)
    rv = doc["rv"]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def meta(name, ns=None, labels=None):
        nonlocal rv
        rv += 1
        md = {"name": name, "uid": str(uuid.uuid4()), "resourceVersion": str(rv),
              "generation": 1, "creationTimestamp": stamp, "labels": labels or {}}
        if ns is not None:
            md["namespace"] = ns
        return md

    have = {(o[0], o[2]) for o in doc["objects"]}
    for k in range(10):
        name = "ns-%d" % k
        if ("/namespaces", name) not in have:
            doc["objects"].append(["/namespaces", "", name, {
                "kind": "Namespace", "apiVersion": "v1",
                "metadata": meta(name, labels={"kubernetes.io/metadata.name": name}),
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}])
    for i in range(n):
        ns, name = "ns-%d" % (i % 10), "p%d" % i
        doc["objects"].append(["/pods", ns, name, {
            "kind": "Pod", "apiVersion": "v1",
            "metadata": meta(name, ns, {"app": "app-%d" % (i % 50), "role": "r-%d" % (i % 20)}),
            "spec": {"nodeName": place(i, local, nodes),
                     "containers": [{"name": "c0", "image": "test"}]},
            "status": {"phase": "Running", "podIP": ip(i), "podIPs": [{"ip": ip(i)}]}}])
    doc["rv"] = rv
    doc["compacted"] = rv
    doc["history"] = []
    with open(state + ".tmp", "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    os.replace(state + ".tmp", state)


def main(a):
    if a[1] == "calico":
        weps(int(a[2]), int(a[4]), nodes_of(a, 5))
        policies(int(a[3]))
    elif a[1] == "weps":
        weps(int(a[2]), int(a[3]), nodes_of(a, 4))
    elif a[1] == "policies":
        policies(int(a[2]))
    elif a[1] == "pods":
        pods(a[2], int(a[3]), int(a[4]), nodes_of(a, 5))
    else:
        sys.exit("node_load.py: unknown kind %s" % a[1])


if __name__ == "__main__":
    main(sys.argv)
