#!/usr/bin/env python3
# kube_pod.py — the DaemonSet tabby-node of a manifest (manifests/tabby.yaml itself, not a
# copy) as the Pod a kubelet runs on one node, for `podman kube play` (which plays Pods,
# not DaemonSets). What the kubelet would add is added and nothing else: the service
# account folder and KUBERNETES_SERVICE_HOST/PORT, spec.nodeName for the fieldRefs, the
# node's own folders for the hostPath volumes (HOST_ROOT + the path), and podman's
# annotation keeping the init container. Writes OUT/pod.yaml and OUT/configmap.yaml (the
# ConfigMap tabby-config, for podman's --configmap), its tabby_backend BACKEND when given.
#
#   kube_pod.py MANIFEST OUT SA_DIR NODE API_HOST API_PORT [IMAGE] [BACKEND] [POD_NAME]
#               [HOST_ROOT]
# IMAGE: the containers' image ("" for the manifest's); POD_NAME: default tabby-node-NODE;
# HOST_ROOT: default OUT/host. KP_POD_ENV (environment), "NAME=VALUE …": a test's own
# settings for the tabby-node container, over the manifest's (none by default).
import os
import sys

import yaml

manifest, out, sa, node, api_host, port = sys.argv[1:7]
image, backend, pod_name, host_root = (sys.argv[7:] + ["", "", "", ""])[:4]
docs = [d for d in yaml.safe_load_all(open(manifest)) if d]
ds = next(d for d in docs if d["kind"] == "DaemonSet")
cm = next(d for d in docs if d["kind"] == "ConfigMap")
if backend:
    cm["data"]["tabby_backend"] = backend
spec = ds["spec"]["template"]["spec"]
for v in spec["volumes"]:                  # the node's own folders
    if "hostPath" in v:
        v["hostPath"]["path"] = (host_root or out + "/host") + v["hostPath"]["path"]
spec["volumes"].append({"name": "sa", "hostPath": {"path": sa, "type": "Directory"}})
for c in spec["initContainers"] + spec["containers"]:
    if image:
        c["image"] = image
    for e in c.get("env", []):             # the kubelet resolves spec.nodeName
        ref = e.get("valueFrom", {}).get("fieldRef", {})
        if ref.get("fieldPath") == "spec.nodeName":
            e.pop("valueFrom")
            e["value"] = node
    c.setdefault("env", []).extend([{"name": "KUBERNETES_SERVICE_HOST", "value": api_host},
                                    {"name": "KUBERNETES_SERVICE_PORT", "value": port}])
    c.setdefault("volumeMounts", []).append(
        {"name": "sa", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
         "readOnly": True})
for c in spec["containers"]:
    extra = dict(kv.split("=", 1) for kv in os.environ.get("KP_POD_ENV", "").split())
    if c["name"] == "tabby-node" and extra:
        c["env"] = [e for e in c["env"] if e["name"] not in extra] + \
            [{"name": k, "value": v} for k, v in extra.items()]
# podman 4.3 removes a "once" init container when it exits and races its own clean-up
# ("cannot remove container … as it is running"): keep it, as the kubelet does.
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": pod_name or "tabby-node-" + node, "namespace": "kube-system",
                    "labels": ds["spec"]["template"]["metadata"]["labels"],
                    "annotations": {"io.podman.annotations.init.container.type": "always"}},
       "spec": spec}
yaml.safe_dump(pod, open(out + "/pod.yaml", "w"), sort_keys=False)
yaml.safe_dump(cm, open(out + "/configmap.yaml", "w"), sort_keys=False)
