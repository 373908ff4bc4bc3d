#!/usr/bin/env bash
# k8s_apiserver.sh — the Kubernetes API server test double (tests/k8s/apiserver.py) held
# to real clients: the machine's kubectl (apply, create, get in every form, get -w,
# label, annotate, patch of three kinds, replace, delete, paging, CRDs, RBAC, tokens),
# Debian's python3-kubernetes (lists, watches, bookmarks, 410 and 409, every fault the
# test control injects), and curl for the raw watch stream and the 401.
#
# The servers run on loopback in the root network namespace (loopback traffic only,
# nothing programmed). Run from anywhere; needs python3, openssl and curl, and skips the
# kubectl or Python-client cases (SKIP with the reason) when either is missing.
set -u
. "$(dirname "$0")/lib.sh"
t_begin k8s_apiserver

. "$T_TOP/tests/k8s/kapi.sh"
CASES=$T_TOP/tests/k8s/client_cases.py
KUBECTL_CASES="apply create_f get get_watch services_endpointslices label_annotate patch replace
    delete paging crd
    missing_namespace status_subresource rbac token_expiry restart_state"
PY_CASES="list watch bookmarks expired continue_expired conflict selector_watch
    fault_status fault_watches many_watches"

for tool in python3 openssl curl; do
    if ! command -v "$tool" >/dev/null; then
        for c in raw_watch_stream unauthorized request_log traffic fault_reset_and_gone $KUBECTL_CASES \
            $PY_CASES; do
            skip "$c" "$tool is not installed"
        done
        t_end
    fi
done
HAVE_KUBECTL=1
command -v kubectl >/dev/null || HAVE_KUBECTL=0
# The Python client is Debian's package: it lives in the system interpreter's path.
PYK=
for py in /usr/bin/python3 python3; do
    if "$py" -c 'import kubernetes' 2>/dev/null; then PYK=$py; break; fi
done

# start NAME [ARGS…]: a server with its state in $T_TMP/NAME, up when this returns.
start() {
    local name=$1
    shift
    kapi_start "$T_TMP/$name" "$@"
}
stop() { kapi_stop "$T_TMP/$1"; }
t_on_exit kapi_stop_all
trap 'exit 130' INT TERM

port() { kapi_port "$T_TMP/$1"; }
url() { kapi_url "$T_TMP/$1"; }
# k [ARGS…]: kubectl against the main server, with a private discovery cache.
k() { kapi_kubectl "$T_TMP/api" "$@"; }
# api METHOD PATH [CURL ARGS…]: the main server as the admin, body to stdout.
api() { kapi_curl "$T_TMP/api" "$@"; }
# json EXPR: evaluate a Python expression over the JSON document on stdin (as `d`).
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

start api --history 200 --bookmark-interval 1 || { fail start "the server did not start"; t_end; }

# ---- curl ---------------------------------------------------------------------------
test_unauthorized() {
    local none bad good http cert
    none=$(curl -sS --cacert "$T_TMP/api/ca.crt" -w ' %{http_code}' "$(url api)/api/v1/pods")
    bad=$(curl -sS --cacert "$T_TMP/api/ca.crt" -H 'Authorization: Bearer nope' \
        -w ' %{http_code}' "$(url api)/version")
    good=$(api GET /api/v1/namespaces/default -o /dev/null -w '%{http_code}')
    http=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(port api)/version")
    cert=$(curl -sS --cacert "$T_TMP/api/ca.crt" --cert "$T_TMP/api/admin.crt" \
        --key "$T_TMP/api/admin.key" "$(url api)/apis/authentication.k8s.io/v1/selfsubjectreviews" \
        -H 'Content-Type: application/json' -d '{}' | json 'd["status"]["userInfo"]["username"]')
    if [[ $none == *'"reason": "Unauthorized"'*'"code": 401}'*' 401' ]] &&
        [[ $bad == *'"reason": "Unauthorized"'*' 401' ]] && [ "$good" = 200 ] &&
        [ "$http" = 400 ] && [ "$cert" = admin ]; then
        pass unauthorized
    else
        fail unauthorized "no token: $none; bad token: $bad; admin: $good; plain http: $http; client certificate: $cert"
    fi
}

test_raw_watch_stream() {
    local rv out
    api POST /api/v1/namespaces -H 'Content-Type: application/json' \
        -d '{"metadata":{"name":"raw"}}' >/dev/null
    rv=$(api GET /api/v1/namespaces/raw/configmaps | json 'd["metadata"]["resourceVersion"]')
    for i in 1 2 3; do
        api POST /api/v1/namespaces/raw/configmaps -H 'Content-Type: application/json' \
            -d "{\"metadata\":{\"name\":\"c$i\"},\"data\":{\"i\":\"$i\"}}" >/dev/null
    done
    api DELETE /api/v1/namespaces/raw/configmaps/c2 >/dev/null
    # --raw keeps the chunk framing; the header and every chunk are checked below.
    api GET "/api/v1/watch/namespaces/raw/configmaps?resourceVersion=$rv&timeoutSeconds=2" \
        --raw -i >"$T_TMP/raw" 2>&1
    if out=$(python3 - "$T_TMP/raw" <<'PY'
import json, sys
data = open(sys.argv[1], "rb").read()
head, _, body = data.partition(b"\r\n\r\n")
assert b"Transfer-Encoding: chunked" in head, head
events = []
while True:
    line, _, body = body.partition(b"\r\n")
    n = int(line, 16)
    if n == 0:
        break
    chunk, body = body[:n], body[n + 2:]
    assert chunk.endswith(b"\n") and chunk.count(b"\n") == 1, chunk
    ev = json.loads(chunk)
    events.append((ev["type"], ev["object"]["metadata"]["name"]))
want = [("ADDED", "c1"), ("ADDED", "c2"), ("ADDED", "c3"), ("DELETED", "c2")]
assert events == want, events
PY
    ); then
        pass raw_watch_stream
    else
        fail raw_watch_stream "$out $(head -c 600 "$T_TMP/raw")"
    fi
}

test_request_log() {
    local next doc
    next=$(api GET /_test/requests | json 'd["next"]')
    api GET "/api/v1/namespaces/default/pods?labelSelector=a%3Db" >/dev/null
    api GET /api/v1/namespaces/default/pods/none >/dev/null
    doc=$(api GET "/_test/requests?since=$next" |
        json '[(r["verb"], r["path"], r["query"], r["user"], r["status"], r["bytes"] > 0) for r in d["requests"]]')
    if [ "$doc" = "[('list', '/api/v1/namespaces/default/pods', 'labelSelector=a%3Db', 'admin', 200, True), ('get', '/api/v1/namespaces/default/pods/none', '', 'admin', 404, True)]" ] &&
        [ "$(api DELETE /_test/requests | json 'd["reset"] > 0')" = True ] &&
        [ "$(api GET /_test/requests | json 'len(d["requests"])')" = 0 ]; then
        pass request_log
    else
        fail request_log "$doc"
    fi
}

# /_test/traffic: live per-user and per-address counters; a watch's bytes count while it
# streams, and it counts as open until it ends.
traffic() { api GET /_test/traffic | json "$1"; }
traffic_watching() { [ "$(traffic 'd["users"]["admin"]["watches_open"]')" = "$1" ]; }
traffic_grew() { [ "$(traffic 'd["users"]["admin"]["bytes_out"]')" -gt "$1" ]; }
test_traffic() {
    local pid out before why=
    api DELETE /_test/traffic >/dev/null
    api GET /api/v1/namespaces >/dev/null
    api GET /api/v1/namespaces/default/pods >/dev/null
    # curl itself in the background (not the function api: its subshell would be killed)
    curl -sS --cacert "$T_TMP/api/ca.crt" -H "Authorization: Bearer $(cat "$T_TMP/api/admin.token")" \
        "$(url api)/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=60" \
        >"$T_TMP/traffic.watch" 2>&1 &
    pid=$!
    t_wait 10 traffic_watching 1 || why+=" the watch never counted as open;"
    before=$(traffic 'd["users"]["admin"]["bytes_out"]')
    api POST /api/v1/namespaces/default/configmaps -H 'Content-Type: application/json' \
        -d '{"metadata": {"name": "traffic"}}' >/dev/null
    # the event's bytes, counted while the watch is still open
    t_wait 3 traffic_grew "$((before + 100))" || why+=" the watch's bytes were not counted as sent;"
    traffic_watching 1 || why+=" the watch ended early;"
    kill "$pid"
    wait "$pid" 2>/dev/null
    # the server notices a client gone within a few seconds
    t_wait 15 traffic_watching 0 || why+=" the watch still counts as open;"
    out=$(traffic '(sorted(d["users"]["admin"]["by"].items()), d["users"]["admin"]["watches"],
        d["users"]["admin"]["bytes_in"] > 20, d["addresses"]["127.0.0.1"]["requests"])')
    [ "$out" = "([('create configmaps', 1), ('list namespaces', 1), ('list pods', 1), ('watch configmaps', 1)], 1, True, 4)" ] ||
        why+=" counted: $out;"
    api DELETE /api/v1/namespaces/default/configmaps/traffic >/dev/null
    if [ -z "$why" ]; then pass traffic; else fail traffic "$why"; fi
}

test_fault_reset_and_gone() {
    local rc gone
    kapi_fault "$T_TMP/api" '{"verb": "get", "path": "/configmaps/cut$", "reset": true}' >/dev/null
    kapi_fault "$T_TMP/api" '{"verb": "list", "path": "/secrets$", "status": 410}' >/dev/null
    api GET /api/v1/namespaces/default/configmaps/cut -o /dev/null 2>/dev/null
    rc=$?
    gone=$(api GET /api/v1/namespaces/default/secrets -w ' %{http_code}')
    api DELETE /_test/faults >/dev/null
    if [ $rc = 52 ] && [[ $gone == *'"reason": "Expired"'*' 410' ]]; then
        pass fault_reset_and_gone
    else
        fail fault_reset_and_gone "curl exit $rc for the cut connection (want 52); 410: $gone"
    fi
}

# ---- kubectl ------------------------------------------------------------------------
test_apply() {
    local out1 out2 out3 img
    cat >"$T_TMP/app.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {team: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web, tier: front}}
spec:
  nodeName: node-1
  containers:
  - {name: main, image: "nginx:1.25", ports: [{containerPort: 80, name: http}]}
  - {name: side, image: "busybox:1.36"}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: shop, labels: {app: web, tier: front}}
spec:
  nodeName: node-2
  containers: [{name: main, image: "nginx:1.25"}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-1, namespace: shop, labels: {app: db}}
spec:
  nodeName: node-1
  containers: [{name: main, image: "postgres:16"}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-allow, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: 80, protocol: TCP}]}]
EOF
    out1=$(k apply -f "$T_TMP/app.yaml" 2>&1)
    out2=$(k apply -f "$T_TMP/app.yaml" 2>&1)
    sed 's/nginx:1.25"}]/nginx:1.26"}]/' "$T_TMP/app.yaml" >"$T_TMP/app2.yaml"
    out3=$(k apply -f "$T_TMP/app2.yaml" 2>&1)
    img=$(k get pod -n shop web-2 -o jsonpath='{.spec.containers[0].image} {.metadata.generation}')
    if [ "$(grep -c ' created$' <<<"$out1")" = 5 ] && [ "$(grep -c ' unchanged$' <<<"$out2")" = 5 ] &&
        grep -q '^pod/web-2 configured$' <<<"$out3" && [ "$img" = "nginx:1.26 2" ] &&
        ! grep -qi 'warning\|validate' <<<"$out1$out2$out3"; then
        pass apply
    else
        fail apply "first: $out1 | again: $out2 | changed: $out3 | web-2: $img"
    fi
}

test_create_f() {
    local out1 out2
    cat >"$T_TMP/cm.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {color: blue}
EOF
    out1=$(k create -f "$T_TMP/cm.yaml" 2>&1)
    out2=$(k create -f "$T_TMP/cm.yaml" 2>&1)
    if [ "$out1" = "configmap/settings created" ] &&
        [ "$out2" = 'Error from server (AlreadyExists): error when creating "'"$T_TMP/cm.yaml"'": configmaps "settings" already exists' ]; then
        pass create_f
    else
        fail create_f "$out1 | $out2"
    fi
}

test_get() {
    local table yaml js sel fsel all ok=1 why=
    table=$(k get pods -n shop 2>&1)
    yaml=$(k get pod -n shop web-1 -o yaml 2>&1)
    js=$(k get pods -n shop -o json 2>&1 | json 'sorted(i["metadata"]["name"] for i in d["items"])')
    sel=$(k get pods -n shop -l 'app=web,tier in (front)' -o name 2>&1 | tr '\n' ' ')
    fsel=$(k get pods -A --field-selector spec.nodeName=node-1,metadata.namespace=shop -o name 2>&1 | tr '\n' ' ')
    all=$(k get networkpolicies -A 2>&1)
    [[ $table == "NAME    READY   STATUS    RESTARTS   AGE"* ]] || { ok=0; why="table: $table"; }
    grep -q "^  uid: " <<<"$yaml" && grep -q '^  resourceVersion: "' <<<"$yaml" &&
        grep -q "^  creationTimestamp: " <<<"$yaml" || { ok=0; why="$why yaml: $yaml"; }
    [ "$js" = "['db-1', 'web-1', 'web-2']" ] || { ok=0; why="$why json: $js"; }
    [ "$sel" = "pod/web-1 pod/web-2 " ] || { ok=0; why="$why -l: $sel"; }
    [ "$fsel" = "pod/db-1 pod/web-1 " ] || { ok=0; why="$why --field-selector: $fsel"; }
    [[ $all == "NAMESPACE   NAME        POD-SELECTOR   AGE"*"shop        web-allow   app=web"* ]] ||
        { ok=0; why="$why -A: $all"; }
    if [ $ok = 1 ]; then pass get; else fail get "$why"; fi
}

test_get_watch() {
    k get pods -n shop -w --output-watch-events >"$T_TMP/getw" 2>&1 &
    local pid=$! ok=1
    t_wait 30 grep -q 'web-2' "$T_TMP/getw" || ok=0
    k label pod -n shop web-2 watched=yes >/dev/null
    t_wait 30 grep -q '^MODIFIED *web-2' "$T_TMP/getw" || ok=0
    k run -n shop temp --image=busybox >/dev/null
    k delete pod -n shop temp --wait=false >/dev/null
    t_wait 30 grep -q '^DELETED *temp' "$T_TMP/getw" || ok=0
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ $ok = 1 ] && grep -q '^ADDED *temp' "$T_TMP/getw"; then
        pass get_watch
    else
        fail get_watch "$(cat "$T_TMP/getw")"
    fi
}

# A Service and its EndpointSlice as the EndpointSlice controller writes it (tabby-node's
# policy reads slices: rules naming a Service); a watch of slices sees a change of addresses.
test_services_endpointslices() {
    local out1 out2 name port ok=1 why=
    slice_doc() {
        printf 'apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: shop}\n'
        printf 'spec: {selector: {app: db}, ports: [{port: 5432, protocol: TCP}]}\n---\n'
        printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n'
        printf 'metadata: {name: db-abc, namespace: shop, labels: {kubernetes.io/service-name: db}}\n'
        printf 'addressType: IPv4\nendpoints: [{addresses: ["%s"], conditions: {ready: true}}]\n' "$1"
        printf 'ports: [{name: "", port: 5432, protocol: TCP}]\n'
    }
    out1=$(slice_doc 10.0.1.1 | k apply -f - 2>&1)
    k get endpointslices -n shop -w --output-watch-events >"$T_TMP/slicew" 2>&1 &
    local pid=$!
    t_wait 30 grep -q 'db-abc' "$T_TMP/slicew" || { ok=0; why="watch: no ADDED"; }
    out2=$(slice_doc 10.0.1.2 | k apply -f - 2>&1)
    t_wait 30 grep -q '^MODIFIED *db-abc' "$T_TMP/slicew" || { ok=0; why="$why watch: no MODIFIED"; }
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    name=$(k get endpointslices -n shop -l kubernetes.io/service-name=db -o name 2>&1)
    port=$(k get svc -n shop db -o jsonpath='{.spec.ports[0].port} ' 2>&1)
    port+=$(k get endpointslice -n shop db-abc -o jsonpath='{.endpoints[0].addresses[0]}' 2>&1)
    [ "$(grep -c ' created$' <<<"$out1")" = 2 ] || { ok=0; why="$why first: $out1"; }
    grep -q '^endpointslice.discovery.k8s.io/db-abc configured$' <<<"$out2" &&
        grep -q '^service/db unchanged$' <<<"$out2" || { ok=0; why="$why again: $out2"; }
    [ "$name" = endpointslice.discovery.k8s.io/db-abc ] || { ok=0; why="$why -l: $name"; }
    [ "$port" = "5432 10.0.1.2" ] || { ok=0; why="$why get: $port"; }
    k delete endpointslice -n shop db-abc >/dev/null 2>&1 && k delete svc -n shop db >/dev/null 2>&1 ||
        { ok=0; why="$why delete failed"; }
    if [ $ok = 1 ]; then pass services_endpointslices; else fail services_endpointslices "$why"; fi
}

test_label_annotate() {
    local out got
    out=$(k label pod -n shop db-1 role=primary 2>&1; k annotate pod -n shop db-1 owner=team-db 2>&1;
        k label pod -n shop db-1 app- 2>&1)
    got=$(k get pod -n shop db-1 -o jsonpath='{.metadata.labels} {.metadata.annotations.owner}')
    if [ "$got" = '{"role":"primary"} team-db' ]; then
        pass label_annotate
    else
        fail label_annotate "$out | $got"
    fi
}

test_patch() {
    local out got
    out=$(k patch pod -n shop web-1 --type merge -p '{"metadata":{"labels":{"merged":"1"}}}' 2>&1
        # strategic: containers merge by name, ports by containerPort, env by name
        k patch pod -n shop web-1 -p '{"spec":{"containers":[{"name":"main","image":"nginx:1.27","ports":[{"containerPort":443,"name":"https"}],"env":[{"name":"A","value":"1"}]}]}}' 2>&1
        k patch pod -n shop web-1 --type json -p '[{"op":"add","path":"/metadata/annotations","value":{"j":"2"}},{"op":"test","path":"/spec/nodeName","value":"node-1"}]' 2>&1)
    got=$(k get pod -n shop web-1 -o jsonpath='{.metadata.labels.merged} {.metadata.annotations.j} {range .spec.containers[*]}{.name}={.image}:{.ports[*].containerPort}:{.env[*].name} {end}')
    if [ "$got" = "1 2 main=nginx:1.27:80 443:A side=busybox:1.36:: " ]; then
        pass patch
    else
        fail patch "$out | $got"
    fi
}

test_replace() {
    local out stale got
    k get pod -n shop web-2 -o yaml >"$T_TMP/web2.yaml"
    sed -i 's/watched: "yes"/watched: "again"/' "$T_TMP/web2.yaml"
    out=$(k replace -f "$T_TMP/web2.yaml" 2>&1)
    stale=$(k replace -f "$T_TMP/web2.yaml" 2>&1)   # its resourceVersion is now old
    got=$(k get pod -n shop web-2 -o jsonpath='{.metadata.labels.watched}')
    if [ "$out" = "pod/web-2 replaced" ] && [ "$got" = again ] &&
        [[ $stale == *'Operation cannot be fulfilled on pods "web-2": the object has been modified; please apply your changes to the latest version and try again'* ]]; then
        pass replace
    else
        fail replace "$out | stale: $stale | label: $got"
    fi
}

test_delete() {
    local out rv uid pre_rv pre_uid gone
    k run -n shop victim --image=busybox >/dev/null
    rv=$(k get pod -n shop victim -o jsonpath='{.metadata.resourceVersion}')
    uid=$(k get pod -n shop victim -o jsonpath='{.metadata.uid}')
    k label pod -n shop victim moved=on >/dev/null
    pre_rv=$(api DELETE /api/v1/namespaces/shop/pods/victim -H 'Content-Type: application/json' \
        -d "{\"preconditions\":{\"resourceVersion\":\"$rv\"}}")
    pre_uid=$(api DELETE /api/v1/namespaces/shop/pods/victim -H 'Content-Type: application/json' \
        -d '{"preconditions":{"uid":"00000000-0000-0000-0000-000000000000"}}')
    out=$(k delete pod -n shop victim 2>&1)
    gone=$(k get pod -n shop victim 2>&1)
    if [[ $pre_rv == *'"message": "Operation cannot be fulfilled on pods \"victim\": Precondition failed: ResourceVersion in precondition: '"$rv"', ResourceVersion in object meta: '* ]] &&
        [[ $pre_rv == *'"reason": "Conflict"'*'"code": 409'* ]] &&
        [[ $pre_uid == *"Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000, UID in object meta: $uid"* ]] &&
        [ "$out" = 'pod "victim" deleted' ] &&
        [ "$gone" = 'Error from server (NotFound): pods "victim" not found' ]; then
        pass delete
    else
        fail delete "rv precondition: $pre_rv | uid precondition: $pre_uid | delete: $out | get: $gone"
    fi
}

test_paging() {
    local next out lists
    k create namespace pages >/dev/null
    for i in 1 2 3 4 5 6 7; do k run -n pages "p$i" --image=busybox >/dev/null; done
    next=$(api GET /_test/requests | json 'd["next"]')
    out=$(k get pods -n pages --chunk-size=2 -o name 2>&1 | tr '\n' ' ')
    lists=$(api GET "/_test/requests?since=$next" |
        json 'sum(1 for r in d["requests"] if r["verb"] == "list" and "limit=2" in r["query"])')
    if [ "$out" = "pod/p1 pod/p2 pod/p3 pod/p4 pod/p5 pod/p6 pod/p7 " ] && [ "$lists" = 4 ]; then
        pass paging
    else
        fail paging "$out; $lists list requests of 2 (want 4)"
    fi
}

test_crd() {
    local out1 out2 got short gone ok=1 why=
    cat >"$T_TMP/crd.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ippools.crd.projectcalico.org}
spec:
  group: crd.projectcalico.org
  names: {kind: IPPool, listKind: IPPoolList, plural: ippools, singular: ippool}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, shortNames: [wd]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    additionalPrinterColumns: [{name: Size, type: integer, jsonPath: .spec.size}]
EOF
    cat >"$T_TMP/cr.yaml" <<'EOF'
apiVersion: crd.projectcalico.org/v1
kind: IPPool
metadata: {name: default-ipv4-ippool}
spec: {cidr: 10.244.0.0/16, blockSize: 26, vxlanMode: Never}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: shop}
spec: {size: 3}
EOF
    out1=$(k apply -f "$T_TMP/crd.yaml" 2>&1)
    t_wait 30 k get --raw /apis/example.com/v1 || { ok=0; why="not served"; }
    out2=$(k apply -f "$T_TMP/cr.yaml" 2>&1)
    got=$(k get ippools.crd.projectcalico.org default-ipv4-ippool -o jsonpath='{.spec.cidr}' 2>&1)
    short=$(k get wd -n shop 2>&1)
    sed -i 's/size: 3/size: 5/' "$T_TMP/cr.yaml"
    k apply -f "$T_TMP/cr.yaml" >/dev/null 2>&1
    [ "$(k get wd -n shop w1 -o jsonpath='{.spec.size} {.metadata.generation}')" = "5 2" ] ||
        { ok=0; why="$why apply of a changed widget"; }
    k delete -f "$T_TMP/crd.yaml" >/dev/null 2>&1
    gone=$(api GET /apis/example.com/v1/namespaces/shop/widgets -o /dev/null -w '%{http_code}')
    [ "$(grep -c ' created$' <<<"$out1"$'\n'"$out2")" = 4 ] || { ok=0; why="$why apply: $out1 $out2"; }
    [ "$got" = 10.244.0.0/16 ] || { ok=0; why="$why ippool: $got"; }
    [[ $short == "NAME   SIZE"*"w1     3"* ]] || { ok=0; why="$why get wd: $short"; }
    [ "$gone" = 404 ] || { ok=0; why="$why after the CRD went: $gone"; }
    if [ $ok = 1 ]; then pass crd; else fail crd "$why"; fi
}

test_status_subresource() {
    local gen1 st1 st2 gen2
    api POST /api/v1/namespaces/shop/pods -H 'Content-Type: application/json' -d \
        '{"metadata":{"name":"st"},"spec":{"containers":[{"name":"c","image":"x"}]},"status":{"phase":"Running"}}' >/dev/null
    st1=$(k get pod -n shop st -o jsonpath='{.status.phase}')
    k patch pod -n shop st --subresource=status --type merge -p '{"status":{"phase":"Running","podIP":"10.0.0.5"}}' >/dev/null
    k patch pod -n shop st --type merge -p '{"status":{"phase":"Failed"},"metadata":{"labels":{"l":"1"}}}' >/dev/null
    st2=$(k get pod -n shop st -o jsonpath='{.status.phase} {.status.podIP} {.metadata.labels.l} {.metadata.generation}')
    if [ "$st1" = Pending ] && [ "$st2" = "Running 10.0.0.5 1 1" ] &&
        [ "$(k get pods -A --field-selector status.podIP=10.0.0.5 -o name)" = pod/st ]; then
        pass status_subresource
    else
        fail status_subresource "created: $st1; after: $st2"
    fi
}

test_missing_namespace() {
    local out
    out=$(k run -n nowhere lost --image=busybox 2>&1)
    if [ "$out" = 'Error from server (NotFound): namespaces "nowhere" not found' ]; then
        pass missing_namespace
    else
        fail missing_namespace "$out"
    fi
}

# RBAC on a second server: a ServiceAccount token is refused until a binding allows it.
test_rbac() {
    start rbac --rbac || { fail rbac "the --rbac server did not start"; return; }
    local kr="kapi_kubectl $T_TMP/rbac"
    local tok ks before can_before can after err ok=1 why=
    $kr create namespace team >/dev/null
    $kr create serviceaccount -n team agent >/dev/null
    tok=$($kr create token -n team agent --duration=1h)
    ks="kubectl --server $(url rbac) --certificate-authority $T_TMP/rbac/ca.crt --token $tok --cache-dir $T_TMP/kcache-sa"
    before=$($ks get pods -n team 2>&1)
    can_before=$($kr auth can-i list pods -n team --as system:serviceaccount:team:agent 2>&1)
    $kr create clusterrole pod-reader --verb=get,list,watch --resource=pods >/dev/null
    $kr create rolebinding agent-reads -n team --clusterrole=pod-reader \
        --serviceaccount=team:agent >/dev/null
    after=$($ks get pods -n team 2>&1)
    can=$($ks auth can-i list pods -n team 2>&1; $ks auth can-i list pods -n default 2>&1;
        $ks auth can-i create pods -n team 2>&1)
    err=$($ks get nodes 2>&1)
    [ "$before" = 'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:team:agent" cannot list resource "pods" in API group "" in the namespace "team"' ] ||
        { ok=0; why="before the binding: $before"; }
    [ "$can_before" = no ] || { ok=0; why="$why can-i before: $can_before"; }
    [ "$after" = "No resources found in team namespace." ] || { ok=0; why="$why after: $after"; }
    [ "$(echo $can)" = "yes no no" ] || { ok=0; why="$why can-i: $(echo $can)"; }
    [ "$err" = 'Error from server (Forbidden): nodes is forbidden: User "system:serviceaccount:team:agent" cannot list resource "nodes" in API group "" at the cluster scope' ] ||
        { ok=0; why="$why nodes: $err"; }
    $kr delete serviceaccount -n team agent >/dev/null
    [[ $($ks get pods -n team 2>&1) == *Unauthorized* ]] ||
        { ok=0; why="$why the token outlived its ServiceAccount"; }
    stop rbac
    if [ $ok = 1 ]; then pass rbac; else fail rbac "$why"; fi
}

test_token_expiry() {
    start short --min-token-seconds 1 || { fail token_expiry "the server did not start"; return; }
    local ks tok out1 out2
    ks="kapi_kubectl $T_TMP/short"
    $ks create serviceaccount brief >/dev/null
    tok=$($ks create token brief --duration=3s)
    probe() {
        curl -s -o /dev/null -w '%{http_code}' --cacert "$T_TMP/short/ca.crt" \
            -H "Authorization: Bearer $tok" "$(url short)/api/v1/namespaces/default/pods"
    }
    out1=$(probe)
    expired() { [ "$(probe)" = 401 ]; }
    if [ "$out1" = 200 ] && t_wait 30 expired; then
        pass token_expiry
    else
        fail token_expiry "fresh token: $out1, later: $(probe)"
    fi
    stop short
}

# --state keeps objects, revision and history across a restart; --forget-history keeps
# the objects but not the window; without --state the cluster is new.
test_restart_state() {
    local p rv rv2 events forgot fresh ok=1 why=
    start keep --state "$T_TMP/keep.json" || { fail restart_state "no start"; return; }
    local kk="kapi_kubectl $T_TMP/keep"
    p=$(port keep)
    $kk create configmap before -n default >/dev/null
    rv=$($kk get configmap before -n default -o jsonpath='{.metadata.resourceVersion}')
    $kk create configmap after -n default >/dev/null
    stop keep
    start keep --state "$T_TMP/keep.json" --listen "127.0.0.1:$p" || { fail restart_state "no restart"; return; }
    events=$(kapi_curl "$T_TMP/keep" GET \
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=$rv&timeoutSeconds=1" |
        python3 -c 'import json,sys; print([json.loads(l)["object"]["metadata"]["name"] for l in sys.stdin])')
    $kk create configmap third -n default >/dev/null
    rv2=$($kk get configmap third -n default -o jsonpath='{.metadata.resourceVersion}')
    [ "$events" = "['after']" ] || { ok=0; why="watch across the restart: $events"; }
    [ "$rv2" -gt "$rv" ] || { ok=0; why="$why revision went back: $rv2 after $rv"; }
    stop keep
    start keep --state "$T_TMP/keep.json" --listen "127.0.0.1:$p" --forget-history ||
        { fail restart_state "no restart"; return; }
    forgot=$(kapi_curl "$T_TMP/keep" GET \
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=$rv&timeoutSeconds=1")
    [[ $forgot == '{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: '"$rv"' ('* ]] &&
        [[ $forgot == *'"reason":"Expired","code":410}}' ]] || { ok=0; why="$why forgotten history: $forgot"; }
    [ "$($kk get configmap -n default third -o name 2>&1)" = configmap/third ] ||
        { ok=0; why="$why objects lost with the history"; }
    stop keep
    rm -f "$T_TMP/keep.json"
    start keep --listen "127.0.0.1:$p" || { fail restart_state "no restart"; return; }
    fresh=$($kk get configmap -n default -o name 2>&1)
    stop keep
    [ "$fresh" = configmap/kube-root-ca.crt ] || [ -z "$fresh" ] ||
        [ "$fresh" = "No resources found in default namespace." ] ||
        { ok=0; why="$why a restart without --state kept: $fresh"; }
    if [ $ok = 1 ]; then pass restart_state; else fail restart_state "$why"; fi
}

test_unauthorized
test_raw_watch_stream
test_request_log
test_traffic
test_fault_reset_and_gone
if [ $HAVE_KUBECTL = 1 ]; then
    for c in $KUBECTL_CASES; do "test_$c"; done
else
    for c in $KUBECTL_CASES; do skip "$c" "kubectl is not installed"; done
fi
for c in $PY_CASES; do
    if [ -z "$PYK" ]; then
        skip "$c" "the Python client (Debian package python3-kubernetes) is not installed"
    elif out=$(timeout 180 "$PYK" "$CASES" "$c" "$T_TMP/api" 2>&1); then
        pass "$c"
    else
        fail "$c" "$out"
    fi
done
t_end
