#!/usr/bin/env bash
# node_failstatic.sh — tabby-node keeps what it programmed when it loses the datastore or
# its own life. Two VXLAN nodes, a policy on pod b (node 2) letting a (node 1) in and
# keeping c (node 1) out, and a long-running TCP stream from a to b.
#   Outage: the datastore's folder is moved away. Nothing programmed changes (table,
#   routes, VTEPs), the policy still holds, the stream flows, /readiness says why it is
#   not ready, retries back off; a change written meanwhile is programmed once the folder
#   is back, and the node is ready again by itself.
#   Restart: tabby-node is killed (SIGKILL) on both nodes and started again while the
#   stream flows: the stream never stops, and the restarted daemons converge by
#   difference — no nftables or netlink change at all, the kernel state is as before.
#   Restart during an outage: the daemon does not start from an empty database in place
#   of the missing file; it waits, alive and not ready, and starts once the file is back.
set -u
. "$(dirname "$0")/lib.sh"
t_begin node_failstatic
. "$(dirname "$0")/podnet.sh"
. "$(dirname "$0")/node_lib.sh"
. "$(dirname "$0")/stream_lib.sh"
NL_BACKEND=vxlan
nl_init node_failstatic python3
# A folder of its own, so that the database, its WAL and shared memory move as one.
mkdir -p "$T_TMP/store"
PN_STORE="sqlite:$T_TMP/store/tabby.db"

nl_pool default-pool 10.68.0.0/16 'vxlanMode: Always' | nl_apply
nl_node n1 10.0.0.1/24
nl_node n2 10.0.0.2/24
nl_start_all n1 n2
nl_pod n1 default a app=a
nl_pod n1 default c app=c
nl_pod n2 default b app=b
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: b-from-a, namespace: default}
spec:
  selector: app == 'b'
  ingress:
  - action: Allow
    source: {selector: app == 'a'}
YAML
pn_expect a_reaches_b allow default a default b 80 TCP
pn_expect c_is_kept_from_b deny default c default b 80 TCP
pn_expect a_reaches_b_on_81 allow default a default b 81 TCP
pn_check || { fail setup "the cluster does not work to begin with"; t_end; }

# ---- the stream ----------------------------------------------------------------------
st_stream "default-a" "default-b" "$(pn_ip default b)"
if t_wait 10 st_flows; then
    pass stream_starts
else
    fail stream_starts "$(cat "$T_TMP/sender.err")"
    t_end
fi

# ---- datastore outage ------------------------------------------------------------------
# Everything tabby-node programmed, which must not change while the datastore is away.
nl_state n1 >"$T_TMP/n1.before"
nl_state n2 >"$T_TMP/n2.before"
same_state() { nl_state "$1" | diff "$T_TMP/$1.before" - >"$T_TMP/$1.diff"; }
# syncer_failures NODE: how often NODE found the datastore unavailable so far.
syncer_failures() { grep -c 'syncer: datastore unavailable' "$T_TMP/tabby-node-$1.log"; }
failed_since() { [ "$(syncer_failures "$1")" -gt "$2" ]; }
mv "$T_TMP/store" "$T_TMP/store.away"
unready() { nl_http "$1" /readiness | grep -q '^503 not ready: datastore unreachable'; }
if t_wait 10 unready n1 && t_wait 10 unready n2; then
    pass readiness_says_datastore_unreachable
else
    fail readiness_says_datastore_unreachable "$(nl_http n2 /readiness)"
fi
if [ "$(nl_http n2 /liveness)" = "200 alive" ] && [ "$(nl_metric n2 tabby_datastore_online)" = 0 ]
then
    pass alive_while_the_datastore_is_away
else
    fail alive_while_the_datastore_is_away "$(nl_http n2 /liveness)"
fi
# A change written meanwhile (tabbyctl reaches the folder where it is now): port 81 of b
# closed to a, with an order before the allow.
failures1=$(syncer_failures n1)
failures2=$(syncer_failures n2)
"$TABBYCTL" --store "sqlite:$T_TMP/store.away/tabby.db" apply -f - >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: b-81-closed}
spec:
  order: 10
  selector: app == 'b'
  ingress:
  - action: Deny
    protocol: TCP
    destination: {ports: [81]}
YAML
# Both nodes look for the datastore again after the write, and back off in between (the
# delays logged grow): once each has failed again, and n2 three times in all, whatever
# they would do about the change they have done.
if t_wait 60 failed_since n1 "$failures1" && t_wait 60 failed_since n2 "$failures2" &&
    t_wait 60 failed_since n2 2 && same_state n1 && same_state n2; then
    pass nothing_programmed_changes_while_the_datastore_is_away
else
    fail nothing_programmed_changes_while_the_datastore_is_away "$(head -c 600 "$T_TMP/n2.diff")"
fi
pn_expect policy_holds_while_away_allow allow default a default b 80 TCP
pn_expect policy_holds_while_away_deny deny default c default b 80 TCP
pn_expect change_made_while_away_waits allow default a default b 81 TCP
pn_check
if st_flows; then
    pass stream_flows_while_the_datastore_is_away
else
    fail stream_flows_while_the_datastore_is_away "$(cat "$T_TMP/sender.err")"
fi
# Retries back off: the delays logged grow.
delays=$(sed -n 's/.*datastore unavailable.* retry_ms=\([0-9]*\).*/\1/p' \
    "$T_TMP/tabby-node-n2.log" | tr '\n' ' ')
if awk '{ for (i = 2; i <= NF; i++) if ($i <= $(i - 1)) exit 1; exit NF < 3 }' <<<"$delays"
then
    pass "retries_back_off (retry_ms: $delays)"
else
    fail retries_back_off "retry_ms: $delays"
fi

# What each node has programmed and applied so far: after the datastore is back, each
# programs the change and plans its routes again from the new read (the same routes).
declare -A commits applies
for n in n1 n2; do
    commits[$n]=$(nl_metric "$n" tabby_nft_commits_total)
    applies[$n]=$(nl_metric "$n" tabby_route_applies_total)
done
mv "$T_TMP/store.away" "$T_TMP/store"
if t_wait 40 nl_ready n1 && t_wait 40 nl_ready n2; then
    pass ready_again_once_the_datastore_is_back
else
    fail ready_again_once_the_datastore_is_back "$(nl_http n2 /readiness)"
fi
pn_expect change_made_while_away_is_programmed deny default a default b 81 TCP
pn_expect a_still_reaches_b allow default a default b 80 TCP
pn_check
# The routes and VTEPs (after the table in nl_state) did not move at all.
routes_of() { sed -n '/^--- routes/,$p' "$@"; }
if nl_state n1 | routes_of | diff <(routes_of "$T_TMP/n1.before") - >"$T_TMP/n1.diff" &&
    nl_state n2 | routes_of | diff <(routes_of "$T_TMP/n2.before") - >"$T_TMP/n2.diff"; then
    pass routes_and_vteps_stay_through_the_outage
else
    fail routes_and_vteps_stay_through_the_outage "$(cat "$T_TMP/n1.diff" "$T_TMP/n2.diff")"
fi

# ---- SIGKILL and restart -----------------------------------------------------------------
# The picture is taken once both nodes have done what the datastore's return asked of them.
metric_past() { [ "$(nl_metric "$1" "$2")" -gt "$3" ]; }
for n in n1 n2; do
    if ! t_wait 20 metric_past "$n" tabby_nft_commits_total "${commits[$n]}" ||
        ! t_wait 20 metric_past "$n" tabby_route_applies_total "${applies[$n]}"; then
        fail "settled_after_the_outage_$n" "$(nl_http "$n" /metrics | grep -E 'commits|applies')"
    fi
done
nl_state n1 >"$T_TMP/n1.before"
nl_state n2 >"$T_TMP/n2.before"
st_monitor n1
st_monitor n2
if ! st_monitors_listen n1 || ! st_monitors_listen n2; then
    fail monitors_start "$(cat "$T_TMP/n1.nft-events" "$T_TMP/n1.nl-events")"
fi
bytes_before=$(st_received)
nl_stop n1 KILL
nl_stop n2 KILL
if st_flows; then
    pass stream_flows_with_tabby_node_dead
else
    fail stream_flows_with_tabby_node_dead "$(cat "$T_TMP/sender.err")"
fi
nl_start_all n1 n2
# Ready means the first complete state is programmed (the table and the routes); any
# change that made shows in the monitors once they have printed a mark made after it.
st_monitors_caught_up n1
st_monitors_caught_up n2
if st_flows && [ "$(st_received)" -gt "$bytes_before" ]; then
    pass "stream_survives_sigkill_and_restart ($((($(st_received) - bytes_before) / 1024)) KiB since)"
else
    fail stream_survives_sigkill_and_restart "$(cat "$T_TMP/sender.err")"
fi
if same_state n1 && same_state n2; then
    pass restart_leaves_the_same_kernel_state
else
    fail restart_leaves_the_same_kernel_state "$(cat "$T_TMP/n1.diff" "$T_TMP/n2.diff" | head -c 600)"
fi
# nft monitor and ip monitor print nothing while nothing changes.
events=$(st_events n1; st_events n2)
if [ -z "$events" ]; then
    pass restart_converges_by_difference_without_kernel_changes
else
    fail restart_converges_by_difference_without_kernel_changes "$(head -c 600 <<<"$events")"
fi
pn_expect after_restart_allow allow default a default b 80 TCP
pn_expect after_restart_deny deny default c default b 80 TCP
pn_expect after_restart_81_closed deny default a default b 81 TCP
pn_check
# The monitors were listening all along: a real change shows.
pn_ctl delete globalnetworkpolicy b-81-closed >/dev/null
if t_wait 20 grep -q 'delete chain inet tabby pi-gnp/b-81-closed' "$T_TMP/n2.nft-events"; then
    pass monitors_see_a_real_change
else
    fail monitors_see_a_real_change "$( (st_events n1; st_events n2) | head -c 600)"
fi

# ---- restarted while the datastore is away ------------------------------------------------
# sqlite would make an empty database in its place: the node must wait for the real one.
# The picture after the deletion above is programmed (one transaction: its events are in).
nl_state n2 >"$T_TMP/n2.before"
nl_stop n2 KILL
mv "$T_TMP/store" "$T_TMP/store.away"
NL_WAIT_READY=0 nl_start n2
if t_wait 20 nl_in n2 curl -sf -m 1 -o /dev/null http://127.0.0.1:9099/liveness &&
    nl_http n2 /readiness | grep -q '^503 not ready: datastore file missing, waiting for it' &&
    grep -q 'warning node: datastore file missing, waiting for it .*path=.*/store/tabby.db' \
        "$T_TMP/tabby-node-n2.log"; then
    pass restart_without_the_datastore_file_waits_alive_and_not_ready
else
    fail restart_without_the_datastore_file_waits_alive_and_not_ready "$(nl_http n2 /readiness)"
fi
# Having said it waits, it opens nothing until the file is back.
if [ ! -e "$T_TMP/store" ] && same_state n2; then
    pass restart_without_the_datastore_file_creates_none_and_keeps_the_state
else
    fail restart_without_the_datastore_file_creates_none_and_keeps_the_state \
        "$(ls "$T_TMP"; head -c 600 "$T_TMP/n2.diff")"
fi
pn_expect policy_holds_while_waiting_allow allow default a default b 80 TCP
pn_expect policy_holds_while_waiting_deny deny default c default b 80 TCP
pn_check
mv "$T_TMP/store.away" "$T_TMP/store"
if t_wait 30 nl_ready n2 && same_state n2 && st_flows; then
    pass starts_once_the_file_is_back_with_the_same_state
else
    fail starts_once_the_file_is_back_with_the_same_state \
        "$(nl_http n2 /readiness; head -c 600 "$T_TMP/n2.diff")"
fi
t_end
