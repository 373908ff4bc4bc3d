# stream_lib.sh — what a test that disturbs a node watches (source after lib.sh, once
# t_begin has run; namespaces are fabric.sh's, named as fab_name names them):
#
#   st_stream FROM TO ADDR   a long-lived TCP stream from namespace FROM to ADDR:5001 in TO:
#                            TO writes what arrives into a file; FROM sends 1 KiB every
#                            5 ms (about 200 KB/s) and gives up (exits) when a send blocks
#                            for 5 s or the connection breaks (reset)
#   st_received              bytes arrived so far
#   st_flows                 more bytes arrive within 10 s and the sender still has its
#                            connection
#   st_monitor NAME          `nft monitor` and `ip monitor link address route neigh` in
#                            NAME's namespace, into $T_TMP/NAME.nft-events, .nl-events
#   st_monitors_listen NAME  marks until both monitors print one (they listen)
#   st_monitors_caught_up NAME
#                            a last mark printed: every change before it is in the files
#   st_events NAME           the monitors' lines, without the marks, nft's generation lines
#                            and the neighbours the kernel learns and ages by itself (the
#                            underlay's, the pods': tabby's own entries are permanent)
#   st_tabby_left NAME NET BIN [NODENAME_FILE]
#                            what of tabby is left in NAME's namespace, in the CNI folders
#                            NET and BIN (as the host names them: the node's own) and the
#                            nodename file, one line each; nothing once `tabby-node
#                            --uninstall` ran
#
# A mark is a change of the test's own (a table, a route on lo, made and removed) that
# both monitors print. Every process started here is stopped on exit.

ST_PIDS=()
st_stop_all() { local p; for p in "${ST_PIDS[@]}"; do kill "$p" 2>/dev/null; done; }
t_on_exit st_stop_all

st_stream() {
    ST_FILE=$T_TMP/stream.bin
    ip netns exec "$(fab_name "$2")" socat -u TCP-LISTEN:5001,reuseaddr "CREATE:$ST_FILE" &
    ST_PIDS+=($!)
    t_wait 5 ip netns exec "$(fab_name "$2")" sh -c 'ss -ltn | grep -q :5001'
    ip netns exec "$(fab_name "$1")" python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 5001), timeout=5)
chunk = b"x" * 1024
while True:
    s.sendall(chunk)
    time.sleep(0.005)
' "$3" 2>"$T_TMP/sender.err" &
    ST_SENDER=$!
    ST_PIDS+=($ST_SENDER)
}

st_received() { stat -c %s "$ST_FILE" 2>/dev/null || echo 0; }
st_more_than() { [ "$(st_received)" -gt "$1" ]; }
st_flows() {
    local before
    before=$(st_received)
    t_wait 10 st_more_than "$before" && kill -0 "$ST_SENDER" 2>/dev/null
}

st_monitor() {
    ip netns exec "$(fab_name "$1")" nft monitor >"$T_TMP/$1.nft-events" 2>&1 &
    ST_PIDS+=($!)
    ip netns exec "$(fab_name "$1")" ip monitor link address route neigh \
        >"$T_TMP/$1.nl-events" 2>&1 &
    ST_PIDS+=($!)
}

ST_MARKS=0
st_mark() {
    local ns
    ns=$(fab_name "$1")
    ST_MARKS=$((ST_MARKS + 1))
    ip netns exec "$ns" nft add table inet tbymark$ST_MARKS
    ip netns exec "$ns" nft delete table inet tbymark$ST_MARKS
    ip netns exec "$ns" ip route add "198.18.$((ST_MARKS / 256)).$((ST_MARKS % 256))/32" dev lo
    ip netns exec "$ns" ip route del "198.18.$((ST_MARKS / 256)).$((ST_MARKS % 256))/32" dev lo
}
# st_seen_mark NAME N: both monitors of NAME printed mark N (any mark: N empty).
st_seen_mark() {
    local ip="198\.18\.[0-9]+\.[0-9]+"
    [ -n "$2" ] && ip="198\.18\.$(($2 / 256))\.$(($2 % 256))"
    grep -qE "^delete table inet tbymark${2:-[0-9]+}\$" "$T_TMP/$1.nft-events" &&
        grep -qE "^Deleted $ip dev lo " "$T_TMP/$1.nl-events"
}
st_marked_and_one_seen() { st_mark "$1" && st_seen_mark "$1" ''; }
st_monitors_listen() { t_wait 20 st_marked_and_one_seen "$1"; }
st_monitors_caught_up() { st_mark "$1" && t_wait 20 st_seen_mark "$1" "$ST_MARKS"; }

st_events() {
    grep -Ev '^(add|delete) table inet tbymark[0-9]+$|^# new generation .* \(nft\)$' \
        "$T_TMP/$1.nft-events"
    grep -Ev ' (REACHABLE|STALE|DELAY|PROBE|INCOMPLETE|FAILED|NOARP) *$' "$T_TMP/$1.nl-events" |
        grep -Ev '198\.18\.[0-9.]+ dev lo '
}

st_tabby_left() {
    local dev f
    fab_in "$1" nft list table inet tabby >/dev/null 2>&1 && echo "table inet tabby"
    [ -z "$(fab_in "$1" ip route show table all proto 80)" ] || echo "routes of protocol 80"
    [ -z "$(fab_in "$1" ip route show table all proto bird)" ] || echo "routes of protocol bird"
    for dev in vxlan.tabby vxlan-v6.tabby; do
        fab_in "$1" ip link show "$dev" >/dev/null 2>&1 && echo "$dev"
    done
    for f in "$2/10-tabby.conflist" "$2/tabby-kubeconfig" "$3/tabby" "$3/tabby-ipam" \
        ${4:+"$4"}; do
        [ -e "$f" ] && echo "$f"
    done
}
