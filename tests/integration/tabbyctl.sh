#!/usr/bin/env bash
# tabbyctl.sh — tabbyctl against a real sqlite datastore: the examples round-trip,
# bad inputs are refused with a message naming the field and change nothing, and
# create/replace/get/delete behave as kubectl and calicoctl users expect.
set -u
. "$(dirname "$0")/lib.sh"
t_begin tabbyctl

STORE="sqlite:$T_TMP/tabby.db"
ctl() { "$TABBYCTL" --store "$STORE" "$@"; }
EX=$T_TOP/examples

# A fingerprint of everything stored, to prove a refused input changed nothing.
snapshot() {
    sqlite3 "$T_TMP/tabby.db" "SELECT value FROM meta WHERE name='rev'; SELECT key, mod_rev FROM kv ORDER BY key;"
}

# A policy's tier must exist; a tier is deleted only once no policy uses it; the default
# tier is there without being written and cannot be deleted (docs/DISPATCH.md).
test_tiers_guard_their_policies() {
    local out why=
    cat >"$T_TMP/tier.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100, defaultAction: Pass}
YAML
    cat >"$T_TMP/tiered.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: block-metadata}
spec:
  tier: security
  egress:
    - action: Deny
      destination: {nets: [169.254.169.254/32]}
    - action: Pass
YAML
    out=$(ctl apply -f "$T_TMP/tiered.yaml" 2>&1) && why="$why policy-without-tier-accepted"
    grep -q 'tiered.yaml: GlobalNetworkPolicy block-metadata: spec.tier: tier "security" does not exist' <<<"$out" ||
        why="$why missing-tier-message($out)"
    ctl apply -f "$T_TMP/tier.yaml" >/dev/null 2>&1 || why="$why tier-refused"
    ctl apply -f "$T_TMP/tiered.yaml" >/dev/null 2>&1 || why="$why policy-refused"
    ctl get tier -o wide | grep -q '^security *100 *Pass$' || why="$why tier-wide"
    out=$(ctl delete tier security 2>&1) && why="$why tier-in-use-deleted"
    grep -q 'Tier security: used by GlobalNetworkPolicy block-metadata' <<<"$out" ||
        why="$why in-use-message($out)"
    out=$(ctl delete tier default 2>&1) && why="$why default-deleted"
    grep -q 'the default tier cannot be deleted' <<<"$out" || why="$why default-message($out)"
    ctl delete gnp block-metadata >/dev/null 2>&1 || why="$why policy-not-deleted"
    ctl delete tier security >/dev/null 2>&1 || why="$why tier-not-deleted"
    if [ -z "$why" ]; then
        pass tiers_guard_their_policies
    else
        fail tiers_guard_their_policies "$why"
    fi
}

test_examples_apply_cleanly() {
    local out
    if out=$(ctl apply -f "$EX/ippool.yaml" -f "$EX/default-deny.yaml" -f "$EX/allow-dns.yaml" \
        -f "$EX/db-access.yaml" -f "$EX/api-allow.yaml" -f "$EX/api-policy.yaml" \
        -f "$EX/bgppeer-tor.yaml" -f "$EX/bgpconfig.yaml" -f "$EX/bgpfilter.yaml" \
        -f "$EX/network-sets.yaml" -f "$EX/tiers.yaml" -f "$EX/felixconfig.yaml" 2>&1) &&
        [ "$(grep -c ' created$' <<<"$out")" = 19 ] && ! grep -q warning <<<"$out"; then
        pass examples_apply_cleanly
    else
        fail examples_apply_cleanly "$out"
    fi
}

test_examples_round_trip() {
    local kind ok=1 out
    for kind in ippool networkpolicy gnp knp bgppeer bgpconfig bgpfilter netset gnetset tier \
        felixconfig; do
        ctl get "$kind" -A -o yaml >"$T_TMP/$kind.yaml" 2>"$T_TMP/err" || { ok=0; break; }
        out=$(ctl apply -f "$T_TMP/$kind.yaml" 2>&1) || { ok=0; break; }
        if grep -qv ' unchanged$' <<<"$out"; then ok=0; break; fi
        ctl get "$kind" -A -o yaml >"$T_TMP/$kind.again.yaml"
        cmp -s "$T_TMP/$kind.yaml" "$T_TMP/$kind.again.yaml" || { ok=0; break; }
    done
    if [ $ok = 1 ]; then pass examples_round_trip; else fail examples_round_trip "$kind: ${out:-$(cat "$T_TMP/err")}"; fi
}

test_defaults_are_filled_in() {
    local y
    y=$(ctl get ippool default-pool -o yaml)
    if grep -q 'blockSize: 26' <<<"$y" && grep -q 'vxlanMode: Never' <<<"$y" &&
        grep -q 'nodeSelector: all()' <<<"$y" && grep -q 'resourceVersion:' <<<"$y"; then
        pass defaults_are_filled_in
    else
        fail defaults_are_filled_in "$y"
    fi
}

# Applies every file of a folder of tests/data, each starting "# expect: FRAGMENT": each must
# be refused with a message holding the fragment and the file's name, changing nothing.
refused_inputs() {
    local dir=$1 label=$2 min=$3 f expect before after out rc n=0
    for f in "$T_TOP/tests/data/$dir"/*; do
        n=$((n + 1))
        expect=$(sed -n '1s/^# expect: //p' "$f")
        before=$(snapshot)
        out=$(ctl apply -f "$f" 2>&1); rc=$?
        after=$(snapshot)
        if [ $rc = 0 ]; then
            fail "$label $(basename "$f")" "accepted: $out"
        elif ! grep -qF -- "$expect" <<<"$out"; then
            fail "$label $(basename "$f")" "message \"$out\" lacks \"$expect\""
        elif ! grep -qF -- "$(basename "$f")" <<<"$out"; then
            fail "$label $(basename "$f")" "message \"$out\" does not name the file"
        elif [ "$before" != "$after" ]; then
            fail "$label $(basename "$f")" "the datastore changed"
        else
            pass "$label $(basename "$f")"
        fi
    done
    [ "$n" -ge "$min" ] || fail "${label}s_count" "only $n files in tests/data/$dir"
}

test_bad_inputs_are_refused_and_change_nothing() {
    refused_inputs bad bad_input 40
}

# "Nothing accepted that is not enforced": each field tabby decodes but does not enforce yet
# (lib/enforce.c's table) is refused at apply, naming the file and the field.
test_unenforced_fields_are_refused() {
    refused_inputs unenforced unenforced 5
}

# What tabby does enforce next to those fields is taken: profiles that allow or only label,
# rule serviceAccounts, a policy of the default tier named with its prefix.
test_enforced_neighbours_are_accepted() {
    local out
    cat >"$T_TMP/enforced.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.shop}
spec:
  ingress: [{action: Allow}]
  egress: [{action: Allow}]
  labelsToApply: {team: "shop"}
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: "labels-only"}
spec:
  labelsToApply: {zone: "a"}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: "default.from-api-accounts", namespace: "shop"}
spec:
  tier: default
  ingress:
    - action: Allow
      source:
        serviceAccounts: {names: ["api"], selector: "role == 'api'"}
YAML
    if out=$(ctl apply -f "$T_TMP/enforced.yaml" 2>&1) &&
        [ "$(grep -c ' created$' <<<"$out")" = 3 ]; then
        pass enforced_neighbours_are_accepted
    else
        fail enforced_neighbours_are_accepted "$out"
    fi
}

# Network sets are kinds of their own (labels, nets) that rule selectors match: sets and the
# policies whose rules match them are taken in either order, and read back as written.
test_network_sets_are_stored_and_matched_by_rules() {
    local out why=
    cat >"$T_TMP/sets.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: "threats", labels: {threat-feed: "true"}}
spec:
  nets: ["198.51.100.0/28", "203.0.113.7"]
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: "db-ips", namespace: "shop", labels: {role: "external-db"}}
spec:
  nets: ["192.0.2.1/24"]
YAML
    cat >"$T_TMP/deny-threats.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: "deny-threats"}
spec:
  types: [Egress]
  egress:
    - action: Deny
      destination: {selector: "threat-feed == 'true'"}
    - action: Allow
YAML
    cat >"$T_TMP/to-db.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: "to-db", namespace: "shop"}
spec:
  egress:
    - action: Allow
      destination: {selector: "role == 'external-db'"}
YAML
    ctl apply -f "$T_TMP/deny-threats.yaml" >/dev/null 2>&1 || why="$why policy-first-refused"
    out=$(ctl apply -f "$T_TMP/sets.yaml" 2>&1) || why="$why sets-refused($out)"
    ctl apply -f "$T_TMP/to-db.yaml" >/dev/null 2>&1 || why="$why policy-after-refused"
    [ "$(ctl get netset -n shop db-ips -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["nets"])')" = "['192.0.2.0/24']" ] ||
        why="$why nets-not-masked"
    ctl get gnetset -o wide | grep -q '^threats *198.51.100.0/28,203.0.113.7/32$' || why="$why gnetset-wide"
    ctl get gnetsets -l "threat-feed == 'true'" -o name | grep -q threats || why="$why labels"
    ctl delete -f "$T_TMP/sets.yaml" -f "$T_TMP/deny-threats.yaml" -f "$T_TMP/to-db.yaml" \
        >/dev/null 2>&1 || why="$why delete"
    if [ -z "$why" ]; then
        pass network_sets_are_stored_and_matched_by_rules
    else
        fail network_sets_are_stored_and_matched_by_rules "$why"
    fi
}

test_overlap_with_stored_pool_is_refused() {
    local out
    cat >"$T_TMP/inner.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: inner-pool
spec:
  cidr: 192.168.10.0/24
YAML
    if out=$(ctl apply -f "$T_TMP/inner.yaml" 2>&1); then
        fail overlap_with_stored_pool_is_refused "accepted"
    elif grep -qF 'spec.cidr: 192.168.10.0/24 overlaps IPPool default-pool (192.168.0.0/16)' <<<"$out"; then
        pass overlap_with_stored_pool_is_refused
    else
        fail overlap_with_stored_pool_is_refused "$out"
    fi
}

test_create_existing_fails() {
    local out
    if out=$(ctl create -f "$EX/ippool.yaml" 2>&1); then
        fail create_existing_fails "accepted"
    elif grep -qF 'IPPool default-pool already exists' <<<"$out"; then
        pass create_existing_fails
    else
        fail create_existing_fails "$out"
    fi
}

test_replace_missing_fails() {
    local out
    sed 's/name: default-pool/name: other-pool/; s#192.168.0.0/16#10.77.0.0/16#' "$EX/ippool.yaml" >"$T_TMP/other.yaml"
    if out=$(ctl replace -f "$T_TMP/other.yaml" 2>&1); then
        fail replace_missing_fails "accepted"
    elif grep -qF 'IPPool other-pool not found' <<<"$out"; then
        pass replace_missing_fails
    else
        fail replace_missing_fails "$out"
    fi
}

test_replace_with_stale_resource_version_fails() {
    local out
    ctl get ippool default-pool -o yaml >"$T_TMP/pool.yaml"
    sed -i 's/natOutgoing: true/disabled: true/' "$T_TMP/pool.yaml"
    ctl replace -f "$T_TMP/pool.yaml" >/dev/null 2>&1 || { fail replace_with_stale_resource_version_fails "first replace failed"; return; }
    if out=$(ctl replace -f "$T_TMP/pool.yaml" 2>&1); then
        fail replace_with_stale_resource_version_fails "accepted a stale resourceVersion"
    elif grep -qF 'changed since it was read' <<<"$out"; then
        pass replace_with_stale_resource_version_fails
    else
        fail replace_with_stale_resource_version_fails "$out"
    fi
    ctl apply -f "$EX/ippool.yaml" >/dev/null
}

test_pool_cidr_cannot_change() {
    local out
    sed 's#192.168.0.0/16#192.168.0.0/17#' "$EX/ippool.yaml" >"$T_TMP/shrunk.yaml"
    if out=$(ctl apply -f "$T_TMP/shrunk.yaml" 2>&1); then
        fail pool_cidr_cannot_change "accepted"
    elif grep -qF 'spec.cidr: cannot change from 192.168.0.0/16 to 192.168.0.0/17' <<<"$out"; then
        pass pool_cidr_cannot_change
    else
        fail pool_cidr_cannot_change "$out"
    fi
}

test_get_missing_fails() {
    local out
    if out=$(ctl get ippool nope 2>&1); then
        fail get_missing_fails "succeeded"
    elif grep -qF 'IPPool nope not found' <<<"$out"; then
        pass get_missing_fails
    else
        fail get_missing_fails "$out"
    fi
}

test_get_wide_table() {
    local out
    out=$(ctl get ippool -o wide)
    if head -1 <<<"$out" | grep -q '^NAME  *CIDR  *NAT  *IPIPMODE  *VXLANMODE  *DISABLED  *DISABLEBGPEXPORT  *SELECTOR$' &&
        grep -q '^default-pool  *192.168.0.0/16  *true  *Never  *Never  *false  *false  *all()$' <<<"$out"; then
        pass get_wide_table
    else
        fail get_wide_table "$out"
    fi
}

test_get_short_names() {
    local a b
    a=$(ctl get gnp -o name; ctl get netpol -o name; ctl get knp -o name; ctl get bgppeers -o name)
    b=$(ctl get globalnetworkpolicies -o name; ctl get networkpolicy -o name;
        ctl get networkpolicy.networking.k8s.io -o name; ctl get BGPPeer -o name)
    if [ "$a" = "$b" ] && grep -q 'k8snetworkpolicies/db-access' <<<"$a"; then
        pass get_short_names
    else
        fail get_short_names "$a vs $b"
    fi
}

test_delete_by_name_and_missing() {
    local out
    if ! ctl delete bgppeer rack1-tor >/dev/null 2>&1; then
        fail delete_by_name_and_missing "delete failed"
    elif out=$(ctl delete bgppeer rack1-tor 2>&1); then
        fail delete_by_name_and_missing "second delete succeeded"
    elif grep -qF 'BGPPeer rack1-tor not found' <<<"$out"; then
        pass delete_by_name_and_missing
    else
        fail delete_by_name_and_missing "$out"
    fi
}

test_delete_from_file_and_stdin() {
    if ctl delete -f "$EX/db-access.yaml" >/dev/null && ! ctl get knp db-access >/dev/null 2>&1 &&
        cat "$EX/db-access.yaml" | ctl apply -f - >/dev/null && ctl get knp db-access >/dev/null; then
        pass delete_from_file_and_stdin
    else
        fail delete_from_file_and_stdin "file delete or stdin apply did not work"
    fi
}

test_store_from_environment_and_config() {
    local cfg=$T_TMP/tabbyctl.cfg
    printf 'store: sqlite:%s/cfg.db\n' "$T_TMP" >"$cfg"
    TABBY_STORE="sqlite:$T_TMP/env.db" "$TABBYCTL" apply -f "$EX/ippool.yaml" >/dev/null &&
    TABBY_CONFIG=$cfg "$TABBYCTL" apply -f "$EX/bgpconfig.yaml" >/dev/null
    if [ -f "$T_TMP/env.db" ] && [ -f "$T_TMP/cfg.db" ] &&
        TABBY_STORE="sqlite:$T_TMP/env.db" "$TABBYCTL" get ippool default-pool >/dev/null &&
        TABBY_CONFIG=$cfg "$TABBYCTL" get bgpconfig default >/dev/null; then
        pass store_from_environment_and_config
    else
        fail store_from_environment_and_config "stores not chosen as documented"
    fi
}

test_selector_check_and_match() {
    local out rc
    out=$(ctl selector check "app=='web'&&(tier in {\"b\",'a'}||!has(x))"); rc=$?
    [ $rc = 0 ] && [ "$out" = "app == 'web' && (tier in {'a', 'b'} || !has(x))" ] ||
        { fail selector_check_and_match "check printed \"$out\" (exit $rc)"; return; }
    out=$(ctl selector check "app == " 2>&1); rc=$?
    [ $rc = 2 ] && grep -q 'position 8: expected a quoted string' <<<"$out" ||
        { fail selector_check_and_match "bad selector: exit $rc, \"$out\""; return; }
    ctl selector match "app == 'web' && env != 'prod'" app=web >/dev/null; rc=$?
    [ $rc = 0 ] || { fail selector_check_and_match "match of a missing label with != gave exit $rc"; return; }
    out=$(ctl selector match "app in {'web'}" app=db); rc=$?
    [ $rc = 1 ] && [ "$out" = false ] || { fail selector_check_and_match "non-match gave exit $rc, $out"; return; }
    ctl selector match "app ==" app=db >/dev/null 2>&1; rc=$?
    [ $rc = 2 ] || { fail selector_check_and_match "invalid selector in match gave exit $rc"; return; }
    pass selector_check_and_match
}

test_get_with_selector_lists_what_matches() {
    local out
    ctl apply -f - >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: web-only
  labels: {tier: web}
spec:
  selector: app == 'web'
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: db-only
  labels: {tier: db}
spec:
  selector: app == 'db'
YAML
    out=$(ctl get gnp --selector "tier == 'web'" -o name)
    if [ "$out" = "globalnetworkpolicies/web-only" ]; then
        pass get_with_selector_lists_what_matches
    else
        fail get_with_selector_lists_what_matches "$out"
    fi
}

# Reading a datastore that does not exist answers as an empty one and makes no file (nor
# its folder); only commands that add resources create it.
test_reads_of_a_missing_store_create_nothing() {
    local dir=$T_TMP/none store out rc
    store="sqlite:$dir/tabby.db"
    out=$("$TABBYCTL" --store "$store" get ippool 2>&1); rc=$?
    [ $rc = 0 ] && grep -qF "No ippools found (the datastore $dir/tabby.db does not exist yet)." \
        <<<"$out" || { fail reads_of_a_missing_store_create_nothing "get: $out (exit $rc)"; return; }
    out=$("$TABBYCTL" --store "$store" get ippool default-pool 2>&1) &&
        { fail reads_of_a_missing_store_create_nothing "get NAME succeeded"; return; }
    grep -qF 'IPPool default-pool not found' <<<"$out" ||
        { fail reads_of_a_missing_store_create_nothing "get NAME: $out"; return; }
    "$TABBYCTL" --store "$store" delete ippool default-pool >/dev/null 2>&1 &&
        { fail reads_of_a_missing_store_create_nothing "delete succeeded"; return; }
    "$TABBYCTL" --store "$store" get wep -A -o yaml >/dev/null &&
        "$TABBYCTL" --store "$store" ipam show >/dev/null &&
        "$TABBYCTL" --store "$store" ipam check >/dev/null ||
        { fail reads_of_a_missing_store_create_nothing "get -o yaml or ipam failed"; return; }
    [ ! -e "$dir" ] || { fail reads_of_a_missing_store_create_nothing "$dir was made"; return; }
    if "$TABBYCTL" --store "$store" apply -f "$EX/ippool.yaml" >/dev/null &&
        [ -f "$dir/tabby.db" ] && "$TABBYCTL" --store "$store" get ippool default-pool >/dev/null
    then
        pass reads_of_a_missing_store_create_nothing
    else
        fail reads_of_a_missing_store_create_nothing "apply did not create the datastore"
    fi
}

# policy explain on a datastore of its own: exit 0 allowed, 1 denied, 2 bad input; -o json
# and --batch.
test_policy_explain_verdicts_and_exit_codes() {
    local store="sqlite:$T_TMP/explain.db" out rc n=explain_verdicts_and_exit_codes
    x() { "$TABBYCTL" --store "$store" policy explain "$@"; }
    {
        wep() {
            printf -- '---\napiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\n'
            printf 'metadata: {name: "n1-k8s-%s-eth0", namespace: "default", labels: {app: "%s"}}\n' "$1" "$2"
            printf 'spec: {orchestrator: k8s, node: n1, pod: "%s", endpoint: eth0, ' "$1"
            printf 'interfaceName: "c%s", ipNetworks: ["%s/32"], profiles: [kns.default]}\n' "$1" "$3"
        }
        wep be backend 10.9.0.1
        wep db database 10.9.0.2
        printf -- '---\n'
        cat "$EX/db-access.yaml"
    } | "$TABBYCTL" --store "$store" apply -f - >/dev/null || { fail $n "apply failed"; return; }
    out=$(x default/be default/db 5432/TCP) ||
        { fail $n "backend to database 5432/TCP: exit $?: $out"; return; }
    grep -q 'verdict: ALLOWED (default/db ingress: default/knp.default.db-access rule 0 Allow)' \
        <<<"$out" || { fail $n "no verdict line: $out"; return; }
    x default/be default/db 80/TCP >/dev/null; rc=$?
    [ $rc = 1 ] || { fail $n "backend to database 80/TCP: exit $rc, expected 1"; return; }
    x 10.9.0.2 default/be 80/UDP >/dev/null || { fail $n "database to backend: not allowed"; return; }
    out=$(x default/nope default/db 80/TCP 2>&1); rc=$?
    [ $rc = 2 ] && grep -q '"default/nope": no such endpoint' <<<"$out" ||
        { fail $n "unknown pod: exit $rc: $out"; return; }
    out=$(x default/be default/db 80/TCPX 2>&1); rc=$?
    [ $rc = 2 ] && grep -q 'unknown protocol' <<<"$out" || { fail $n "bad protocol: exit $rc: $out"; return; }
    out=$(x default/be default/db 5432/TCP -o json | python3 -c \
        'import json,sys; t=json.load(sys.stdin); print(t["verdict"], len(t["steps"]))') &&
        [ "$out" = "allow 2" ] || { fail $n "-o json: $out"; return; }
    out=$(printf 'default/be default/db 5432/TCP\n# a comment\ndefault/be default/db 81/TCP\n' |
        x --batch - | cut -d' ' -f4 | tr '\n' ' ')
    [ "$out" = "allow deny " ] || { fail $n "--batch: $out"; return; }
    pass $n
}

# Input as calicoctl takes it: a YAML sequence of resources at the top level, scalar label
# values made strings, service blocks without a CIDR.
test_calicoctl_input_forms_are_taken() {
    local out y
    out=$(ctl apply -f - 2>&1 <<'YAML'
- apiVersion: projectcalico.org/v3
  kind: Node
  metadata:
    name: "rr1"
    labels: {routeReflector: true, rack: 7}
  spec:
    bgp: {ipv4Address: "10.9.0.1/24", routeReflectorClusterID: "224.0.0.1"}
- apiVersion: projectcalico.org/v3
  kind: BGPConfiguration
  metadata: {name: "default"}
  spec:
    serviceClusterIPs: [{}]
YAML
) || { fail calicoctl_input_forms_are_taken "apply: $out"; return; }
    [ "$(grep -c ' created$\| configured$' <<<"$out")" = 2 ] ||
        { fail calicoctl_input_forms_are_taken "apply said: $out"; return; }
    y=$(ctl get node rr1 -o json)
    if [ "$(jq -r '.metadata.labels.routeReflector + "," + .metadata.labels.rack' <<<"$y")" = \
        "true,7" ] && ctl get nodes --selector "routeReflector == 'true'" -o name | grep -q rr1
    then
        pass calicoctl_input_forms_are_taken
    else
        fail calicoctl_input_forms_are_taken "$y"
    fi
}

# -o custom-columns: kubectl's HEADER:JSONPATH, and calicoctl's column names.
test_get_custom_columns() {
    local out want rc
    out=$(ctl get ippool default-pool \
        -o 'custom-columns=NAME:.metadata.name,CIDR:{.spec.cidr},USES:.spec.allowedUses[*],NONE:.spec.nope,nat')
    want=$(printf '%s\n' 'NAME           CIDR             USES              NONE     NAT' \
        'default-pool   192.168.0.0/16   Workload,Tunnel   <none>   true')
    [ "$out" = "$want" ] || { fail get_custom_columns "got: $out"; return; }
    out=$(ctl get ippool -o 'custom-columns=A:.spec[?(@.x)]' 2>&1); rc=$?
    [ $rc = 2 ] && grep -qF 'column A: JSONPath ".spec[?(@.x)]": filters are not supported' <<<"$out" ||
        { fail get_custom_columns "filter: exit $rc, $out"; return; }
    out=$(ctl get ippool -o 'custom-columns=FROB' 2>&1); rc=$?
    if [ $rc = 2 ] && grep -qF '"FROB" is neither HEADER:JSONPATH nor a column of IPPool' <<<"$out"; then
        pass get_custom_columns
    else
        fail get_custom_columns "unknown column: exit $rc, $out"
    fi
}

# patch: a merge patch of one resource, validated as apply validates, all or nothing.
test_patch_merges_validates_and_compares() {
    local out before rv
    out=$(ctl patch node rr1 -p '{"spec":{"bgp":{"routeReflectorClusterID":"224.0.0.2"}},"metadata":{"labels":{"rack":null,"zone":"b"}}}') &&
        [ "$out" = "Successfully patched 1 'Node' resource" ] ||
        { fail patch_merges_validates_and_compares "patch: $out"; return; }
    out=$(ctl get node rr1 -o json | jq -c '[.spec.bgp.routeReflectorClusterID, .spec.bgp.ipv4Address, .metadata.labels]')
    [ "$out" = '["224.0.0.2","10.9.0.1/24",{"routeReflector":"true","zone":"b"}]' ] ||
        { fail patch_merges_validates_and_compares "patched: $out"; return; }
    before=$(snapshot)
    out=$(ctl patch ippool default-pool -p '{"spec":{"blockSize":33}}' 2>&1) &&
        { fail patch_merges_validates_and_compares "bad blockSize accepted"; return; }
    grep -qF 'patch IPPool default-pool: spec.blockSize: must be between 20 and 32, got 33' <<<"$out" ||
        { fail patch_merges_validates_and_compares "refusal: $out"; return; }
    out=$(ctl patch ippool default-pool -p '{"metadata":{"name":"other"}}' 2>&1) &&
        { fail patch_merges_validates_and_compares "rename accepted"; return; }
    rv=$(ctl get ippool default-pool -o json | jq -r .metadata.resourceVersion)
    out=$(ctl patch ippool default-pool -p "{\"metadata\":{\"resourceVersion\":\"$((rv - 1))\"},\"spec\":{\"disabled\":true}}" 2>&1) &&
        { fail patch_merges_validates_and_compares "stale resourceVersion accepted"; return; }
    grep -qF 'metadata.resourceVersion: the patch is for another version' <<<"$out" &&
        [ "$before" = "$(snapshot)" ] ||
        { fail patch_merges_validates_and_compares "stale: $out, or the datastore changed"; return; }
    ! ctl patch ippool missing -p '{}' >/dev/null 2>&1 &&
        ctl patch ippool default-pool -p "{\"metadata\":{\"resourceVersion\":\"$rv\"},\"spec\":{\"disabled\":true}}" >/dev/null &&
        [ "$(ctl get ippool default-pool -o json | jq .spec.disabled)" = true ] &&
        ctl patch ippool default-pool --type merge -p '{"spec":{"disabled":null}}' >/dev/null &&
        [ "$(ctl get ippool default-pool -o json | jq .spec.disabled)" = null ] ||
        { fail patch_merges_validates_and_compares "pinned or null patch did not work"; return; }
    out=$(ctl patch ippool default-pool --type json -p '[]' 2>&1); local rc=$?
    if [ $rc = 2 ] && grep -qF 'not supported' <<<"$out"; then
        pass patch_merges_validates_and_compares
    else
        fail patch_merges_validates_and_compares "--type json: exit $rc, $out"
    fi
}

test_examples_apply_cleanly
test_examples_round_trip
test_get_custom_columns
test_calicoctl_input_forms_are_taken
test_patch_merges_validates_and_compares
test_defaults_are_filled_in
test_bad_inputs_are_refused_and_change_nothing
test_unenforced_fields_are_refused
test_enforced_neighbours_are_accepted
test_network_sets_are_stored_and_matched_by_rules
test_tiers_guard_their_policies
test_overlap_with_stored_pool_is_refused
test_create_existing_fails
test_replace_missing_fails
test_replace_with_stale_resource_version_fails
test_pool_cidr_cannot_change
test_get_missing_fails
test_get_wide_table
test_get_short_names
test_delete_by_name_and_missing
test_delete_from_file_and_stdin
test_store_from_environment_and_config
test_selector_check_and_match
test_get_with_selector_lists_what_matches
test_reads_of_a_missing_store_create_nothing
test_policy_explain_verdicts_and_exit_codes
t_end
