#!/usr/bin/env bash
# policy_services_k8s.sh — rules naming a Kubernetes Service (`services`), enforced on the
# k8s: datastore (the API server is the project's test double, see k8s_lib.sh; the test
# plays the EndpointSlice controller, writing the slices with kubectl). Two VXLAN nodes;
# pods a, c on n1 and b, d on n2. a's egress denies TCP to service db (then allows all);
# d's ingress allows only service clients. As Calico: a destination service is its
# slices' endpoint addresses with their ports, a source service their addresses.
#   - db holds b:80 and clients holds a: a->b:80 denied, a->b:81 allowed (not a port of
#     db), a->d allowed, c->d denied;
#   - the slices change (db holds d:80, clients holds c): traffic follows, with no rule
#     changed in either node's table (set elements only);
#   - a Service in another namespace with the same name matches nothing here;
#   - tabbyctl policy explain evaluates the rules with the slices, as the nodes do;
#   - the slices deleted: the services' sets are empty.
# On sqlite and etcd `services` is refused at apply (tabbyctl.sh, tests/data/unenforced).
# Needs root; never touches the host's namespace.
set -u
. "$(dirname "$0")/lib.sh"
t_begin policy_services_k8s
. "$(dirname "$0")/podnet.sh"
. "$(dirname "$0")/node_lib.sh"
. "$(dirname "$0")/k8s_lib.sh"

NL_BACKEND=vxlan
nl_init policy_services_k8s python3
kl_cluster policy_services_k8s
for node in n1 n2; do
    if ! nl_start "$node" --ip-autodetection-method=interface=eth0; then
        fail "start_$node" "$(nl_http "$node" /readiness) $(tail -3 "$T_TMP/tabby-node-$node.log")"
        t_end
    fi
done
nl_pod n1 default a app=a && nl_pod n1 default c app=c && nl_pod n2 default b app=b &&
    nl_pod n2 default d app=d || { fail setup "pods not made"; t_end; }

# slice_yaml NS NAME SERVICE IP PORT PROTO: an EndpointSlice of SERVICE with one endpoint.
slice_yaml() {
    cat <<YAML
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $2
  namespace: $1
  labels: {kubernetes.io/service-name: $3}
addressType: IPv4
endpoints: [{addresses: ["$4"], conditions: {ready: true}}]
ports: [{name: "", port: $5, protocol: $6}]
YAML
}

# slices DB_IP CLIENTS_IP: the Services and their EndpointSlices as the controller keeps
# them (db's port 80 over TCP), written through the API; waits until both nodes programmed.
slices() {
    { cat <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  selector: {app: db}
  ports: [{port: 80, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: clients, namespace: default}
spec:
  selector: {app: clients}
  ports: [{port: 9, protocol: UDP}]
YAML
      slice_yaml default db-1 db "$1" 80 TCP
      slice_yaml default clients-1 clients "$2" 9 UDP
    } | pn_do kl_kubectl apply -f - >/dev/null
}

# A db in another namespace: a rule of namespace default never matches it.
{ printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n'
  slice_yaml other db-other db "$(pn_ip default c)" 80 TCP
} | pn_do kl_kubectl apply -f - >/dev/null
slices "$(pn_ip default b)" "$(pn_ip default a)" || { fail setup "slices not written"; t_end; }
if ! out=$(pn_apply 2>&1 <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: a-not-to-db, namespace: default}
spec:
  selector: app == 'a'
  types: [Egress]
  egress:
  - action: Deny
    protocol: TCP
    destination:
      services: {name: db}
  - action: Allow
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: d-from-clients, namespace: default}
spec:
  selector: app == 'd'
  types: [Ingress]
  ingress:
  - action: Allow
    source:
      services: {name: clients, namespace: default}
YAML
); then
    fail policies_applied "$out"
    t_end
fi
pass policies_applied_on_k8s

pn_expect to_service_endpoint_port_denied deny default a default b 80 TCP
pn_expect to_service_endpoint_other_port_allowed allow default a default b 81 TCP
pn_expect to_other_namespace_service_allowed allow default a default c 80 TCP
pn_expect from_service_endpoint_allowed allow default a default d 80 TCP
pn_expect from_outside_service_denied deny default c default d 80 TCP
pn_check

# tabbyctl policy explain reads the slices too, and says what the nodes do.
explain() { pn_ctl policy explain "default/$1" "default/$2" "$3" >/dev/null 2>&1; echo $?; }
got="$(explain a b 80/TCP) $(explain a b 81/TCP) $(explain c d 80/TCP) $(explain a d 80/TCP)"
if [ "$got" = "1 0 1 0" ]; then
    pass explain_follows_the_slices
else
    fail explain_follows_the_slices "exit codes a->b:80 a->b:81 c->d a->d: $got (want 1 0 1 0)"
fi

# The node's table without set elements: its chains, rules and sets.
rules() {
    nl_in "$1" nft -s list table inet tabby 2>&1 |
        awk '/elements = \{/ { skip = 1 } !skip { print } skip && /\}/ { skip = 0 }'
}
before1=$(rules n1)
before2=$(rules n2)
slices "$(pn_ip default d)" "$(pn_ip default c)" || { fail slices_changed "not written"; t_end; }
pn_expect old_endpoint_now_allowed allow default a default b 80 TCP
pn_expect new_endpoint_now_denied deny default a default d 80 TCP
pn_expect new_source_endpoint_allowed allow default c default d 81 TCP
pn_expect old_source_endpoint_now_denied deny default a default d 81 TCP
pn_check
if [ "$(rules n1)" = "$before1" ] && [ "$(rules n2)" = "$before2" ]; then
    pass endpoint_changes_change_set_elements_only
else
    fail endpoint_changes_change_set_elements_only \
        "$(diff <(echo "$before1") <(rules n1) | head -5)"
fi

# Slices gone: the services have no endpoint; their sets are empty on both nodes (a Deny
# matches nothing, an Allow nothing).
svc_elements() {
    nl_in "$1" nft -j list table inet tabby 2>/dev/null |
        jq "[.nftables[].set? | select(. != null and .comment == \"service default/$2\") |
             (.elem // []) | length] | add // -1"
}
pn_do kl_kubectl delete endpointslice db-1 clients-1 >/dev/null
pn_expect no_endpoints_nothing_allowed deny default c default d 80 TCP
pn_check
got="$(svc_elements n1 db) $(svc_elements n2 clients)"
if [ "$got" = "0 0" ]; then
    pass no_endpoints_empty_sets
else
    fail no_endpoints_empty_sets "elements of db on n1, clients on n2: $got"
fi
t_end
