#!/usr/bin/env bash
# policy_matrix.sh — Kubernetes' network policy truth tables on real traffic: namespaces
# x, y, z with pods a, b, c on two tabby nodes (matrix_lib.sh), a policy set applied
# through the datastore per scenario, and the full matrix (9 sources × 9 pods × 80/81 ×
# TCP/UDP, 80/SCTP and ICMP echo, plus a DNS pod on 53) probed and compared with what
# Kubernetes and Calico semantics expect. One PASS/FAIL line per scenario, naming the
# cells that differ, followed by the matrices of those ports (comment lines). At the end
# every policy of the run at once, and tabby-node restarted over them.
#
# Each scenario writes its expectation as in_NAME (does the destination's ingress accept
# the probe) and out_NAME (does the source's egress let it go), see matrix_lib.sh.
# Fixture: x, y and kube-system/dns on node n1, z on node n2. Pods carry pod=<a|b|c> and
# app=<role> (x: frontend backend database, y: frontend api database, z: backend api
# frontend) and the service account <role>; Namespaces carry ns=<name>, z also team=ops. Named ports: web = 80/TCP on a,
# 81/TCP on b, 80/UDP on c; http = 80/TCP on a, 81/TCP on b; dgram = 81/UDP on a, 80/UDP
# on b; assoc = 80/SCTP on a, 81/SCTP on c. Addresses 10.70.<1|2|3>.<1|2|3> for x|y|z and
# a|b|c; kube-system/dns 10.70.4.53 serves 53/UDP and 53/TCP. SCTP is probed one way (the
# INIT's arrival, see prober.c), so it needs no SCTP in the kernel. Namespace "y" is quoted
# in YAML: bare, it is a YAML 1.1 boolean. Needs root; never touches the host's namespace.
#
# MX_STORE=k8s (policy_matrix_k8s.sh) runs every scenario, with the same expectations, on
# the k8s: datastore (matrix_lib.sh says how); with MX_RUNTIME=podman too
# (policy_matrix_k8s_podman.sh), tabby-node is the DaemonSet's pod played by podman.
#
# Dual stack: every pod has an IPv6 address too (fd70:<1|2|3>::<1|2|3>, dns fd70:4::53),
# and the scenarios of MX_IPV6_SOME below are checked over IPv6 as well (NAME_ipv6 and
# explain_NAME_ipv6): MX_IPV6=all checks every scenario (a rule with IPv4 nets has an
# IPv6 twin naming the same pods), MX_IPV6=none none. The subset covers both datastores'
# selectors, named ports, SCTP, ICMP against ICMPv6 (a rule's protocol ICMP does not match
# ICMPv6's echo), ipVersion, notNets of one family, tiers, egress and the DNS pod; the
# whole IPv6 matrix doubles the probing and explaining of a run.
set -u
. "$(dirname "$0")/lib.sh"
T=policy_matrix${MX_STORE:+_$MX_STORE}${MX_RUNTIME:+_$MX_RUNTIME}
t_begin "$T"
t_need_root "$T"
. "$(dirname "$0")/podnet.sh"
. "$(dirname "$0")/matrix_lib.sh"
if [ "${MX_STORE:-}" = k8s ]; then
    . "$(dirname "$0")/k8s_lib.sh"
    kl_need "$T"
fi

if [ ! -x "$PROBER" ]; then
    skip "$T" "no prober at $PROBER (make check builds it)"
    t_end
fi
MX_IPV6_SOME="no_policy_everything_open k8s_default_deny_both k8s_namespace_selector
    k8s_named_ports_udp k8s_dns_pod_policy sctp_ports calico_protocols calico_icmp
    calico_egress_rule_order calico_ip_version tier_pass_to_next_tier k8s_ipblock_except
    k8s_ipblock_whole_space calico_global_network_set_deny calico_network_set calico_not_nets"

START=$SECONDS
if ! mx_setup; then
    why=$(tail -3 "$T_TMP"/tabby-node-n*.log 2>/dev/null)
    fail setup "pods or tabby-node did not come up: $why"
    t_end
fi

# A README example, adapted to the fixture: its namespace and ports replaced.
example() {
    sed -e "s/namespace: default/namespace: \"$2\"/" -e 's/5432/80/' -e 's/8080/80/' \
        "$T_TOP/examples/$1.yaml"
}

# ==== no policy ================================================================================

mx_check no_policy_everything_open

# ==== Kubernetes NetworkPolicy =================================================================

in_k8s_default_deny_ingress() { ! to x; }
mx_scenario k8s_default_deny_ingress <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
YAML

out_k8s_default_deny_egress() { ! from x; }
mx_scenario k8s_default_deny_egress <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
YAML

# z selected in both directions with no rules at all: closed both ways.
in_k8s_default_deny_both() { ! to z; }
out_k8s_default_deny_both() { ! from z; }
mx_scenario k8s_default_deny_both <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: z}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
YAML

# An empty rule, and a rule with empty from and ports lists, both match everything.
mx_scenario k8s_allow_all_over_default_deny <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: x}
spec:
  podSelector: {}
  ingress: [{}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: "y"}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all-empty-lists, namespace: "y"}
spec:
  podSelector: {}
  ingress:
  - from: []
    ports: []
YAML

in_k8s_namespace_selector() { ! to x/a || from y; }
mx_scenario k8s_namespace_selector <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: "y"}}
YAML

# A pod selector alone means pods of the policy's own namespace.
in_k8s_pod_selector() { ! to x/a || from x/b; }
mx_scenario k8s_pod_selector <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
YAML

in_k8s_namespace_and_pod_in_one_peer() { ! to x/a || from y/c z/c; }
mx_scenario k8s_namespace_and_pod_in_one_peer <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-c-of-y-z, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: ns, operator: In, values: ["y", z]}]
      podSelector: {matchLabels: {pod: c}}
YAML

in_k8s_namespace_or_pod_two_peers() { ! to x/a || from y x/c; }
mx_scenario k8s_namespace_or_pod_two_peers <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-y-or-c, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: ns, operator: In, values: ["y"]}]
    - podSelector: {matchLabels: {pod: c}}
YAML

# An empty namespaceSelector: the pod selector in every namespace.
in_k8s_pod_selector_in_every_namespace() { ! to x || from '*/b'; }
mx_scenario k8s_pod_selector_in_every_namespace <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-every-b, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector: {matchLabels: {pod: b}}
YAML

# Applies to y/b and y/c; peers: app frontend or backend, not pod c, in namespaces
# without a team label (x/a, x/b, y/a).
in_k8s_match_expressions() { ! to y/b y/c || from x/a x/b y/a; }
mx_scenario k8s_match_expressions <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: expressions, namespace: "y"}
spec:
  podSelector:
    matchExpressions: [{key: pod, operator: NotIn, values: [a]}]
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: team, operator: DoesNotExist}]
      podSelector:
        matchExpressions:
        - {key: app, operator: In, values: [frontend, backend]}
        - {key: pod, operator: NotIn, values: [c]}
        - {key: app, operator: Exists}
YAML

in_k8s_ipblock_except() { ! to x/b || from x z/a z/b; }
mx_scenario k8s_ipblock_except <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-from-block, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - ipBlock:
        cidr: 10.70.0.0/16
        except: [10.70.2.0/24, 10.70.3.3/32]
    - ipBlock: {cidr: "fd70::/16", except: ["fd70:2::/64", "fd70:3::3/128"]}
YAML

out_k8s_egress_ipblock() { ! from x/a || to y/a y/c; }
mx_scenario k8s_egress_ipblock <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-to-block, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 10.70.2.0/24, except: [10.70.2.2/32]}
    - ipBlock: {cidr: "fd70:2::/64", except: ["fd70:2::2/128"]}
YAML

# "web" is 80/TCP on x/a, 81/TCP on x/b, and UDP on x/c (so no TCP port there).
in_k8s_named_port_tcp() { ! to x || { to x/a && on 80/tcp; } || { to x/b && on 81/tcp; }; }
mx_scenario k8s_named_port_tcp <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports: [{protocol: TCP, port: web}]
YAML

in_k8s_named_ports_udp() {
    ! to y || { from y && { { to y/a && on 81/udp; } || { to y/b y/c && on 80/udp; }; }; }
}
mx_scenario k8s_named_ports_udp <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: udp-names, namespace: "y"}
spec:
  podSelector: {}
  ingress:
  - from: [{podSelector: {}}]
    ports:
    - {protocol: UDP, port: web}
    - {protocol: UDP, port: dgram}
YAML

# Egress to a named port resolves on each destination pod ("http" defaults to TCP).
out_k8s_named_port_egress() {
    ! from z/a || { to '*/a' && on 80/tcp; } || { to '*/b' && on 81/tcp; }
}
mx_scenario k8s_named_port_egress <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-to-http, namespace: z}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {}, podSelector: {}}]
    ports: [{port: http}]
YAML

in_k8s_end_port() { ! to z || on 80/tcp 81/tcp 81/udp; }
mx_scenario k8s_end_port <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ranges, namespace: z}
spec:
  podSelector: {}
  ingress:
  - ports:
    - {protocol: TCP, port: 80, endPort: 81}
    - {protocol: UDP, port: 81, endPort: 100}
YAML

# A port without a protocol is TCP.
in_k8s_port_defaults_to_tcp() { ! to y/c || on 81/tcp; }
mx_scenario k8s_port_defaults_to_tcp <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-81, namespace: "y"}
spec:
  podSelector: {matchLabels: {pod: c}}
  ingress:
  - ports: [{port: 81}]
YAML

# Several policies on one pod: the union of what they allow.
in_k8s_policies_union() { ! to x/a || { from y && on 80/tcp; } || { from z && on 81/udp; }; }
mx_scenario k8s_policies_union <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-y-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: "y"}}}]
    ports: [{protocol: TCP, port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-z-81, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: z}}}]
    ports: [{protocol: UDP, port: 81}]
YAML

# policyTypes Egress without egress rules: nothing leaves x/b, ingress untouched; y/b has
# both types and allows all ingress: only its egress closes.
out_k8s_egress_type_without_rules() { ! from x/b y/b; }
mx_scenario k8s_egress_type_without_rules <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-no-egress, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-ingress-only-open, namespace: "y"}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Ingress, Egress]
  ingress: [{}]
YAML

# Both ends must agree: x/a may send only to y, y/b accepts only x/a.
out_k8s_egress_and_ingress_together() { ! from x/a || to y; }
in_k8s_egress_and_ingress_together() { ! to y/b || from x/a; }
mx_scenario k8s_egress_and_ingress_together <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-to-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {ns: "y"}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-from-xa, namespace: "y"}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: x}}
      podSelector: {matchLabels: {pod: a}}
YAML

# policyTypes left out: Ingress always, Egress as there are egress rules; so a policy with
# egress rules only closes the pod's ingress too.
in_k8s_policy_types_default() { ! to x/a; }
out_k8s_policy_types_default() { ! from x/a || to "y"; }
mx_scenario k8s_policy_types_default <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-egress-rules-only, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to: [{namespaceSelector: {matchLabels: {ns: "y"}}}]
YAML

# One pod, one policy per direction: each closes only its own direction.
in_k8s_one_policy_per_direction() { ! to x/a || from "y"; }
out_k8s_one_policy_per_direction() { ! from x/a || to z; }
mx_scenario k8s_one_policy_per_direction <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-in, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: "y"}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-out, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {ns: z}}}]
YAML

# An ipBlock peer and a pod selector peer in one rule: either. The namespace's name label.
in_k8s_ipblock_or_pod_peer() { { ! to x/c || from z/b z/c x/a; } && { ! to y/a || from z; }; }
mx_scenario k8s_ipblock_or_pod_peer <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-from-block-or-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: c}}
  ingress:
  - from:
    - ipBlock: {cidr: 10.70.3.0/24, except: [10.70.3.1/32]}
    - ipBlock: {cidr: "fd70:3::/64", except: ["fd70:3::1/128"]}
    - podSelector: {matchLabels: {pod: a}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-z-by-name, namespace: "y"}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: z}}
YAML

# ipBlock 0.0.0.0/0 (the whole address space, an except cut out of it) on egress and
# ingress, and a CIDR with host bits (Kubernetes matches its network).
out_k8s_ipblock_whole_space() { ! from x/b || ! to x; }
in_k8s_ipblock_whole_space() { ! to z/a || from y/a y/b; }
mx_scenario k8s_ipblock_whole_space <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-out-not-x, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.70.1.0/24]}},
         {ipBlock: {cidr: "::/0", except: ["fd70:1::/64"]}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-in-anything, namespace: z}
spec:
  podSelector: {matchLabels: {pod: c}}
  ingress:
  - from: [{ipBlock: {cidr: 0.0.0.0/0}}, {ipBlock: {cidr: "::/0"}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-in-host-bits, namespace: z}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{ipBlock: {cidr: 10.70.2.7/24, except: [10.70.2.3/32]}},
           {ipBlock: {cidr: "fd70:2::7/64", except: ["fd70:2::3/128"]}}]
YAML

# A policy in kube-system for the DNS pod, by named and numeric port; a Calico rule
# picking a namespace by its name (projectcalico.org/name).
in_k8s_dns_pod_policy() {
    { ! to kube-system || { from x && on 53/udp; } || { from z/a && on 53/tcp; }; } &&
        { ! to "y" || from x; }
}
mx_scenario k8s_dns_pod_policy <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: dns-from-x, namespace: kube-system}
spec:
  podSelector: {matchLabels: {k8s-app: kube-dns}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: x}}}]
    ports: [{protocol: UDP, port: dns}]
  - from: [{namespaceSelector: {matchLabels: {ns: z}}, podSelector: {matchLabels: {pod: a}}}]
    ports: [{protocol: TCP, port: 53}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: from-x-by-name, namespace: "y"}
spec:
  selector: all()
  ingress:
  - action: Allow
    source: {namespaceSelector: projectcalico.org/name == 'x'}
YAML

# Numeric and named ports in one rule: 81/TCP everywhere, and "http" where declared.
in_k8s_numeric_and_named_ports() { ! to x || on 81/tcp || { to x/a && on 80/tcp; }; }
mx_scenario k8s_numeric_and_named_ports <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: mixed-ports, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {}}]
    ports:
    - {protocol: TCP, port: 81}
    - {protocol: TCP, port: http}
YAML

# SCTP: a named port (assoc: 80 on z/a, 81 on z/c, none on z/b) and a numeric one; a port
# with a protocol and no number is every port of that protocol; a Calico SCTP range.
in_sctp_ports() {
    { ! to z || { to z/a && on 80/sctp; }; } && { ! to y/b || on 80/sctp udp; } &&
        { ! to x/c || on 80/sctp; }
}
mx_scenario sctp_ports <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: sctp-named, namespace: z}
spec:
  podSelector: {}
  ingress:
  - ports: [{protocol: SCTP, port: assoc}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-sctp-and-udp, namespace: "y"}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{namespaceSelector: {}}]
    ports: [{protocol: SCTP, port: 80}, {protocol: UDP}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: c-sctp-range, namespace: x}
spec:
  selector: pod == 'c'
  ingress:
  - {action: Allow, protocol: SCTP, destination: {ports: ["79:80"]}}
YAML

# Egress rules: an empty to list and an absent one both mean every destination (on the
# rule's ports); an empty rule list allows nothing. Ingress the same with from.
out_k8s_empty_and_absent_peers() { { ! from x/c || on 53/udp 81/tcp; } && ! from y/a; }
in_k8s_empty_and_absent_peers() { { ! to z/b; } && { ! to z/c || on 80/udp 81/udp; }; }
mx_scenario k8s_empty_and_absent_peers <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-egress-lists, namespace: x}
spec:
  podSelector: {matchLabels: {pod: c}}
  policyTypes: [Egress]
  egress:
  - to: []
    ports: [{protocol: UDP, port: 53}]
  - ports: [{protocol: TCP, port: 81}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-no-egress-rules, namespace: "y"}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: []
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-no-ingress-rules, namespace: z}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Ingress]
  ingress: []
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-udp-from-all, namespace: z}
spec:
  podSelector: {matchLabels: {pod: c}}
  ingress:
  - from: []
    ports: [{protocol: UDP}]
YAML

# ==== the README's examples, adapted to the fixture ===========================================

in_readme_default_deny() { ! to y; }
mx_apply <(example default-deny y)
mx_check readme_default_deny
mx_reset readme_default_deny

# Egress from x only to DNS in kube-system (UDP and TCP 53).
out_readme_allow_dns() { ! from x || { to kube-system && on 53/udp 53/tcp; }; }
mx_apply <(example allow-dns x)
mx_check readme_allow_dns
mx_reset readme_allow_dns

# x/c (app=database) only from x/b (app=backend), TCP 80 for 5432.
in_readme_db_access() { ! to x/c || { from x/b && on 80/tcp; }; }
mx_apply <(example db-access x)
mx_check readme_db_access
mx_reset readme_db_access

# y/b (app=api) from y/a (app=frontend) and namespace z (team=ops), on "http" = 81/TCP.
in_readme_api_allow() { ! to y/b || { from y/a z && on 81/tcp; }; }
mx_apply <(example api-allow y)
mx_check readme_api_allow
mx_reset readme_api_allow

# Calico: z/b (app=api) from z/c (app=frontend), TCP 80 for 8080.
in_readme_api_policy() { ! to z/b || { from z/c && on 80/tcp; }; }
mx_apply <(example api-policy z)
mx_check readme_api_policy
mx_reset readme_api_policy

# ==== Calico NetworkPolicy and GlobalNetworkPolicy =============================================

# Order: the Deny at 10 wins over the Allow at 20 whatever the file's order; within one
# policy, rules in their order.
in_calico_deny_before_allow() { { ! to x || ! from y; } && { ! to z/a || ! from z/b; }; }
mx_scenario calico_deny_before_allow <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow-all, namespace: x}
spec:
  order: 20
  selector: all()
  ingress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: deny-y, namespace: x}
spec:
  order: 10
  selector: all()
  ingress:
  - action: Deny
    source: {namespaceSelector: ns == 'y'}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: deny-b-then-allow, namespace: z}
spec:
  selector: pod == 'a'
  ingress:
  - action: Deny
    source: {selector: pod == 'b'}
  - action: Allow
YAML

# Pass skips the later Deny and the Kubernetes default deny: the namespace profile allows.
in_calico_pass() { ! to x || from z; }
mx_scenario calico_pass <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: pass-z, namespace: x}
spec:
  order: 10
  selector: all()
  ingress:
  - action: Pass
    source: {namespaceSelector: ns == 'z'}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: deny-rest, namespace: x}
spec:
  order: 20
  selector: all()
  ingress: [{action: Deny}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
YAML

# Log logs and goes on to the next rule.
in_calico_log() { ! to x || ! from y; }
mx_apply <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: log-then-decide, namespace: x}
spec:
  order: 10
  selector: all()
  ingress:
  - action: Log
  - action: Deny
    source: {namespaceSelector: ns == 'y'}
  - action: Allow
YAML
mx_check calico_log
logged=$(ip netns exec "$(pn_node_netns n1)" nft list chain inet tabby pi-np/x/log-then-decide)
if grep -q 'counter packets [1-9].* log prefix .*comment "x/log-then-decide ingress 0"' \
    <<<"$logged"; then
    pass calico_log_rule_counts_every_probe
else
    fail calico_log_rule_counts_every_probe "$logged"
fi
mx_reset calico_log

# notNets: x refuses y's /24; y sends only to x's /24 and DNS, but not to x/a. Each rule
# has its IPv6 twin (a rule's nets are of one family), and a rule whose notNets are of the
# other family does not match at all: were it to, x would accept y over either family.
in_calico_not_nets() { ! to x || ! from y; }
out_calico_not_nets() { ! from y || to x/b x/c kube-system; }
mx_scenario calico_not_nets <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: not-y, namespace: x}
spec:
  selector: all()
  ingress:
  - action: Allow
    source: {notNets: [10.70.2.0/24]}
  - action: Allow
    source: {notNets: ["fd70:2::/64"]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: to-x-not-xa, namespace: "y"}
spec:
  selector: all()
  types: [Egress]
  egress:
  - action: Allow
    destination:
      nets: [10.70.1.0/24, 10.70.4.0/24]
      notNets: [10.70.1.1/32]
  - action: Allow
    destination:
      nets: ["fd70:1::/64", "fd70:4::/64"]
      notNets: ["fd70:1::1/128"]
YAML

# Overlapping nets and notNets in one rule (one interval set each, merged): z accepts x
# and y/b (10.70.2.0/31 and .3 cut out of y's /24).
in_calico_overlapping_nets() { ! to z || from x y/b; }
mx_scenario calico_overlapping_nets <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: overlap, namespace: z}
spec:
  selector: all()
  ingress:
  - action: Allow
    source:
      nets: [10.70.1.0/24, 10.70.1.2/32, 10.70.1.0/25, 10.70.2.0/24]
      notNets: [10.70.2.0/31, 10.70.2.1/32, 10.70.2.3/32]
  - action: Allow
    source:
      nets: ["fd70:1::/64", "fd70:1::2/128", "fd70:1::/65", "fd70:2::/64"]
      notNets: ["fd70:2::/127", "fd70:2::1/128", "fd70:2::3/128"]
YAML

# No selector: the policy applies to every pod of its namespace. A rule's
# namespaceSelector global() matches no pod (only non-namespaced endpoints); nets take a
# bare address.
in_calico_default_selector_and_global() { ! to x || from y/a; }
mx_scenario calico_default_selector_and_global <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: no-selector, namespace: x}
spec:
  ingress:
  - action: Allow
    source: {namespaceSelector: global()}
  - action: Allow
    source: {nets: [10.70.2.1]}
  - action: Allow
    source: {nets: ["fd70:2::1"]}
YAML

# notPorts, numeric in z; named in y ("http" is 80 on y/a, 81 on y/b, absent on y/c).
in_calico_not_ports() {
    { ! to z || on 81/tcp 80/udp; } &&
        { ! to y || { on tcp && ! { to y/a && on 80; } && ! { to y/b && on 81; }; }; }
}
mx_scenario calico_not_ports <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: not-ports, namespace: z}
spec:
  selector: all()
  ingress:
  - action: Allow
    protocol: TCP
    destination: {notPorts: [80]}
  - action: Allow
    protocol: UDP
    destination: {notPorts: ["81:90"]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: not-http, namespace: "y"}
spec:
  selector: all()
  ingress:
  - action: Allow
    protocol: TCP
    destination: {notPorts: [http]}
YAML

# protocol by name on x/a's egress, notProtocol by number on y's ingress.
out_calico_protocols() { ! from x/a || on udp; }
in_calico_protocols() { ! to y || ! on udp; }
mx_scenario calico_protocols <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: a-sends-udp, namespace: x}
spec:
  selector: pod == 'a'
  types: [Egress]
  egress: [{action: Allow, protocol: UDP}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: y-not-udp, namespace: "y"}
spec:
  selector: all()
  ingress: [{action: Allow, notProtocol: 17}]
YAML

# ICMP: x accepts echo requests only (type 8), y everything ICMP but echo (notICMP) and
# TCP, z/a echo only with code 1 (a probe's code is 0), z/b denies ICMP but type 0 and
# allows the rest; x/b sends ICMP only (protocol by number).
in_calico_icmp() {
    { ! to x || on icmp; } && { ! to y || on tcp; } && ! to z/a && { ! to z/b || ! on icmp; }
}
out_calico_icmp() { ! from x/b || on icmp; }
mx_scenario calico_icmp <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: echo-only, namespace: x}
spec:
  selector: all()
  ingress: [{action: Allow, protocol: ICMP, icmp: {type: 8}}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: b-sends-icmp, namespace: x}
spec:
  selector: pod == 'b'
  types: [Egress]
  egress: [{action: Allow, protocol: 1}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: no-echo, namespace: "y"}
spec:
  selector: all()
  ingress:
  - {action: Allow, protocol: ICMP, notICMP: {type: 8}}
  - {action: Allow, protocol: TCP}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: a-echo-code-1, namespace: z}
spec:
  selector: pod == 'a'
  ingress: [{action: Allow, protocol: ICMP, icmp: {type: 8, code: 1}}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: b-no-icmp-but-replies, namespace: z}
spec:
  selector: pod == 'b'
  ingress:
  - {action: Deny, protocol: ICMP, notICMP: {type: 0}}
  - {action: Allow}
YAML

# Egress, rules in order: Log ICMP and go on; Deny to x; Deny ICMP but echo (type 8
# code 0); Allow echo to y; Deny other ICMP (echo elsewhere); Allow the rest.
out_calico_egress_rule_order() { ! from z || { ! to x && { ! on icmp || to "y"; }; }; }
mx_scenario calico_egress_rule_order <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: z-out, namespace: z}
spec:
  order: 100
  selector: all()
  types: [Egress]
  egress:
  - action: Log
    protocol: ICMP
  - action: Deny
    destination: {namespaceSelector: ns == 'x'}
  - action: Deny
    protocol: ICMP
    notICMP: {type: 8, code: 0}
  - action: Allow
    protocol: ICMP
    icmp: {type: 8, code: 0}
    destination: {namespaceSelector: ns == 'y'}
  - action: Deny
    protocol: ICMP
  - action: Allow
YAML

# GlobalNetworkPolicy: namespaceSelector picks the pods it applies to; its rule selectors
# are not scoped to a namespace; a rule's namespaceSelector picks namespaces by label.
in_calico_global_namespace_selector() { ! to z || from '*/a'; }
out_calico_global_namespace_selector() { ! from y/c || to z; }
mx_scenario calico_global_namespace_selector <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: z-from-every-a}
spec:
  namespaceSelector: ns == 'z'
  selector: all()
  types: [Ingress]
  ingress:
  - action: Allow
    source: {selector: pod == 'a'}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: yc-to-ops}
spec:
  namespaceSelector: ns == 'y'
  selector: pod == 'c'
  types: [Egress]
  egress:
  - action: Allow
    destination: {namespaceSelector: team == 'ops'}
YAML

# A GlobalNetworkPolicy for y's pods by their namespace label, egress: TCP to every pod
# not labelled pod=c (in any namespace) except on its "http" port (80 on a, 81 on b, none
# on DNS); UDP to z/c on its "web" port (80).
out_calico_global_egress() {
    ! from "y" || { to z/c && on 80/udp; } ||
        { on tcp && { { to '*/a' && on 81; } || { to '*/b' && on 80; } || to kube-system; }; }
}
mx_scenario calico_global_egress <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: y-out}
spec:
  selector: projectcalico.org/namespace == 'y'
  types: [Egress]
  egress:
  - action: Allow
    protocol: TCP
    destination: {notSelector: pod == 'c', notPorts: [http]}
  - action: Allow
    protocol: UDP
    destination: {namespaceSelector: ns == 'z', selector: pod == 'c', ports: [web]}
YAML

# Unset order is last: the Kubernetes policy (order 1000) allows z into x/b before the
# Calico Deny; on x/c the Kubernetes default deny has no rule, so the Calico Allow at 2000
# still decides.
in_calico_order_unset_last() { ! to x/b || from z; }
mx_scenario calico_order_unset_last <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: b-deny-all, namespace: x}
spec:
  selector: pod == 'b'
  ingress: [{action: Deny}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-from-z, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: z}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-deny, namespace: x}
spec:
  podSelector: {matchLabels: {pod: c}}
  policyTypes: [Ingress]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: c-allow-late, namespace: x}
spec:
  order: 2000
  selector: pod == 'c'
  ingress: [{action: Allow}]
YAML

# A Calico policy with types but no rules denies in both directions.
in_calico_types_without_rules() { ! to z/c; }
out_calico_types_without_rules() { ! from z/c; }
mx_scenario calico_types_without_rules <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: c-closed, namespace: z}
spec:
  selector: pod == 'c'
  types: [Ingress, Egress]
YAML

# types left out: Egress only when there are egress rules and no ingress rules.
out_calico_types_default() { ! from x/a || to "y"; }
in_calico_types_default() { ! to z/b; }
mx_scenario calico_types_default <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: a-egress-only, namespace: x}
spec:
  selector: pod == 'a'
  egress:
  - action: Allow
    destination: {namespaceSelector: ns == 'y'}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: b-no-rules, namespace: z}
spec:
  selector: pod == 'b'
YAML

# Pass on egress: x's pods skip the Deny for DNS's network, and only for it.
out_calico_pass_egress() { ! from x || to kube-system; }
mx_scenario calico_pass_egress <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: pass-dns, namespace: x}
spec:
  order: 10
  selector: all()
  types: [Egress]
  egress:
  - action: Pass
    destination: {nets: [10.70.4.0/24]}
  - action: Pass
    destination: {nets: ["fd70:4::/64"]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: x}
spec:
  order: 20
  selector: all()
  types: [Egress]
  egress: [{action: Deny}]
YAML

# ==== tiers (docs/DISPATCH.md) ====================================================================

# A Tier applied on its own first, so that mx_reset deletes it after its policies.
mx_tier() {
    mx_apply <<YAML
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: $1}
spec: {order: $2, defaultAction: ${3:-Deny}}
YAML
}

# Pass hands the packet to the next tier, where the default tier's policy decides: z
# passes the security tier and is allowed by x's policy; y passes too but x's policy does
# not allow it (the default tier's end drops it); the rest meets the security Deny.
in_tier_pass_to_next_tier() { ! to x || from z; }
mx_tier security 100
mx_scenario tier_pass_to_next_tier <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.x-gate}
spec:
  tier: security
  namespaceSelector: ns == 'x'
  selector: all()
  types: [Ingress]
  ingress:
  - action: Pass
    source: {namespaceSelector: "ns in {'y', 'z'}"}
  - action: Deny
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: from-z, namespace: x}
spec:
  selector: all()
  ingress:
  - action: Allow
    source: {namespaceSelector: ns == 'z'}
YAML

# A tier's defaultAction Deny drops what none of its policies decided (no default-tier
# policy at all here): only z, passed on, gets to x.
in_tier_default_action_deny() { ! to x || from z; }
mx_tier security 100
mx_scenario tier_default_action_deny <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: pass-z}
spec:
  tier: security
  namespaceSelector: ns == 'x'
  selector: all()
  types: [Ingress]
  ingress:
  - action: Pass
    source: {namespaceSelector: ns == 'z'}
YAML

# defaultAction Pass: what the tier's policies do not decide goes on (here: to the
# namespace profile, which allows); only the Deny of y holds.
in_tier_default_action_pass() { ! to x || ! from y; }
mx_tier lenient 100 Pass
mx_scenario tier_default_action_pass <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-y}
spec:
  tier: lenient
  namespaceSelector: ns == 'x'
  selector: all()
  types: [Ingress]
  ingress:
  - action: Deny
    source: {namespaceSelector: ns == 'y'}
YAML

# Tiers run in their order whatever their policies' orders: the first tier's Deny of TCP
# from y (policy order 1000) comes before the second tier's Allow (order 1).
in_tier_order_across_tiers() { ! to x || ! from y || ! on tcp; }
mx_tier first 10 Pass
mx_tier second 20
mx_scenario tier_order_across_tiers <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: second.allow-all}
spec:
  tier: second
  order: 1
  namespaceSelector: ns == 'x'
  selector: all()
  types: [Ingress]
  ingress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-y-tcp}
spec:
  tier: first
  order: 1000
  namespaceSelector: ns == 'x'
  selector: all()
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    source: {namespaceSelector: ns == 'y'}
YAML

# A tier applies only to the pods its policies select: the security tier's default deny
# closes z/a (but for x), never z/b or z/c.
in_tier_only_selected_pods() { ! to z/a || from x; }
mx_tier security 100
mx_scenario tier_only_selected_pods <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: a-from-x, namespace: z}
spec:
  tier: security
  selector: pod == 'a'
  ingress:
  - action: Allow
    source: {namespaceSelector: ns == 'x'}
YAML

# ==== profiles after the tiers (docs/DISPATCH.md) ===================================================
# The pods list their namespace's profile (kns.<ns>), which allows everything until a
# Profile says otherwise. On the k8s: datastore profiles are the Namespaces' (they allow).

# profile_denying_z NS [EGRESS]: NS's namespace profile, denying z's addresses in and
# allowing the rest in; EGRESS (a YAML line) its egress.
profile_denying_z() {
    cat <<YAML
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.$1}
spec:
  ingress:
  - action: Deny
    source: {nets: [10.70.3.0/24]}
  - action: Deny
    source: {nets: ["fd70:3::/64"]}
  - action: Allow
  ${2:-}
YAML
}

if mx_k8s; then
    skip profile_rules "profiles are Kubernetes' Namespaces and ServiceAccounts on the k8s: datastore"
    skip profile_after_pass "profiles are Kubernetes' Namespaces and ServiceAccounts on the k8s: datastore"
    skip profile_beside_a_tier "profiles are Kubernetes' Namespaces and ServiceAccounts on the k8s: datastore"
else
    # x's profile denies z and allows the rest in; it says nothing of egress, so nothing
    # leaves x (no profile allows it).
    in_profile_rules() { ! to x || ! from z; }
    out_profile_rules() { ! from x; }
    mx_scenario profile_rules < <(profile_denying_z x)

    # y's profile beside a policy of x's: y's pods have a profile plan but no tier applies
    # to them, so the default tier's end never meets them.
    in_profile_beside_a_tier() { ! to y || ! from z; }
    mx_scenario profile_beside_a_tier < <(profile_denying_z y "egress: [{action: Allow}]"
                                          cat <<'YAML'
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow-in, namespace: x}
spec:
  selector: all()
  ingress: [{action: Allow}]
YAML
)

    # A Pass hands the packet to the profiles: z passes x's policy and x's profile drops
    # it; y is allowed by the policy; the rest meets the default tier's end.
    in_profile_after_pass() { ! to x || from y; }
    mx_scenario profile_after_pass < <(profile_denying_z x "egress: [{action: Allow}]"
                                       cat <<'YAML'
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: pass-z, namespace: x}
spec:
  selector: all()
  ingress:
  - action: Pass
    source: {namespaceSelector: ns == 'z'}
  - action: Allow
    source: {namespaceSelector: ns == 'y'}
YAML
)
fi

# Fractional orders, and equal orders decided by name.
in_calico_order_fractions_and_names() { ! to x/a x/b || { to x/b && from z; }; }
mx_scenario calico_order_fractions_and_names <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p-allow, namespace: x}
spec:
  order: 10.5
  selector: pod == 'a'
  ingress: [{action: Allow, source: {namespaceSelector: ns == 'y'}}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p-deny, namespace: x}
spec:
  order: 10.25
  selector: pod == 'a'
  ingress: [{action: Deny, source: {namespaceSelector: ns == 'y'}}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: b-deny, namespace: x}
spec:
  order: 100
  selector: pod == 'b'
  ingress: [{action: Deny, source: {namespaceSelector: ns == 'z'}}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: a-allow, namespace: x}
spec:
  order: 100
  selector: pod == 'b'
  ingress: [{action: Allow, source: {namespaceSelector: ns == 'z'}}]
YAML

# A global Deny that applies to every pod makes every pod default-deny: only y, which has
# an Allow of its own after it, accepts anything (and not from a pods).
in_calico_global_deny_then_namespace_allow() { to "y" && ! from '*/a'; }
mx_scenario calico_global_deny_then_namespace_allow <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: no-a}
spec:
  order: 5
  selector: all()
  types: [Ingress]
  ingress: [{action: Deny, source: {selector: pod == 'a'}}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: open, namespace: "y"}
spec:
  order: 10
  selector: all()
  ingress: [{action: Allow}]
YAML

# notSelector alone is scoped to the policy's namespace; with a namespaceSelector it
# excludes in every selected namespace; a destination selector narrows the pods a rule
# protects; nets ANDed with a selector.
in_calico_selectors() {
    { ! to x || from x/a x/b; } && { ! to z || { ! to z/b && ! from '*/c'; }; } &&
        { ! to y/a || from x/a; }
}
mx_scenario calico_selectors <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: not-c-here, namespace: x}
spec:
  selector: all()
  ingress: [{action: Allow, source: {notSelector: pod == 'c'}}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: not-c-anywhere, namespace: z}
spec:
  selector: all()
  ingress:
  - action: Allow
    source: {namespaceSelector: all(), notSelector: pod == 'c'}
    destination: {selector: pod != 'b'}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: a-from-net-and-selector, namespace: "y"}
spec:
  selector: pod == 'a'
  ingress:
  - action: Allow
    source: {namespaceSelector: all(), selector: pod == 'a', nets: [10.70.1.0/24]}
  - action: Allow
    source: {namespaceSelector: all(), selector: pod == 'a', nets: ["fd70:1::/64"]}
YAML

# Selector operators: x/a and x/c (app in a set) accept pods whose app starts with "back"
# or contains "pi" (x/b, y/b, z/a, z/b) from namespaces without a team label (not z);
# every pod without label pod == 'b' in z (!has, not in) accepts only pods of y whose app
# ends with "end" (y/a).
in_calico_selector_operators() {
    { ! to x/a x/c || from x/b y/b; } && { ! to z/a z/c || from y/a; }
}
mx_scenario calico_selector_operators <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: app-set, namespace: x}
spec:
  selector: has(app) && app in {'frontend', 'database'}
  ingress:
  - action: Allow
    source:
      namespaceSelector: '!has(team)'
      selector: app starts with 'back' || app contains 'pi'
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: not-b, namespace: z}
spec:
  selector: '!has(exempt) && pod not in {"b"}'
  ingress:
  - action: Allow
    source: {namespaceSelector: ns == 'y', selector: app ends with 'end'}
YAML

# Calico ports: a range, a named port resolved per pod (dgram: 81/UDP on a, 80/UDP on b,
# none on c), and source ports (the probes leave from 10000 and up).
in_calico_ports() {
    { ! to z || on 81/tcp || { to z/a && on 81/udp; } || { to z/b && on 80/udp; }; } &&
        { ! to "y" || on tcp; }
}
mx_scenario calico_ports <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: ports, namespace: z}
spec:
  selector: all()
  ingress:
  - {action: Allow, protocol: TCP, destination: {ports: ["81:82"]}}
  - {action: Allow, protocol: UDP, destination: {ports: [dgram]}}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: source-ports, namespace: "y"}
spec:
  selector: all()
  ingress:
  - {action: Allow, protocol: UDP, source: {ports: ["1024:9999"]}}
  - {action: Allow, protocol: TCP, source: {ports: ["10000:65535"]}}
YAML

# A rule for IPv6 only never matches IPv4 probes; it allows every IPv6 one.
in_calico_ip_version() { ! to x || v6; }
mx_scenario calico_ip_version <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: v6-only, namespace: x}
spec:
  selector: all()
  ingress: [{action: Allow, ipVersion: 6}]
YAML

# An HTTP match needs an L7 proxy: refused at apply time, nothing changes.
if out=$(pn_ctl apply -f - 2>&1 <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: http-get, namespace: x}
spec:
  selector: all()
  ingress:
  - action: Allow
    http: {methods: [GET]}
YAML
); then
    fail calico_http_rule_refused "apply accepted it: $out"
    pn_ctl delete networkpolicy http-get -n x >/dev/null 2>&1
elif grep -q 'L7 proxy' <<<"$out"; then
    mx_check calico_http_rule_refused
else
    fail calico_http_rule_refused "apply refused it, but not for its http match: $out"
fi

# ==== network sets and service accounts =========================================================

# A GlobalNetworkSet holding pods' addresses (z/a in 10.70.3.0/31, y/b): x may not send to
# its nets, through a rule selector on the set's labels.
out_calico_global_network_set_deny() { ! from x || ! to z/a y/b; }
mx_scenario calico_global_network_set_deny <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: blocked, labels: {blocked: "true"}}
spec:
  nets: ["10.70.3.0/31", "10.70.2.2", "fd70:3::/127", "fd70:2::2"]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: x-not-to-blocked}
spec:
  order: 10
  namespaceSelector: ns == 'x'
  types: [Egress]
  egress:
  - action: Deny
    destination: {selector: blocked == 'true'}
  - action: Allow
YAML

# z accepts only what a GlobalNetworkSet holds (x/b and x/c in 10.70.1.2/31), reached from
# a NetworkPolicy through namespaceSelector global().
in_calico_global_network_set_allow() { ! to z || from x/b x/c; }
mx_scenario calico_global_network_set_allow <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: trusted, labels: {trusted: "true"}}
spec:
  nets: ["10.70.1.2/31", "fd70:1::2/127"]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: from-trusted, namespace: z}
spec:
  types: [Ingress]
  ingress:
  - action: Allow
    source: {selector: trusted == 'true', namespaceSelector: global()}
YAML

# A NetworkSet is reached from its own namespace's policies (y's holds z/c) and through a
# namespaceSelector on its namespace's labels (x's rule names namespace y); x's own set
# (z/a) is out of both rules' reach. Then y's set changes its nets (z/b), then its labels.
mx_apply <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: peers, namespace: "y", labels: {role: peer}}
spec:
  nets: ["10.70.3.3", "fd70:3::3"]
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: peers, namespace: x, labels: {role: peer}}
spec:
  nets: ["10.70.3.1", "fd70:3::1"]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: from-peers, namespace: "y"}
spec:
  types: [Ingress]
  ingress:
  - action: Allow
    source: {selector: role == 'peer'}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: from-y-peers, namespace: x}
spec:
  types: [Ingress]
  ingress:
  - action: Allow
    source: {selector: role == 'peer', namespaceSelector: ns == 'y'}
YAML
in_calico_network_set() { ! to x y || from z/c; }
mx_check calico_network_set
mx_update <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: peers, namespace: "y", labels: {role: peer}}
spec:
  nets: ["10.70.3.2", "fd70:3::2"]
YAML
in_calico_network_set_nets_changed() { ! to x y || from z/b; }
mx_check calico_network_set_nets_changed
mx_update <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: peers, namespace: "y", labels: {role: former-peer}}
spec:
  nets: ["10.70.3.2", "fd70:3::2"]
YAML
in_calico_network_set_relabelled() { ! to x y; }
mx_check calico_network_set_relabelled
mx_reset calico_network_set

# serviceAccountSelector: the policy applies to the pods whose account (their app) is
# labelled tier=data, x/c and y/c, which then accept only the api pods (y/b, z/b). The
# same in z, where no account has the label, applies to nobody.
# (Documents through < <(…), not a pipe: mx_scenario must run in this shell, where it
# counts probe rounds and remembers what it applied.)
in_calico_service_account_selector() { ! to x/c y/c || from y/b z/b; }
data_from_api() {
    mx_accounts x database tier=data
    mx_accounts y database tier=data
    mx_accounts z frontend tier=front
    cat <<'YAML'
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: data-from-api}
spec:
  serviceAccountSelector: tier == 'data'
  types: [Ingress]
  ingress:
  - action: Allow
    source: {selector: app == 'api'}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: data-closed, namespace: z}
spec:
  serviceAccountSelector: tier == 'data'
  types: [Ingress]
YAML
}
mx_scenario calico_service_account_selector < <(data_from_api)

# Rules' serviceAccounts: by the accounts' labels (tier=back: y's api, not x's backend, out
# of the NetworkPolicy's namespace) and by name (frontend: y/a; from a GlobalNetworkPolicy,
# the frontend pods of every namespace, x/a y/a z/c).
in_calico_rule_service_accounts() { { ! to "y" || from y/a y/b; } && { ! to z/a || from '*/a' z/c; }; }
from_accounts() {
    mx_accounts x backend tier=back
    mx_accounts y api tier=back
    cat <<'YAML'
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: from-accounts, namespace: "y"}
spec:
  types: [Ingress]
  ingress:
  - action: Allow
    source:
      serviceAccounts: {selector: tier == 'back'}
  - action: Allow
    source:
      serviceAccounts: {names: [frontend]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: za-from-frontends}
spec:
  namespaceSelector: ns == 'z'
  selector: pod == 'a'
  types: [Ingress]
  ingress:
  - action: Allow
    source:
      serviceAccounts: {names: [frontend]}
YAML
}
mx_scenario calico_rule_service_accounts < <(from_accounts)

# ==== labels change, the matrix follows ========================================================

# y accepts only pods labelled trusted=yes, except pods labelled exempt (not selected).
mx_apply <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: trusted-only, namespace: "y"}
spec:
  podSelector:
    matchExpressions: [{key: exempt, operator: DoesNotExist}]
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector: {matchLabels: {trusted: "yes"}}
YAML
in_relabel_before() { ! to y; }
mx_check relabel_before
mx_relabel x c "pod=c,app=database,trusted=yes"
in_relabel_source_gains_label() { ! to y || from x/c; }
mx_check relabel_source_gains_label
mx_relabel y a "pod=a,app=frontend,exempt=yes"
in_relabel_destination_leaves_policy() { ! to y/b y/c || from x/c; }
mx_check relabel_destination_leaves_policy
mx_relabel x c "pod=c,app=database"
mx_relabel y a "pod=a,app=frontend"
in_relabel_restored() { ! to y; }
mx_check relabel_restored
mx_reset relabel

# namespaceSelector follows the Namespace's labels, in a rule and in what a
# GlobalNetworkPolicy applies to.
mx_apply <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-ops, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: ops}}}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: ops-closed}
spec:
  namespaceSelector: team == 'ops'
  selector: pod == 'c'
  types: [Ingress]
YAML
in_namespace_relabel_before() { { ! to x/a || from z; } && ! to z/c; }
mx_check namespace_relabel_before
mx_ns_labels y ns=y,team=ops
mx_ns_labels z ns=z
in_namespace_relabel_after() { { ! to x/a || from "y"; } && ! to y/c; }
mx_check namespace_relabel_after
mx_ns_labels y "${MX_NS_LABELS[y]}"
mx_ns_labels z "${MX_NS_LABELS[z]}"
mx_reset namespace_relabel

# Named ports follow the pod's WorkloadEndpoint: y/c gains "http" on 81/TCP.
mx_apply <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: http-only, namespace: "y"}
spec:
  podSelector: {}
  ingress:
  - ports: [{protocol: TCP, port: http}]
YAML
in_named_port_before() { ! to "y" || { to y/a && on 80/tcp; } || { to y/b && on 81/tcp; }; }
mx_check named_port_before
MX_PORTS["y/c"]=web/UDP/80,http/TCP/81
mx_relabel y c "${MX_LABELS[y/c]}"
in_named_port_added() { in_named_port_before || { to y/c && on 81/tcp; }; }
mx_check named_port_added
MX_PORTS["y/c"]=${MX_NAMED[c]}
mx_relabel y c "${MX_LABELS[y/c]}"
mx_check named_port_before
mx_reset named_port

# A policy changed in place (its peers, then what it applies to, then its types), and
# one of two policies sharing selectors deleted: the other keeps working.
policy_v() {
    printf 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n'
    printf 'metadata: {name: changing, namespace: x}\nspec:\n'
    printf '  podSelector: {matchLabels: {pod: %s}}\n  policyTypes: [%s]\n' "$(yaml_str "$1")" "$2"
    [ "$2" = Ingress ] &&
        printf '  ingress:\n  - from: [{namespaceSelector: {matchLabels: {ns: %s}}}]\n' \
            "$(yaml_str "$3")"
    return 0
}
mx_apply <(policy_v a Ingress y)
mx_apply <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: same-peers, namespace: z}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: "y"}}}]
YAML
in_policy_changed_v1() { ! to x/a z/a || from "y"; }
mx_check policy_changed_v1
policy_v a Ingress z | mx_update
in_policy_changed_peers() { { ! to x/a || from z; } && { ! to z/a || from "y"; }; }
mx_check policy_changed_peers
policy_v b Ingress z | mx_update
in_policy_changed_pods() { { ! to x/b || from z; } && { ! to z/a || from "y"; }; }
mx_check policy_changed_pods
policy_v b Egress | mx_update
in_policy_changed_types() { ! to z/a || from "y"; }
out_policy_changed_types() { ! from x/b; }
mx_check policy_changed_types
mx_delete <(policy_v b Egress)
in_policy_deleted_other_stays() { ! to z/a || from "y"; }
mx_check policy_deleted_other_stays
mx_reset policy_changed

# ==== every policy of the run at once; tabby-node restarted over it ========================

# All the scenarios' policies applied together (later namesakes replace earlier ones): a
# large table of every kind of set and rule. Both tabby-nodes are killed (-9) and started
# again: each reads the table back and finds nothing to change, and the matrix is the same.
# The last version of every policy applied so far: the files applied one after another to a
# scratch datastore, read back as lists.
everything() {
    local f k scratch=sqlite:$T_TMP/everything.db
    for f in "${MX_EVER[@]}"; do "$TABBYCTL" --store "$scratch" apply -f "$f" >/dev/null; done
    for k in tier knp netpol gnp; do
        printf -- '---\n'
        "$TABBYCTL" --store "$scratch" get "$k" -A -o yaml |
            grep -Ev '^    (resourceVersion|uid|creationTimestamp):'
    done
}
everything >"$T_TMP/everything.yaml"
mx_apply "$T_TMP/everything.yaml" || fail every_policy_at_once "tabbyctl apply failed"
echo "# every policy at once: $(grep -c '^  kind:' "$T_TMP/everything.yaml") policies," \
    "$(ip netns exec "$(pn_node_netns n1)" nft list table inet tabby | wc -l) lines of nft on n1"
mx_probe_union "$T_TMP/everything-before.txt" 1000 2000
restart_complaints=
for node in n1 n2; do
    pn_stop_node "$node" KILL
    pn_start_node "$node"
    line=$(grep 'policy programmed' "$T_TMP/tabby-node-$node.log" | tail -1)
    grep -q ' messages=0 read_back=yes' <<<"$line" || restart_complaints+="$node: $line; "
done
if [ -z "$restart_complaints" ]; then
    pass restart_over_every_policy_programs_nothing
else
    fail restart_over_every_policy_programs_nothing "$restart_complaints"
fi
mx_probe_union "$T_TMP/everything-after.txt" 1000
if ! cmp -s "$T_TMP/everything-before.txt" "$T_TMP/everything-after.txt"; then
    mx_probe_union "$T_TMP/everything-after.txt" 1000 2000
fi
if cmp -s "$T_TMP/everything-before.txt" "$T_TMP/everything-after.txt"; then
    pass restart_over_every_policy_keeps_the_matrix
else
    fail restart_over_every_policy_keeps_the_matrix "$(diff "$T_TMP/everything-before.txt" \
        "$T_TMP/everything-after.txt" | grep '^[<>]' | head -12 | tr '\n' ';')"
fi
mx_reset everything

mx_open_report
mx_check no_policy_at_the_end
matrices=("$T_TMP"/matrix-*.txt)
echo "# ${#matrices[@]} matrices, $MX_ROUND probe rounds, $((SECONDS - START)) s"
t_end
