#!/usr/bin/env bash
# store_k8s.sh — the k8s: datastore against the Kubernetes API server test double
# (tests/k8s/apiserver.py, skipped while absent; TABBY_K8S_APISERVER names another copy):
# manifests/crds.yaml applied with kubectl; tabbyctl apply/get/delete of every kind;
# kubectl sees what tabbyctl wrote and tabbyctl reads what kubectl wrote (a Calico-style CR
# with its metadata annotation, converted uid and a field tabby does not know, which
# survives a tabbyctl write); pods as WorkloadEndpoints, namespaces and service accounts
# as Profiles, Nodes as Calico Nodes; what k8s: refuses; a multi-document apply stopped
# by a conflict, reported per object; and the syncer's stream (tests/integration/k8s_syncer)
# before the CRDs exist, across a 410 with history compacted, a dropped watch and a
# server restart, with pod status churn that changes no endpoint told as nothing.
# The server is stopped by pid on exit.
. "$(dirname "$0")/lib.sh"
t_begin store-k8s

CASES="crds apply-get-every-kind kubectl-sees-tabby tabby-reads-kubectl calico-fields-survive
    felixconfig-from-calico network-sets pod-endpoint profiles node wep-write refused multi-doc-conflict bad-input-writes-nothing
    delete-every-kind sync-before-crds sync-changes sync-pod-churn sync-410 sync-dropped-watch
    sync-restart"
SERVER=${TABBY_K8S_APISERVER:-$T_TOP/tests/k8s/apiserver.py}
KAPI_LIB=$(dirname "$SERVER")/kapi.sh
SYNCER=$T_BUILD/tests/integration/k8s_syncer
CRDS=$T_TOP/manifests/crds.yaml

skip_all() {
    local c
    for c in $CASES; do skip "k8s-$c" "$1"; done
    t_end
}

[ -f "$SERVER" ] || skip_all "the API server test double $SERVER is not on this branch"
[ -f "$KAPI_LIB" ] || skip_all "$KAPI_LIB (the test double's shell helpers) is missing"
command -v python3 >/dev/null || skip_all "python3 is not installed"
command -v openssl >/dev/null || skip_all "openssl is not installed (the server makes its certificates)"
command -v kubectl >/dev/null || skip_all "kubectl is not installed"
[ -x "$SYNCER" ] || skip_all "$SYNCER is not built (run from the build folder)"

# Settings of the caller's own cluster must not leak in.
unset KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT TABBY_STORE
KAPI_SERVER=$SERVER
. "$KAPI_LIB"
t_on_exit "kill \$SYNC_PID 2>/dev/null; wait \$SYNC_PID 2>/dev/null; kapi_stop_all"

API=$T_TMP/api
OUT=$T_TMP/out
SYNC_PID=
if ! kapi_start "$API" --history 500 --bookmark-interval 1 --state "$T_TMP/state.json"; then
    for c in $CASES; do fail "k8s-$c" "the API server did not start"; done
    t_end
fi
PORT=$(kapi_port "$API")
export TABBY_STORE="k8s:$API/kubeconfig" TABBY_K8S_RECHECK_S=1

k() { kapi_kubectl "$API" "$@"; }
ctl() { "$TABBYCTL" "$@"; }
# jq-less JSON field reading: json FILE EXPR (a Python expression over `d`)
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
synced() { grep -q "^$1\$" "$T_TMP/sync.out"; }
synced_count() { grep -c "^$1\$" "$T_TMP/sync.out"; }
synced_more() { [ "$(synced_count "$1")" -gt "$2" ]; }

# The syncer starts first: no CRD is installed yet, and it must still get in sync.
"$SYNCER" "k8s:$API/kubeconfig" >"$T_TMP/sync.out" 2>"$T_TMP/sync.err" &
SYNC_PID=$!
if t_wait 30 grep -q '^in-sync' "$T_TMP/sync.out"; then
    pass "k8s-sync-before-crds (Calico's kinds absent count as empty)"
else
    fail "k8s-sync-before-crds" "no in-sync line: $(tail -n 3 "$T_TMP/sync.err" | tr '\n' ' ')"
fi

# ---- the CRDs --------------------------------------------------------------------------
if k apply -f "$CRDS" >"$OUT" 2>&1 && [ "$(grep -c created "$OUT")" -ge 17 ] &&
    k get crd ippools.crd.projectcalico.org >/dev/null 2>&1; then
    pass "k8s-crds ($(grep -c created "$OUT") CRDs applied with kubectl)"
else
    fail "k8s-crds" "$(tail -n 3 "$OUT" | tr '\n' ' ')"
fi

# ---- tabbyctl: every kind ----------------------------------------------------------------
cat >"$T_TMP/all.yaml" <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-a, labels: {team: net, projectcalico.org/owner: tabby}}
spec: {cidr: 10.10.0.0/16, vxlanMode: Always, natOutgoing: true}
---
apiVersion: projectcalico.org/v3
kind: IPAMConfiguration
metadata: {name: default}
spec: {strictAffinity: true, maxBlocksPerHost: 4}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow-web, namespace: default}
spec:
  selector: app == 'web'
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-all}
spec: {selector: all(), types: [Ingress]}
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64512, nodeToNodeMeshEnabled: false}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor}
spec: {peerIP: 192.0.2.254, asNumber: 65001}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: default}
spec: {podSelector: {}}
---
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {team: ops}}
---
apiVersion: projectcalico.org/v3
kind: IPReservation
metadata: {name: gateways}
spec: {reservedCIDRs: [10.10.0.1, 10.10.255.0/24]}
EOF
# A HostEndpoint kubectl writes (Calico's CRD) is read as tabbyctl reads its own.
cat >"$T_TMP/hep.yaml" <<'EOF'
apiVersion: crd.projectcalico.org/v1
kind: HostEndpoint
metadata: {name: node-1-eth0, labels: {role: host}}
spec: {node: node-1, interfaceName: eth0, expectedIPs: [192.0.2.11]}
EOF
KINDS="ippool ipamconfig netpol gnp bgpconfig bgppeer hep knp ns ipreservation"
if k apply -f "$T_TMP/hep.yaml" >"$OUT" 2>&1 &&
    ctl apply -f "$T_TMP/all.yaml" >"$OUT" 2>&1 && [ "$(grep -c ' created$' "$OUT")" = 9 ]; then
    missing=
    for kind in $KINDS; do
        ctl get "$kind" -A -o name >"$T_TMP/names" 2>&1 || missing="$missing $kind"
        [ -s "$T_TMP/names" ] || missing="$missing $kind"
    done
    # The server labels a Namespace with its name (kubernetes.io/metadata.name), which a
    # document rarely says: applied again, the Namespace reads as configured.
    ctl apply -f "$T_TMP/all.yaml" >"$OUT" 2>&1
    again=$(grep -c -e ' unchanged$' -e '^Namespace prod configured$' "$OUT")
    if [ -z "$missing" ] && [ "$again" = 9 ]; then
        pass "k8s-apply-get-every-kind (9 kinds created and a HostEndpoint by kubectl, read back, unchanged when applied again)"
    else
        fail "k8s-apply-get-every-kind" "not read back:$missing; unchanged on re-apply: $again/9: $(grep -v unchanged "$OUT" | tr '\n' ' ')"
    fi
else
    fail "k8s-apply-get-every-kind" "$(tail -n 3 "$OUT" | tr '\n' ' ')"
fi

# ---- what kubectl sees --------------------------------------------------------------------
k get ippools.crd.projectcalico.org pool-a -o json >"$T_TMP/pool.json" 2>"$OUT"
k get networkpolicies.networking.k8s.io default-deny -o json >"$T_TMP/knp.json" 2>>"$OUT"
k get namespace prod -o json >"$T_TMP/ns.json" 2>>"$OUT"
if [ "$(json "$T_TMP/pool.json" "d['spec']['cidr'], d['spec']['vxlanMode']")" = "10.10.0.0/16 Always" ] &&
    [ "$(json "$T_TMP/pool.json" "sorted(d['metadata']['labels'])")" = "['projectcalico.org/owner']" ] &&
    [ "$(json "$T_TMP/pool.json" "json.loads(d['metadata']['annotations']['projectcalico.org/metadata'])['labels']['team']")" = net ] &&
    [ "$(json "$T_TMP/knp.json" "d['spec']['podSelector']")" = "{}" ] &&
    [ "$(json "$T_TMP/ns.json" "d['metadata']['labels']['team']")" = ops ]; then
    pass "k8s-kubectl-sees-tabby (a CR with Calico's metadata split, the real NetworkPolicy and Namespace)"
else
    fail "k8s-kubectl-sees-tabby" "$(cat "$OUT"; json "$T_TMP/pool.json" "d['metadata']" 2>&1)"
fi

# ---- what tabbyctl reads ------------------------------------------------------------------
cat >"$T_TMP/calico.yaml" <<'EOF'
apiVersion: crd.projectcalico.org/v1
kind: IPPool
metadata:
  name: calico-pool
  labels: {projectcalico.org/x: "v"}
  annotations:
    projectcalico.org/metadata: '{"creationTimestamp":"2026-05-01T00:00:00Z","labels":{"projectcalico.org/x":"v","team":"calico"}}'
spec:
  cidr: 10.30.0.0/16
  blockSize: 28
  ipipMode: Never
  vxlanMode: CrossSubnet
  namespaceSelector: "team == 'a'"
---
apiVersion: crd.projectcalico.org/v1
kind: GlobalNetworkPolicy
metadata: {name: default.old-style}
spec: {tier: default, selector: all(), types: [Egress]}
EOF
if k apply -f "$T_TMP/calico.yaml" >"$OUT" 2>&1 &&
    ctl get ippool calico-pool -o json >"$T_TMP/read.json" 2>>"$OUT" &&
    ctl get gnp old-style -o name >>"$OUT" 2>&1; then
    uid=$(k get ippools.crd.projectcalico.org calico-pool -o jsonpath='{.metadata.uid}')
    got="$(json "$T_TMP/read.json" "d['metadata']['labels']['team'], d['spec']['blockSize'], d['spec']['vxlanMode'], 'namespaceSelector' in d['spec'], d['metadata']['uid'] != '$uid'")"
    if [ "$got" = "calico 28 CrossSubnet False True" ]; then
        pass "k8s-tabby-reads-kubectl (annotation labels, converted uid, old policy name, unknown field left out)"
    else
        fail "k8s-tabby-reads-kubectl" "read $got"
    fi
else
    fail "k8s-tabby-reads-kubectl" "$(tail -n 3 "$OUT" | tr '\n' ' ')"
fi

# Calico's FelixConfiguration as its operator writes it: what tabby does not enforce is left
# out of what tabby reads (and logged); what it applies reads back.
cat >"$T_TMP/felix.yaml" <<'EOF'
apiVersion: crd.projectcalico.org/v1
kind: FelixConfiguration
metadata: {name: default}
spec:
  bpfLogLevel: ""
  floatingIPs: Disabled
  healthPort: 9099
  logSeverityScreen: Info
  reportingInterval: 0s
  vxlanVNI: 4097
  wireguardEnabled: true
EOF
if k apply -f "$T_TMP/felix.yaml" >"$OUT" 2>&1 &&
    ctl get felixconfig default -o json >"$T_TMP/felix.json" 2>>"$OUT"; then
    got=$(json "$T_TMP/felix.json" "sorted(d['spec'])")
    if [ "$got" = "['bpfLogLevel', 'floatingIPs', 'healthPort', 'logSeverityScreen', \
'reportingInterval', 'vxlanVNI']" ]; then
        pass "k8s-felixconfig-from-calico (fields tabby does not enforce left out, the rest read)"
    else
        fail "k8s-felixconfig-from-calico" "read $got"
    fi
else
    fail "k8s-felixconfig-from-calico" "$(tail -n 3 "$OUT" | tr '\n' ' ')"
fi

# Network sets: namespaced and global custom resources, written by tabbyctl, read by kubectl.
cat >"$T_TMP/sets.yaml" <<'EOF'
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: db-ips, namespace: prod, labels: {role: external-db}}
spec: {nets: [192.0.2.0/24]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: threats, labels: {threat-feed: "true"}}
spec: {nets: [198.51.100.0/28]}
EOF
if ctl apply -f "$T_TMP/sets.yaml" >"$OUT" 2>&1 &&
    k get networksets.crd.projectcalico.org -n prod db-ips -o json >"$T_TMP/set.json" 2>>"$OUT" &&
    [ "$(json "$T_TMP/set.json" "d['spec']['nets']")" = "['192.0.2.0/24']" ] &&
    ctl get gnetset threats -o name >>"$OUT" 2>&1 && ctl delete -f "$T_TMP/sets.yaml" >>"$OUT" 2>&1 &&
    ! k get globalnetworksets.crd.projectcalico.org threats >/dev/null 2>&1; then
    pass "k8s-network-sets (NetworkSet and GlobalNetworkSet as custom resources)"
else
    fail "k8s-network-sets" "$(tail -n 3 "$OUT" | tr '\n' ' ')"
fi

sed -e 's/natOutgoing: false/natOutgoing: true/' >"$T_TMP/change.yaml" <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: calico-pool, labels: {team: calico, projectcalico.org/x: "v", env: prod}}
spec: {cidr: 10.30.0.0/16, blockSize: 28, vxlanMode: CrossSubnet, natOutgoing: false}
EOF
if ctl apply -f "$T_TMP/change.yaml" >"$OUT" 2>&1 && grep -q configured "$OUT" &&
    k get ippools.crd.projectcalico.org calico-pool -o json >"$T_TMP/after.json" 2>>"$OUT" &&
    [ "$(json "$T_TMP/after.json" "d['spec']['namespaceSelector'], d['spec']['natOutgoing']")" = "team == 'a' True" ] &&
    [ "$(json "$T_TMP/after.json" "json.loads(d['metadata']['annotations']['projectcalico.org/metadata'])['labels']['env']")" = prod ] &&
    k get globalnetworkpolicies.crd.projectcalico.org default.old-style >/dev/null 2>&1; then
    pass "k8s-calico-fields-survive (a tabbyctl write keeps namespaceSelector)"
else
    fail "k8s-calico-fields-survive" "$(tail -n 3 "$OUT" | tr '\n' ' ') $(json "$T_TMP/after.json" "d['spec']" 2>&1)"
fi

# ---- pods, profiles, nodes ---------------------------------------------------------------------
cat >"$T_TMP/pod.yaml" <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {rack: r1}
  annotations: {projectcalico.org/IPv4Address: 192.0.2.11/24, example.com/keep: "yes"}
status:
  addresses: [{type: InternalIP, address: 192.0.2.11}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: frontend, namespace: prod, labels: {tier: web}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-7c9d6
  namespace: prod
  labels: {app: web}
  annotations:
    cni.projectcalico.org/podIP: 10.10.3.7/32
    cni.projectcalico.org/podIPs: 10.10.3.7/32
spec:
  nodeName: node-1
  serviceAccountName: frontend
  containers: [{name: web, image: busybox, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: hostnet, namespace: prod}
spec:
  nodeName: node-1
  hostNetwork: true
  containers: [{name: c, image: busybox}]
EOF
WEP=node--1-k8s-web--7c9d6-eth0
if k apply -f "$T_TMP/pod.yaml" >"$OUT" 2>&1 &&
    ctl get wep -n prod -o json "$WEP" >"$T_TMP/wep.json" 2>>"$OUT" &&
    [ "$(ctl get wep -n prod -o name 2>&1 | wc -l)" = 1 ]; then
    got="$(json "$T_TMP/wep.json" "d['spec']['ipNetworks'], d['spec']['interfaceName'], d['spec']['profiles'], d['metadata']['labels']['projectcalico.org/serviceaccount'], d['spec']['ports'][0]['name']")"
    if [ "$got" = "['10.10.3.7/32'] tby$(printf 'prod.web-7c9d6' | sha1sum | cut -c1-11) ['kns.prod', 'ksa.prod.frontend'] frontend http" ]; then
        pass "k8s-pod-endpoint (a pod made with kubectl is WorkloadEndpoint $WEP; the host-network one none)"
    else
        fail "k8s-pod-endpoint" "read $got"
    fi
else
    fail "k8s-pod-endpoint" "$(tail -n 3 "$OUT" | tr '\n' ' ')"
fi

if ctl get profile -o name >"$OUT" 2>&1 && grep -qx 'profiles/kns.prod' "$OUT" &&
    grep -qx 'profiles/ksa.prod.frontend' "$OUT" &&
    grep -qx 'profiles/projectcalico-default-allow' "$OUT" &&
    ctl get profile ksa.prod.frontend -o json >"$T_TMP/sa.json" 2>&1 &&
    [ "$(json "$T_TMP/sa.json" "d['spec']['labelsToApply']['pcsa.tier']")" = web ]; then
    pass "k8s-profiles (kns.* from Namespaces, ksa.* from ServiceAccounts, default-allow)"
else
    fail "k8s-profiles" "$(tr '\n' ' ' <"$OUT")"
fi

# The real API server keeps metadata written through pods/status and nodes/status (the
# CNI plugin's annotations and calico-node's go that way); a double that drops it cannot
# show these writes.
kapi_curl "$API" PATCH /api/v1/nodes/node-1/status -H 'Content-Type: application/merge-patch+json' \
    -d '{"metadata":{"annotations":{"example.com/probe":"1"}}}' >/dev/null 2>&1
STATUS_META=$(k get node node-1 -o jsonpath='{.metadata.annotations.example\.com/probe}' 2>/dev/null)
NO_STATUS_META="the API server test double drops metadata written through a status subresource (the real one keeps it for pods and nodes)"

cat >"$T_TMP/node.yaml" <<'EOF'
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node-1}
spec:
  bgp: {ipv4Address: 192.0.2.11/24, asNumber: 64999}
  ipv4VXLANTunnelAddr: 10.10.0.1
EOF
if [ "$STATUS_META" != 1 ]; then
    skip "k8s-node" "$NO_STATUS_META"
elif ctl apply -f "$T_TMP/node.yaml" >"$OUT" 2>&1 && grep -q configured "$OUT" &&
    k get node node-1 -o json >"$T_TMP/knode.json" 2>>"$OUT" &&
    [ "$(json "$T_TMP/knode.json" "d['metadata']['annotations']['projectcalico.org/ASNumber'], d['metadata']['annotations']['projectcalico.org/IPv4VXLANTunnelAddr'], d['metadata']['annotations']['example.com/keep'], d['metadata']['labels']['rack']")" = "64999 10.10.0.1 yes r1" ] &&
    [ "$(ctl get node node-1 -o json 2>>"$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["bgp"]["asNumber"])')" = 64999 ]; then
    pass "k8s-node (a Calico Node write is the Node's annotations through nodes/status)"
else
    fail "k8s-node" "$(tail -n 3 "$OUT" | tr '\n' ' ')"
fi

# An endpoint write is the CNI plugin's pod status patch; its delete empties the addresses.
ctl get wep -n prod "$WEP" -o json >"$T_TMP/wep2.json" 2>/dev/null
python3 - "$T_TMP/wep2.json" >"$T_TMP/wep2.yaml" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["spec"]["ipNetworks"] = ["10.10.3.8/32"]
d["spec"]["containerID"] = "c0ffee"
del d["metadata"]["resourceVersion"]
print(json.dumps(d))
EOF
annotation() { k get pod -n prod web-7c9d6 -o jsonpath="{.metadata.annotations.cni\.projectcalico\.org/$1}"; }
if [ "$STATUS_META" != 1 ]; then
    skip "k8s-wep-write" "$NO_STATUS_META"
elif ctl apply -f "$T_TMP/wep2.yaml" >"$OUT" 2>&1 && [ "$(annotation podIPs)" = 10.10.3.8/32 ] &&
    [ "$(annotation containerID)" = c0ffee ] && ctl delete wep -n prod "$WEP" >>"$OUT" 2>&1 &&
    [ "$(annotation podIP)" = "" ] && [ "$(annotation containerID)" = c0ffee ] &&
    ! ctl get wep -n prod "$WEP" >/dev/null 2>&1 && ctl apply -f "$T_TMP/wep2.yaml" >>"$OUT" 2>&1 &&
    ctl get wep -n prod "$WEP" >/dev/null 2>&1; then
    pass "k8s-wep-write (the pod's annotations patched; a delete empties its addresses; a create fills them)"
else
    fail "k8s-wep-write" "$(tail -n 3 "$OUT" | tr '\n' ' ') podIPs=$(annotation podIPs)"
fi

# ---- what k8s: refuses ----------------------------------------------------------------------
why=
printf 'apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: extra}\nspec: {}\n' |
    ctl apply -f - >"$OUT" 2>&1 && why="$why profile-applied"
grep -q 'label the Namespace' "$OUT" || why="$why profile-message"
ctl delete node node-1 >"$OUT" 2>&1 && why="$why node-deleted"
grep -q 'Kubernetes Nodes' "$OUT" || why="$why node-message"
ctl label wep -n prod "$WEP" x=y >"$OUT" 2>&1 && why="$why wep-labeled"
grep -q 'kubectl label pod -n prod web-7c9d6' "$OUT" || why="$why label-message"
if [ -z "$why" ]; then
    pass "k8s-refused (Profile writes, Node deletes, endpoint labels: each says what to do instead)"
else
    fail "k8s-refused" "$why: $(cat "$OUT")"
fi

# ---- several documents, one at a time -----------------------------------------------------------
rv=$(ctl get ippool pool-a -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])')
cat >"$T_TMP/multi.yaml" <<EOF
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-m1}
spec: {cidr: 10.41.0.0/16}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-a, resourceVersion: "$rv"}
spec: {cidr: 10.10.0.0/16, vxlanMode: Always, natOutgoing: false}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-m3}
spec: {cidr: 10.43.0.0/16}
EOF
# Someone else writes pool-a between tabbyctl's read and its write: the server answers
# the update with a conflict.
kapi_fault "$API" '{"verb": "update", "path": "ippools/pool-a$", "status": 409}' >/dev/null
if ! ctl apply -f "$T_TMP/multi.yaml" >"$OUT" 2>&1 &&
    grep -q '^IPPool pool-m1 created$' "$OUT" &&
    grep -q 'stopped at IPPool pool-a: changed since it was read.*written before it: IPPool pool-m1 created; not written: IPPool pool-a, IPPool pool-m3' "$OUT" &&
    ctl get ippool pool-m1 >/dev/null 2>&1 && ! ctl get ippool pool-m3 >/dev/null 2>&1; then
    pass "k8s-multi-doc-conflict (object by object, stopped at the conflict, reported per object)"
else
    fail "k8s-multi-doc-conflict" "$(tr '\n' ' ' <"$OUT")"
fi

GOOD='apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-bad1}
spec: {cidr: 10.51.0.0/16}'
printf '%s\n---\n%s\n' "$GOOD" 'apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: not-on-k8s}
spec: {}' >"$T_TMP/bad1.yaml"
printf '%s\n---\n%s\n' "$GOOD" 'apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-bad2}
spec: {cidr: 10.10.128.0/17}' >"$T_TMP/bad2.yaml"
ctl apply -f "$T_TMP/bad1.yaml" >"$OUT" 2>&1
first=$(cat "$OUT")
ctl apply -f "$T_TMP/bad2.yaml" >"$OUT" 2>&1
if echo "$first" | grep -q 'Profile not-on-k8s: on k8s' && grep -q 'overlaps IPPool pool-a' "$OUT" &&
    ! ctl get ippool pool-bad1 >/dev/null 2>&1; then
    pass "k8s-bad-input-writes-nothing (a Profile, an overlapping pool: refused before any write)"
else
    fail "k8s-bad-input-writes-nothing" "$first / $(cat "$OUT")"
fi

# ---- the syncer's stream ------------------------------------------------------------------------
if t_wait 30 synced "update IPPool -/pool-a [0-9]*" && t_wait 30 synced "update WorkloadEndpoint prod/$WEP [0-9]*" &&
    t_wait 30 synced "update Profile -/ksa.prod.frontend [0-9]*" &&
    t_wait 30 synced "update GlobalNetworkPolicy -/old-style [0-9]*"; then
    pass "k8s-sync-changes (CRDs installed after the start are read; every kind told)"
else
    fail "k8s-sync-changes" "$(tail -n 5 "$T_TMP/sync.out" | tr '\n' ' ')"
fi

# Status changes that change no endpoint are no event; a label change is one.
before=$(synced_count "update WorkloadEndpoint prod/$WEP [0-9]*")
for phase in Running Running; do
    k patch pod -n prod web-7c9d6 --subresource=status --type=merge \
        -p "{\"status\":{\"phase\":\"$phase\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"$RANDOM\"}]}}" >/dev/null
done
k label pod -n prod web-7c9d6 tier=front >/dev/null
if t_wait 30 synced_more "update WorkloadEndpoint prod/$WEP [0-9]*" "$before" &&
    [ "$(synced_count "update WorkloadEndpoint prod/$WEP [0-9]*")" = $((before + 1)) ]; then
    pass "k8s-sync-pod-churn (2 status patches told as nothing, the label change once)"
else
    fail "k8s-sync-pod-churn" "endpoint updates $before -> $(synced_count "update WorkloadEndpoint prod/$WEP [0-9]*")"
fi

# 410: the ippools watch is held up while a pool goes and history is compacted; when it
# comes back its resourceVersion is gone, and that type alone is listed again.
counts() { kapi_curl "$API" GET /_test/counts | python3 -c "import json,sys; b=json.load(sys.stdin)['by']; print(b.get('list $1', 0))"; }
pools_before=$(counts ippools)
pods_before=$(counts pods)
kapi_fault "$API" '{"verb": "watch", "path": "/ippools", "stall": 3}' >/dev/null
kapi_curl "$API" POST /_test/watches/drop -H 'Content-Type: application/json' -d '{"path": "/ippools"}' >/dev/null
k delete ippools.crd.projectcalico.org pool-m1 >/dev/null
kapi_curl "$API" POST /_test/compact -H 'Content-Type: application/json' -d '{}' >/dev/null
if t_wait 30 synced "remove IPPool -/pool-m1" && grep -q 'watch expired, listing again resource=ippools' "$T_TMP/sync.err" &&
    [ "$(counts ippools)" -gt "$pools_before" ] && [ "$(counts pods)" = "$pods_before" ]; then
    pass "k8s-sync-410 (the deletion found by relisting ippools alone: $pools_before -> $(counts ippools) lists)"
else
    fail "k8s-sync-410" "$(tail -n 3 "$T_TMP/sync.out" | tr '\n' ' ') lists: ippools $pools_before -> $(counts ippools), pods $pods_before -> $(counts pods)"
fi

kapi_curl "$API" POST /_test/watches/drop -H 'Content-Type: application/json' -d '{"reset": true}' >/dev/null
printf 'apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: after-drop}\nspec: {peerIP: 192.0.2.77, asNumber: 65077}\n' |
    ctl apply -f - >"$OUT" 2>&1
if t_wait 30 synced "update BGPPeer -/after-drop [0-9]*"; then
    pass "k8s-sync-dropped-watch (every watch cut mid-stream; the next change still arrives)"
else
    fail "k8s-sync-dropped-watch" "$(tail -n 3 "$T_TMP/sync.out" | tr '\n' ' ')"
fi

# A restart of the server with its state but not its history: watches resume with 410s.
kapi_stop "$API"
if kapi_start "$API" --listen "127.0.0.1:$PORT" --history 500 --bookmark-interval 1 \
    --state "$T_TMP/state.json" --forget-history; then
    k delete bgppeers.crd.projectcalico.org after-drop >/dev/null 2>&1
    printf 'apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: after-restart}\nspec: {peerIP: 192.0.2.78, asNumber: 65078}\n' |
        ctl apply -f - >"$OUT" 2>&1
    if t_wait 60 synced "update BGPPeer -/after-restart [0-9]*" && t_wait 30 synced "remove BGPPeer -/after-drop"; then
        pass "k8s-sync-restart (the server restarted without its history; changes after it arrive)"
    else
        fail "k8s-sync-restart" "$(tail -n 3 "$T_TMP/sync.out" | tr '\n' ' ') $(tail -n 2 "$T_TMP/sync.err" | tr '\n' ' ')"
    fi
else
    fail "k8s-sync-restart" "the server did not start again"
fi

# ---- deletes ------------------------------------------------------------------------------------
if ctl delete -f "$T_TMP/all.yaml" >"$OUT" 2>&1 && grep -q 'deleted 9 of 9' "$OUT" &&
    ctl delete hep node-1-eth0 >>"$OUT" 2>&1; then
    left=
    for kind in $KINDS; do
        n=$(ctl get "$kind" -A -o name 2>/dev/null | sed 's|.*/||' |
            grep -cv -e '^default$' -e '^kube-' -e '^calico-pool$' -e '^old-style$' \
                -e '^pool-m3$' -e '^after-restart$')
        [ "$n" = 0 ] || left="$left $kind"
    done
    if [ -z "$left" ] && ! k get namespace prod >/dev/null 2>&1; then
        pass "k8s-delete-every-kind (10 deleted with preconditions)"
    else
        fail "k8s-delete-every-kind" "left:$left"
    fi
else
    fail "k8s-delete-every-kind" "$(tail -n 3 "$OUT" | tr '\n' ' ')"
fi
t_end
