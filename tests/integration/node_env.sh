#!/usr/bin/env bash
# node_env.sh — tabby-node configured by the environment as calico-node is.
# The default IP pools at first start: with Calico's defaults (192.168.0.0/16, or the
# first 172.16-31.0.0/16 no address of the node is in; a random ULA /48 for IPv6 where the
# kernel has IPv6), with the CALICO_IPV4POOL_* settings, exactly one pool when several
# nodes start together, none when a pool of the family exists or NO_DEFAULT_POOLS=true, and
# a bad setting stops tabby-node naming the variable before anything is written.
# FELIX_* variables: applied (over a FelixConfiguration), and a bad one stops tabby-node.
# The variables manifests/tabby.yaml gives tabby-node are taken.
# The datastore is a sqlite file shared by the nodes (one process per network namespace).
set -u
. "$(dirname "$0")/lib.sh"
t_begin node_env
t_need_root
command -v jq >/dev/null || { skip node_env "jq is not installed"; t_end; }
TABBY_NODE=${TABBY_NODE:-$T_BUILD/tabby-node}
TABBYCTL=${TABBYCTL:-$T_BUILD/tabbyctl}
t_fabric "tpl$$"
fab_switch sw || { fail setup "no fabric"; t_end; }
# n1 has an address in 192.168.0.0/16: Calico then takes 172.16.0.0/16.
for i in 1 2 3; do
    fab_host "n$i" sw "192.168.5.$i/24" || { fail setup "no node n$i"; t_end; }
done

# node I STORE [VAR=VALUE…]: tabby-node on node nI, its pid in PID[I].
declare -A PID
node() {
    local i=$1 store=$2
    shift 2
    # ip execs env, which execs tabby-node: $! is tabby-node's pid
    ip netns exec "$(fab_name "n$i")" env -i PATH="$PATH" NODENAME="n$i" TABBY_STORE="sqlite:$store" IP=none \
        TABBY_NETWORKING_BACKEND=none TABBY_HEALTH_PORT=0 TABBY_PID_FILE= \
        CALICO_NODENAME_FILE="$T_TMP/nodename-$i" "$@" "$TABBY_NODE" >"$T_TMP/n$i.$(basename "$store").log" 2>&1 &
    PID[$i]=$!
}
stop_all() {
    for i in "${!PID[@]}"; do kill "${PID[$i]}" 2>/dev/null; wait "${PID[$i]}" 2>/dev/null; done
    PID=()
}
pools() { "$TABBYCTL" --store "sqlite:$1" get ippool -o json | jq -c '[.items[] |
    {name: .metadata.name, cidr: .spec.cidr, blockSize: .spec.blockSize,
     ipipMode: (.spec.ipipMode // "Never"), vxlanMode: (.spec.vxlanMode // "Never"),
     natOutgoing: (.spec.natOutgoing // false), nodeSelector: (.spec.nodeSelector // "all()"),
     disableBGPExport: (.spec.disableBGPExport // false)}]'; }
# An empty datastore file (tabby-node waits for a missing one).
mkstore() {
    printf 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: "x"}\nspec: {cidr: "10.1.0.0/16"}\n' |
        "$TABBYCTL" --store "sqlite:$1" apply -f - >/dev/null &&
        "$TABBYCTL" --store "sqlite:$1" delete ippool x >/dev/null
}
has_pools() { [ "$(pools "$1" | jq length)" -ge "$2" ]; }

# ---- Calico's defaults ------------------------------------------------------------------
DB=$T_TMP/defaults.db
mkstore "$DB"
node 1 "$DB"
want=2
[ -e /proc/sys/net/ipv6 ] || want=1
if t_wait 20 has_pools "$DB" "$want"; then
    got=$(pools "$DB")
    v4=$(jq -c '.[] | select(.name == "default-ipv4-ippool")' <<<"$got")
    v6=$(jq -c '.[] | select(.name == "default-ipv6-ippool")' <<<"$got")
    if [ "$v4" = '{"name":"default-ipv4-ippool","cidr":"172.16.0.0/16","blockSize":26,"ipipMode":"Never","vxlanMode":"Never","natOutgoing":true,"nodeSelector":"all()","disableBGPExport":false}' ] &&
        { [ "$want" = 1 ] || jq -e '(.cidr | test("^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::/48$")) and
            .blockSize == 122 and .natOutgoing == false and .ipipMode == "Never"' <<<"$v6" >/dev/null; }; then
        pass default_pools_take_calicos_defaults_and_avoid_the_nodes_addresses
    else
        fail default_pools_take_calicos_defaults_and_avoid_the_nodes_addresses "$got"
    fi
else
    fail default_pools_take_calicos_defaults_and_avoid_the_nodes_addresses \
        "pools: $(pools "$DB"); log: $(tail -3 "$T_TMP/n1.defaults.db.log")"
fi
stop_all

# ---- the variables, three nodes at once --------------------------------------------------
DB=$T_TMP/race.db
vars=(CALICO_IPV4POOL_CIDR=10.244.0.0/16 CALICO_IPV4POOL_VXLAN=Always
    CALICO_IPV4POOL_BLOCK_SIZE=24 CALICO_IPV4POOL_NAT_OUTGOING=false
    "CALICO_IPV4POOL_NODE_SELECTOR=zone == 'a'" CALICO_IPV4POOL_DISABLE_BGP_EXPORT=true
    CALICO_IPV6POOL_CIDR=none)
mkstore "$DB"
for i in 1 2 3; do node "$i" "$DB" "${vars[@]}"; done
# Each node has been through the pools part once its policy part has programmed.
turned() { [ "$(grep -l 'policy programmed' "$T_TMP"/n?.race.db.log | wc -l)" = 3 ]; }
if t_wait 20 turned; then
    got=$(pools "$DB")
    created=$(cat "$T_TMP"/n?.race.db.log | grep -c 'default pool created')
    alive=0
    for i in 1 2 3; do kill -0 "${PID[$i]}" 2>/dev/null && alive=$((alive + 1)); done
    if [ "$got" = '[{"name":"default-ipv4-ippool","cidr":"10.244.0.0/16","blockSize":24,"ipipMode":"Never","vxlanMode":"Always","natOutgoing":false,"nodeSelector":"zone == '"'a'"'","disableBGPExport":true}]' ] &&
        [ "$created" = 1 ] && [ "$alive" = 3 ]; then
        pass nodes_starting_together_make_one_pool_from_the_variables
    else
        fail nodes_starting_together_make_one_pool_from_the_variables \
            "pools $got, created $created times, $alive of 3 running"
    fi
else
    fail nodes_starting_together_make_one_pool_from_the_variables \
        "$(tail -n 3 "$T_TMP"/n?.race.db.log)"
fi
stop_all

# ---- a pool of the family exists; NO_DEFAULT_POOLS ---------------------------------------
DB=$T_TMP/existing.db
printf 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: "mine"}\nspec: {cidr: "10.9.0.0/16"}\n' |
    "$TABBYCTL" --store "sqlite:$DB" apply -f - >/dev/null
node 1 "$DB" CALICO_IPV4POOL_CIDR=10.244.0.0/16 CALICO_IPV6POOL_CIDR=none TABBY_LOG_LEVEL=debug
mkstore "$T_TMP/none.db"
node 2 "$T_TMP/none.db" NO_DEFAULT_POOLS=true
started() { grep -q 'starting node' "$T_TMP/n1.existing.db.log" && grep -q 'starting node' "$T_TMP/n2.none.db.log"; }
turned() { grep -q 'policy programmed' "$T_TMP/n1.existing.db.log" &&
    grep -q 'policy programmed' "$T_TMP/n2.none.db.log"; }
if t_wait 20 started && t_wait 20 turned &&
    [ "$(pools "$DB" | jq -c 'map(.name)')" = '["mine"]' ] &&
    [ "$(pools "$T_TMP/none.db" | jq length)" = 0 ]; then
    pass no_pool_made_where_one_exists_or_with_no_default_pools
else
    fail no_pool_made_where_one_exists_or_with_no_default_pools \
        "$(pools "$DB") $(pools "$T_TMP/none.db" 2>&1) $(tail -2 "$T_TMP/n1.existing.db.log")"
fi
stop_all

# ---- FELIX_* variables --------------------------------------------------------------------
DB=$T_TMP/felix.db
mkstore "$DB"
printf 'apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: "default"}\nspec: {logSeverityScreen: "Error"}\n' |
    "$TABBYCTL" --store "sqlite:$DB" apply -f - >/dev/null
node 1 "$DB" NO_DEFAULT_POOLS=true FELIX_LogSeverityScreen=debug \
    FELIX_DEFAULTENDPOINTTOHOSTACTION=ACCEPT FELIX_HEALTHENABLED=true
# debug lines come only while the variable beats the FelixConfiguration's Error
debugging() { grep -q 'debug   policy' "$T_TMP/n1.felix.db.log"; }
if t_wait 20 debugging && kill -0 "${PID[1]}" 2>/dev/null; then
    pass felix_variables_apply_over_the_felixconfiguration
else
    fail felix_variables_apply_over_the_felixconfiguration "$(tail -3 "$T_TMP/n1.felix.db.log")"
fi
stop_all

# ---- the manifest's own variables --------------------------------------------------------
# The FELIX_* and CALICO_IPV*POOL_* values of manifests/tabby.yaml's tabby-node container,
# as the DaemonSet gives them: taken, and the pool they describe made (no IPv6 pool).
mapfile -t MANIFEST_ENV < <(python3 - "$T_TOP/manifests/tabby.yaml" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "DaemonSet":
        for e in d["spec"]["template"]["spec"]["containers"][0]["env"]:
            if "value" in e and e["name"].startswith(("FELIX_", "CALICO_IPV")):
                print(f'{e["name"]}={e["value"]}')
PY
)
DB=$T_TMP/manifest.db
mkstore "$DB"
node 1 "$DB" "${MANIFEST_ENV[@]}"
programmed() { grep -q 'policy programmed' "$T_TMP/n1.manifest.db.log"; }
if [ "${#MANIFEST_ENV[@]}" -ge 4 ] && t_wait 20 programmed && kill -0 "${PID[1]}" 2>/dev/null &&
    [ "$(pools "$DB" | jq -c 'map([.name, .cidr, .ipipMode, .vxlanMode])')" = \
        '[["default-ipv4-ippool","172.16.0.0/16","Never","Never"]]' ]; then
    pass the_manifests_variables_are_taken
else
    fail the_manifests_variables_are_taken "${MANIFEST_ENV[*]}: $(pools "$DB") \
$(tail -2 "$T_TMP/n1.manifest.db.log")"
fi
stop_all

# ---- bad values ---------------------------------------------------------------------------
bad=0
why=
for v in CALICO_IPV4POOL_BLOCK_SIZE=40 CALICO_IPV4POOL_IPIP=sometimes \
    CALICO_IPV6POOL_CIDR=10.0.0.0/8 "CALICO_IPV4POOL_NODE_SELECTOR=a ==" \
    "NO_DEFAULT_POOLS=true CALICO_IPV4POOL_CIDR=10.0.0.0/8" FELIX_BPFENABLED=true \
    FELIX_TYPHAK8SSERVICENAME=calico-typha FELIX_HEALTHPORT=none; do
    DB=$T_TMP/bad.db
    rm -f "$DB"
    # shellcheck disable=SC2086 # the last case is two variables
    out=$(fab_in n1 env -i PATH="$PATH" NODENAME=n1 TABBY_STORE="sqlite:$DB" IP=none \
        TABBY_NETWORKING_BACKEND=none TABBY_HEALTH_PORT=0 TABBY_PID_FILE= \
        CALICO_NODENAME_FILE="$T_TMP/nodename-bad" $v timeout 10 "$TABBY_NODE" 2>&1)
    rc=$?
    name=${v##* }
    name=${name%%=*}
    if [ "$rc" = 0 ] || [ "$rc" = 124 ] || ! grep -q "$name" <<<"$out" ||
        { [ -e "$DB" ] && [ "$(pools "$DB" | jq length)" != 0 ]; }; then
        bad=$((bad + 1))
        why="$why [$v: exit $rc, $out]"
    fi
done
if [ "$bad" = 0 ]; then
    pass bad_settings_stop_tabby_node_naming_the_variable_and_write_nothing
else
    fail bad_settings_stop_tabby_node_naming_the_variable_and_write_nothing "$why"
fi
t_end
