# lab_lib.sh — shared by the tests that drive examples/lab/lab (lab.sh, lab_ipv6.sh): a lab
# per case under the test's scratch folder, the README's pods, and the connectivity
# matrix checked against an expectation. Source after lib.sh.
#
#   lab_begin NAME PREFIX TOOL…   skips the test without root or a TOOL; labs are
#                                 PREFIX<case>, all taken down on exit
#   lab ARGS…                     examples/lab/lab on the current lab ($CUR)
#   lab_readme_pods               the README's five pods (frontend, backend, api, database
#                                 on n1, n1, n2, n3; ops/monitor on n3), ops labelled team=ops
#   lab_up_with_pods CASE UP_ARGS…
#                                 lab up and those pods, PASS or FAIL for each
#   expect_matrix CASE EXPECTED   see below ($PROTO, $FAMILY)
#   explain_agrees CASE EXPECTED  lab explain says the same
#   expect_state CASE SECONDS PREDICATE WHAT
#   lab_down_check CASE           lab down, and PASS when nothing of the lab is left

lab_begin() {
    local name=$1 tool
    t_need_root "$name"
    LAB_PREFIX=$2
    shift 2
    LAB_SCRIPT=$T_TOP/examples/lab/lab
    export TABBY_BUILD=$T_BUILD
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null; then
            skip "$name" "$tool is not installed"
            t_end
        fi
    done
    mkdir -p "$T_TMP/labs"
    chmod 0711 "$T_TMP" "$T_TMP/labs"   # FRR drops to user frr and must reach its files
    t_on_exit 'for l in $(ls "$T_TMP/labs" 2>/dev/null); do TABBY_LAB=$l TABBY_LAB_STATE=$T_TMP/labs/$l "$LAB_SCRIPT" down >/dev/null 2>&1; done'
}

lab() { TABBY_LAB=$CUR TABBY_LAB_STATE=$T_TMP/labs/$CUR "$LAB_SCRIPT" "$@"; }

lab_readme_pods() {
    lab ns label ops team=ops 2>&1 &&
        lab pod add n1 default/frontend app=frontend --port http:80/tcp 2>&1 &&
        lab pod add n1 default/backend app=backend --port http:80/tcp 2>&1 &&
        lab pod add n2 default/api app=api --port http:8080/tcp 2>&1 &&
        lab pod add n3 default/database app=database --port pg:5432/tcp 2>&1 &&
        lab pod add n3 ops/monitor app=monitor --port http:80/tcp 2>&1
}

# lab_up_with_pods CASE UP_ARGS…: lab up, then the README's pods: PASS CASE_up and
# CASE_pods; on a failure FAIL it, take the lab down and return 1.
lab_up_with_pods() {
    local name=$1 out
    shift
    if ! out=$(lab up "$@" 2>&1); then
        fail "${name}_up" "$out"
        lab down >/dev/null 2>&1
        return 1
    fi
    pass "${name}_up"
    if ! out=$(lab_readme_pods); then
        fail "${name}_pods" "$out"
        lab down >/dev/null 2>&1
        return 1
    fi
    pass "${name}_pods"
}

lab_port() { case $1 in */api) echo 8080/$PROTO ;; */database) echo 5432/$PROTO ;; *) echo 80/$PROTO ;; esac; }
PROTO=tcp
FAMILY=4

# expect_matrix CASE EXPECTED: EXPECTED is one "from to ok|--" line per pair that matters,
# probed over $PROTO to the pods' addresses of $FAMILY (4, or 6: lab probe -6). Policy and
# routes reach the nodes through the datastore's watch and BGP, so the check (all pairs at
# once, each probe giving up after 1 s) repeats for up to 30 seconds; the time until the
# cluster matched is printed.
expect_matrix() {
    local name=$1 expected=$2 from to want bad start now i=0 dir=$T_TMP/probes opt=()
    [ "$FAMILY" = 6 ] && opt=(-6)
    start=$(date +%s%N)
    while :; do
        rm -rf "$dir"; mkdir -p "$dir"
        i=0
        while read -r from to want; do
            [ -n "$from" ] || continue
            i=$((i + 1))
            ( if lab probe "${opt[@]}" "$from" "$to" "$(lab_port "$to")" >/dev/null 2>&1; then got=ok; else got=--; fi
              [ "$got" = "$want" ] || echo " $from->$to:$got(want $want)" >"$dir/$i" ) &
        done <<<"$expected"
        wait
        bad=$(cat "$dir"/* 2>/dev/null | tr -d '\n')
        now=$(date +%s%N)
        [ -n "$bad" ] && [ $(((now - start) / 1000000)) -lt 30000 ] || break
        sleep 0.1
    done
    if [ -z "$bad" ]; then
        pass "$name"
        echo "# $name: as expected after $(((now - start) / 1000000)) ms"
    else
        fail "$name" "${bad# }"
        lab matrix "${opt[@]}"
    fi
}

ALL_OPEN="default/frontend default/api ok
default/frontend default/database ok
default/api default/frontend ok
default/database default/api ok
ops/monitor default/database ok
default/database ops/monitor ok"

# The README's example policies (examples/default-deny.yaml, db-access.yaml, api-allow.yaml).
AFTER_POLICY="default/frontend default/api ok
default/backend default/api --
ops/monitor default/api ok
default/backend default/database ok
default/frontend default/database --
default/api default/frontend --
default/frontend ops/monitor ok"

# explain_agrees CASE EXPECTED: `lab explain` (the datastore alone) says ok (exit 0) or --
# (exit 1) for each pair as EXPECTED, which the probes found; over $PROTO, to the pods'
# addresses of $FAMILY.
explain_agrees() {
    local name=$1 from to want rc bad="" opt=()
    [ "$FAMILY" = 6 ] && opt=(-6)
    while read -r from to want; do
        [ -n "$from" ] || continue
        lab explain "${opt[@]}" "$from" "$to" "$(lab_port "$to")" >/dev/null 2>&1 && rc=ok || rc=$?
        [ "$rc" = 1 ] && rc=--
        [ "$rc" = "$want" ] || bad+=" $from->$to:$rc(want $want)"
    done <<<"$2"
    if [ -z "$bad" ]; then pass "$name"; else fail "$name" "${bad# }"; fi
}

# expect_state CASE SECONDS PREDICATE WHAT: PASS once PREDICATE holds, else FAIL with WHAT's
# output.
expect_state() {
    if t_wait "$2" "$3" && "$3"; then pass "$1"; else fail "$1" "$($4 2>&1)"; fi
}

lab_down_check() {
    local ns_left
    lab down >/dev/null 2>&1
    ns_left=$(ip netns list | awk '{print $1}' | grep "^$CUR-" || true)
    if [ -z "$ns_left" ] && [ ! -e "$T_TMP/labs/$CUR" ]; then pass "$1"; else fail "$1" "left behind: $ns_left"; fi
}
