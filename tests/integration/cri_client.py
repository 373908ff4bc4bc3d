#!/usr/bin/python3
# cri_client.py — a few calls of the Kubernetes Container Runtime Interface (runtime.v1),
# the ones the kubelet makes to give a pod its sandbox and take it away, sent to a
# containerd's CRI plugin over its gRPC socket. The runtime then runs the CNI plugins
# itself, with the CNI_ARGS a Kubernetes node passes (K8S_POD_NAMESPACE, K8S_POD_NAME,
# K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID).
#
#   cri_client.py --socket SOCK --api DIR COMMAND ARGS…
#     version                       RUNTIME-NAME RUNTIME-VERSION CRI-VERSION
#     run NAMESPACE NAME UID        RunPodSandbox; prints the sandbox's id
#     status ID…                    PodSandboxStatus of each as one JSON line: state,
#                                   ip, more ips, metadata, the netns path (from the
#                                   verbose info)
#     stop ID / remove ID           StopPodSandbox / RemovePodSandbox
#     list                          the sandboxes' ids, one a line
#     clean                         stops and removes every sandbox (for an EXIT trap)
#
# DIR holds api_pb2.py and api_pb2_grpc.py, which the test generates from the cri-api
# proto (the project keeps no generated or third-party file). Errors go to standard error
# with status 1.
import argparse
import json
import sys

import grpc


def sandbox_config(api, namespace, name, uid):
    return api.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name=name, namespace=namespace, uid=uid, attempt=0),
        hostname=name,
        labels={"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": namespace,
                "io.kubernetes.pod.uid": uid},
        linux=api.LinuxPodSandboxConfig(
            security_context=api.LinuxSandboxSecurityContext(
                namespace_options=api.NamespaceOption(network=api.POD, pid=api.POD,
                                                      ipc=api.POD))))


def status(api, rt, sid):
    st = rt.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=sid, verbose=True))
    s = st.status
    netns = ""
    info = st.info.get("info")
    if info:
        for ns in json.loads(info).get("runtimeSpec", {}).get("linux", {}).get("namespaces", []):
            if ns.get("type") == "network":
                netns = ns.get("path", "")
    return {
        "id": s.id,
        "state": api.PodSandboxState.Name(s.state),
        "ip": s.network.ip,
        "more_ips": [i.ip for i in s.network.additional_ips],
        "namespace": s.metadata.namespace,
        "name": s.metadata.name,
        "uid": s.metadata.uid,
        "netns": netns,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--socket", required=True)
    p.add_argument("--api", required=True)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("command")
    p.add_argument("args", nargs="*")
    a = p.parse_args()
    sys.path.insert(0, a.api)
    import api_pb2 as api
    import api_pb2_grpc as api_grpc

    rt = api_grpc.RuntimeServiceStub(grpc.insecure_channel("unix://" + a.socket))
    t = a.timeout
    if a.command == "version":
        v = rt.Version(api.VersionRequest(version="v1"), timeout=t)
        print(v.runtime_name, v.runtime_version, v.runtime_api_version)
    elif a.command == "run":
        namespace, name, uid = a.args
        r = rt.RunPodSandbox(api.RunPodSandboxRequest(
            config=sandbox_config(api, namespace, name, uid)), timeout=t)
        print(r.pod_sandbox_id)
    elif a.command == "status":
        for sid in a.args:
            print(json.dumps(status(api, rt, sid)))
    elif a.command == "stop":
        rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=a.args[0]), timeout=t)
    elif a.command == "remove":
        rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=a.args[0]), timeout=t)
    elif a.command in ("list", "clean"):
        items = rt.ListPodSandbox(api.ListPodSandboxRequest(), timeout=t).items
        for s in items:
            if a.command == "list":
                print(s.id)
            else:
                rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=s.id), timeout=t)
                rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=s.id),
                                    timeout=t)
    else:
        p.error("unknown command " + a.command)


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        print("cri_client: %s: %s" % (e.code().name, e.details()), file=sys.stderr)
        sys.exit(1)
