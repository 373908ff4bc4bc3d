# matrix_lib.sh — the connectivity matrix of policy_matrix.sh (source after podnet.sh):
# namespaces x, y, z with pods a, b, c, each serving TCP and UDP on 80 and 81 and probed
# besides with an ICMP echo and an SCTP INIT to 80 (see prober.c), and a DNS-like pod
# kube-system/dns serving 53; x, y and the DNS pod live on node n1, z on node n2 (so every
# rule is enforced both for local pods and for pods of another node). Every scenario
# probes all 9 sources against every destination port and compares with what the
# scenario expects.
#
#   mx_setup                 the nodes, Namespaces, pods (WorkloadEndpoints), servers, and
#                            a tabby-node per node; returns 1 when any of it failed
#   mx_apply [FILE]          applies FILE (or stdin); remembered for mx_reset (and in
#                            MX_EVER, every file applied so far)
#   mx_check NAME            probes the matrix and prints PASS NAME or FAIL NAME with the
#                            cells that differ from the expectation (see below), then
#                            the matrices of those ports as comment lines
#   mx_probe FILE [MS]       probes the matrix into FILE ("SRC DST PORT/PROTO RESULT")
#   mx_update                writes the documents on stdin again, waits for tabby-node
#   mx_delete FILE           deletes what FILE names, waits for tabby-node
#   mx_reset                 deletes what mx_apply applied, waits for tabby-node, and checks
#                            that the matrix is open again
#   mx_scenario NAME         mx_apply (stdin), mx_check NAME, mx_reset
#   mx_relabel NS POD LABELS the pod's WorkloadEndpoint again, with other labels
#   mx_ns_labels NS LABELS   the Namespace again, with other labels
#   mx_accounts NS SA LABELS… the documents that give service accounts their labels
#                            ("k=v,…"): ServiceAccounts on k8s:, else their ksa.NS.SA
#                            Profiles' labelsToApply (pcsa.); every pod's account is its
#                            app label
#   mx_open_report           PASS/FAIL: every reset left the matrix open
#   mx_explain NAME FILE     PASS/FAIL explain_NAME: `tabbyctl policy explain` (one --batch
#                            call, from the datastore alone) gives every probed cell of FILE
#                            the verdict the probe got; mx_check runs it after each probe
#
# Expectations. For scenario NAME, the function in_NAME says whether the destination's
# ingress accepts the probe, out_NAME whether the source's egress lets it go; a function
# left undefined means open. A probe is expected through when both say yes, and always from
# a pod to itself (it never leaves the pod). They read SRC, DST ("x/a"), PORT, PROTO ("tcp",
# "udp", "sctp", "icmp"; the port of an ICMP echo is its type, 8) through the helpers:
#   from P...   the source is one of P: a namespace ("x") or a pod ("x/a", "*/a")
#   to P...     the same for the destination
#   on Q...     the probe's port/protocol is one of Q ("80/tcp", "tcp", "icmp", "80")
#
# On the k8s: datastore (MX_STORE=k8s, with k8s_lib.sh sourced; policy_matrix_k8s.sh): the
# API server test double beside the nodes, every pod a Pod object, Namespaces and labels
# changed through the API, Kubernetes policies written with kubectl and Calico's with
# tabbyctl; a pod whose named ports change is made again, as Kubernetes' pods' ports cannot
# change. The scenarios and their expectations are the same. With MX_RUNTIME=podman as well,
# each node's tabby-node is the DaemonSet's pod of manifests/tabby.yaml played by podman
# from the image (k8s_lib.sh's kl_podman), as Kubernetes would run it.
#
# IPv6. Every pod is dual stack (fd70:<1|2|3>::<1|2|3>, kube-system/dns fd70:4::53, in
# its WorkloadEndpoint's ipNetworks or its Pod's podIPs beside the IPv4 address). mx_check
# NAME checks the matrix over IPv6 too (as a case NAME_ipv6, and explain_NAME_ipv6 with the
# pods given to explain as their IPv6 addresses) when MX_IPV6 says so:
#   MX_IPV6=some (default)   the scenarios named in MX_IPV6_SOME (the suite's subset)
#   MX_IPV6=all              every scenario
#   MX_IPV6=none             none
# Over IPv6 the echo is ICMPv6's (PORT 128, PROTO "icmpv6": `on icmp` does not match it,
# as a rule's protocol ICMP does not) and the same expectations apply; an expectation that
# differs by family asks `v6` (true while the IPv6 matrix is compared). A Calico rule's
# nets are of one family, so a scenario whose rules name IPv4 nets writes each such rule
# twice, the twin naming the same pods' IPv6 addresses (fd70:N::/64 for 10.70.N.0/24).
#
# Tunables: MX_TIMEOUT_MS (probe timeout, default 400); MX_ONLY (a regular expression: only
# the mx_scenario scenarios it matches); PROBER comes from podnet.sh.

MX_TIMEOUT_MS=${MX_TIMEOUT_MS:-400}
MX_NAMESPACES=(x y z)
MX_PODS=(a b c)
MX_ROUND=0
MX_APPLIED=()
MX_EVER=()
MX_OPEN_FAILURES=()
declare -A MX_LABELS MX_PORTS MX_SA MX_LOG_MARK MX_GOT MX_DIFF
MX_SRCS=()
MX_DSTS=()
MX_DSTS6=()
MX_IPV6=${MX_IPV6:-some}
MX_FAMILY=4
MX_IPV6_SOME=${MX_IPV6_SOME:-}

# Per pod: its app label (for the README's examples) and its named ports, so that a name
# stands for different ports on different pods ("web" is 80/TCP on a, 81/TCP on b, 80/UDP
# on c; "http" is not declared on c; "assoc" is 80/SCTP on a, 81/SCTP on c).
declare -A MX_APP=(
    [x/a]=frontend [x/b]=backend [x/c]=database
    [y/a]=frontend [y/b]=api [y/c]=database
    [z/a]=backend [z/b]=api [z/c]=frontend
)
# shellcheck disable=SC2054 # the commas are inside the values
declare -A MX_NAMED=(
    [a]=http/TCP/80,web/TCP/80,dgram/UDP/81,assoc/SCTP/80
    [b]=http/TCP/81,web/TCP/81,dgram/UDP/80
    [c]=web/UDP/80,assoc/SCTP/81
)
# shellcheck disable=SC2054
declare -A MX_NS_LABELS=([x]=ns=x [y]=ns=y [z]=ns=z,team=ops [kube-system]=ns=kube-system)
MX_DNS_IP=10.70.4.53
MX_DNS_IP6=fd70:4::53
MX_POD_PORTS=80/tcp,81/tcp,80/udp,81/udp,80/sctp,8/icmp
MX_POD_PORTS6=80/tcp,81/tcp,80/udp,81/udp,80/sctp,128/icmpv6

mx_ip() {
    local n p
    case $1 in x) n=1 ;; y) n=2 ;; z) n=3 ;; esac
    case $2 in a) p=1 ;; b) p=2 ;; c) p=3 ;; esac
    echo "10.70.$n.$p"
}

# The pod's IPv6 address: 10.70.N.P's fd70:N::P.
mx_ip6() {
    local v4 n p
    v4=$(mx_ip "$1" "$2")
    IFS=. read -r _ _ n p <<<"$v4"
    echo "fd70:$n::$p"
}

v6() { [ "$MX_FAMILY" = 6 ]; }

# Whether scenario NAME is checked over IPv6 too (MX_IPV6, above).
mx_v6_wanted() {
    local w
    case $MX_IPV6 in
    all) return 0 ;;
    some) for w in $MX_IPV6_SOME; do [ "$w" = "$1" ] && return 0; done; return 1 ;;
    *) return 1 ;;
    esac
}

mx_ns_yaml() {
    local kv
    printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n' \
        "$(yaml_str "$1")"
    for kv in ${2//,/ }; do
        printf '    %s: %s\n' "$(yaml_str "${kv%%=*}")" "$(yaml_str "${kv#*=}")"
    done
}

mx_k8s() { [ "${MX_STORE:-}" = k8s ]; }

mx_ns_labels() {
    if mx_k8s; then pn_do kl_ns_labels "$1" "$2" >/dev/null; return; fi
    mx_ns_yaml "$1" "$2" | pn_apply >/dev/null
}

declare -A MX_PORTS_MADE   # k8s: the named ports each Pod was made with
mx_relabel() {
    local ns=$1 pod=$2
    MX_LABELS[$ns/$pod]=$3
    if mx_k8s && [ "${MX_PORTS_MADE[$ns/$pod]}" = "${MX_PORTS[$ns/$pod]}" ]; then
        pn_do kl_pod_labels "$ns" "$pod" "$3" >/dev/null
    elif mx_k8s; then
        kl_kubectl delete pod -n "$ns" "$pod" >/dev/null &&
            kl_pod_object "${PN_NODE_OF[$ns/$pod]}" "$ns" "$pod" "$(pn_ip_both "$ns" "$pod")" "$3" \
                "${MX_PORTS[$ns/$pod]}" "${MX_SA[$ns/$pod]}" >/dev/null && kl_settled
        MX_PORTS_MADE[$ns/$pod]=${MX_PORTS[$ns/$pod]}
    else
        pn_wep_yaml "${PN_NODE_OF[$ns/$pod]}" "$ns" "$pod" "$(pn_ip_both "$ns" "$pod")" "$3" \
            "${MX_PORTS[$ns/$pod]}" "$(pn_ifname "$ns" "$pod")" "${MX_SA[$ns/$pod]}" |
            pn_apply >/dev/null
    fi
}

mx_add_pod() {
    local ns=$1 pod=$2 ip=$3 labels=$4 ports=$5 sa=${6:-} node=n1
    [ "$ns" = z ] && node=n2
    MX_LABELS[$ns/$pod]=$labels
    MX_PORTS[$ns/$pod]=$ports
    MX_PORTS_MADE[$ns/$pod]=$ports
    MX_SA[$ns/$pod]=$sa
    pn_pod "$node" "$ns" "$pod" "$ip" "$labels" "$ports" "$sa"
}

mx_accounts() {
    local ns=$1 sa=$2 kv
    if mx_k8s; then
        printf -- '---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n'
        printf '  name: %s\n  namespace: %s\n  labels:\n' "$(yaml_str "$sa")" "$(yaml_str "$ns")"
        for kv in ${3//,/ }; do
            printf '    %s: %s\n' "$(yaml_str "${kv%%=*}")" "$(yaml_str "${kv#*=}")"
        done
        return
    fi
    printf -- '---\napiVersion: projectcalico.org/v3\nkind: Profile\nmetadata:\n'
    printf '  name: %s\nspec:\n  labelsToApply:\n' "$(yaml_str "ksa.$ns.$sa")"
    printf '    pcsa.projectcalico.org/name: %s\n' "$(yaml_str "$sa")"
    for kv in ${3//,/ }; do
        printf '    %s: %s\n' "$(yaml_str "pcsa.${kv%%=*}")" "$(yaml_str "${kv#*=}")"
    done
}

# A veth between the two nodes; each routes the other's pods over it, in both families.
# Each node's IPv6 neighbour entry for the other is pinned, as the pods' are (pn_pod6): a
# node's link-local address stays tentative for up to ~2 s after the link comes up
# (duplicate address detection), and until then the kernel sends no neighbour solicitation
# for a packet it forwards (the solicitation's source must be a usable link-local address),
# so the pods' packets queue behind the unresolved gateway, the oldest dropped once the
# queue is full: the first pod of n2 lost its probes of the first IPv6 matrix.
mx_link_nodes() {
    local mac1 mac2
    fab_link n1 to-n2 n2 to-n1 || return 1
    mac1=$(fab_in n1 cat /sys/class/net/to-n2/address) &&
        mac2=$(fab_in n2 cat /sys/class/net/to-n1/address) || return 1
    fab_in n1 ip addr add 10.69.0.1/30 dev to-n2
    fab_in n2 ip addr add 10.69.0.2/30 dev to-n1
    fab_in n1 ip route add 10.70.3.0/24 via 10.69.0.2
    fab_in n2 ip route add 10.70.0.0/16 via 10.69.0.1
    fab_in n1 ip -6 addr add fd69::1/64 dev to-n2 nodad &&
        fab_in n2 ip -6 addr add fd69::2/64 dev to-n1 nodad &&
        fab_in n1 ip -6 route add fd70:3::/64 via fd69::2 &&
        fab_in n2 ip -6 route add fd70::/16 via fd69::1 &&
        fab_in n1 ip -6 neigh replace fd69::2 lladdr "$mac2" dev to-n2 nud permanent &&
        fab_in n2 ip -6 neigh replace fd69::1 lladdr "$mac1" dev to-n1 nud permanent
}

mx_setup() {
    local ns pod serve=()
    pn_init
    pn_node n1 && pn_node n2 && mx_link_nodes || return 1
    if mx_k8s; then
        kl_start && kl_join n1 11 && kl_join n2 12 || return 1
        if [ "${MX_RUNTIME:-}" = podman ]; then kl_podman || return 1; fi
        for ns in "${!MX_NS_LABELS[@]}"; do mx_ns_labels "$ns" "${MX_NS_LABELS[$ns]}" || return 1; done
    else
        for ns in "${!MX_NS_LABELS[@]}"; do mx_ns_yaml "$ns" "${MX_NS_LABELS[$ns]}"; done |
            pn_apply >/dev/null || return 1
    fi
    for ns in "${MX_NAMESPACES[@]}"; do
        for pod in "${MX_PODS[@]}"; do
            mx_add_pod "$ns" "$pod" "$(mx_ip "$ns" "$pod"),$(mx_ip6 "$ns" "$pod")" \
                "pod=$pod,app=${MX_APP[$ns/$pod]}" "${MX_NAMED[$pod]}" "${MX_APP[$ns/$pod]}" ||
                return 1
            serve+=("$(pn_netns "$ns" "$pod"):80,81")
            MX_SRCS+=("$ns/$pod=$(pn_netns "$ns" "$pod")")
            MX_DSTS+=("$ns/$pod=$(mx_ip "$ns" "$pod"):$MX_POD_PORTS@$(pn_netns "$ns" "$pod")")
            MX_DSTS6+=("$ns/$pod=[$(mx_ip6 "$ns" "$pod")]:$MX_POD_PORTS6@$(pn_netns "$ns" "$pod")")
        done
    done
    mx_add_pod kube-system dns "$MX_DNS_IP,$MX_DNS_IP6" "k8s-app=kube-dns" \
        dns/UDP/53,dns-tcp/TCP/53 || return 1
    serve+=("$(pn_netns kube-system dns):53")
    MX_DSTS+=("kube-system/dns=$MX_DNS_IP:53/udp,53/tcp")
    MX_DSTS6+=("kube-system/dns=[$MX_DNS_IP6]:53/udp,53/tcp")
    pn_serve_netns "${serve[@]}" && pn_start_node n1 && pn_start_node n2
}

# ---- expectations ------------------------------------------------------------------------

# ENDPOINT PATTERN: a namespace ("x") or a pod, with globs ("x/a", "*/a").
# shellcheck disable=SC2053 # the pattern is a glob on purpose
mx_match() {
    case $2 in
    */*) [[ $1 == $2 ]] ;;
    *) [ "${1%%/*}" = "$2" ] ;;
    esac
}

from() {
    local p
    for p; do mx_match "$SRC" "$p" && return 0; done
    return 1
}

to() {
    local p
    for p; do mx_match "$DST" "$p" && return 0; done
    return 1
}

on() {
    local q
    for q; do
        case $q in
        */*) [ "$q" = "$PORT/$PROTO" ] && return 0 ;;
        tcp | udp | sctp | icmp) [ "$q" = "$PROTO" ] && return 0 ;;
        *) [ "$q" = "$PORT" ] && return 0 ;;
        esac
    done
    return 1
}

# ---- probing and comparing -----------------------------------------------------------------

# Probes the whole matrix into FILE (over MX_FAMILY); each round leaves from its own
# source ports.
mx_probe() {
    local base=$((10000 + (MX_ROUND % 120) * 400)) dsts=("${MX_DSTS[@]}")
    v6 && dsts=("${MX_DSTS6[@]}")
    MX_ROUND=$((MX_ROUND + 1))
    MX_SPORT=$base   # the first source port of the round (each leaves from base and up)
    "$PROBER" probe -t "${2:-$MX_TIMEOUT_MS}" -b "$base" "${MX_SRCS[@]}" -- "${dsts[@]}" >"$1"
}

# mx_union ROUNDS: the probe rounds in file ROUNDS (one after another) as one: a cell is
# "ok" when any round got through. A loaded machine may lose an answer, never make one up.
mx_union() {
    awk '{ k = $1 " " $2 " " $3 }
         !(k in r) { order[++n] = k; r[k] = $4 }
         $4 == "ok" { r[k] = "ok" }
         END { for (i = 1; i <= n; i++) print order[i], r[order[i]] }' "$1"
}

# mx_probe_union FILE MS…: one round per MS (a probe timeout), their union into FILE.
mx_probe_union() {
    local file=$1 ms
    shift
    : >"$file.rounds"
    for ms in "$@"; do
        mx_probe "$file.one" "$ms" || return 1
        cat "$file.one" >>"$file.rounds"
    done
    mx_union "$file.rounds" >"$file"
    rm -f "$file.one" "$file.rounds"
}

# Compares FILE with scenario NAME's expectation ("open": everything allowed). Sets
# MX_BAD (one line per differing cell) and MX_LATE (cells expected allowed but blocked),
# and for mx_print_matrices MX_GOT and MX_DIFF (per "SRC DST PORT/PROTO") and MX_PPS (the
# ports in their order).
mx_compare() {
    local file=$1 name=$2 has_in=0 has_out=0 want got line pp
    declare -F "in_$name" >/dev/null && has_in=1
    declare -F "out_$name" >/dev/null && has_out=1
    MX_BAD=()
    MX_LATE=0
    MX_GOT=()
    MX_DIFF=()
    MX_PPS=()
    while read -r SRC DST pp got; do
        [[ " ${MX_PPS[*]} " == *" $pp "* ]] || MX_PPS+=("$pp")
        PORT=${pp%/*} PROTO=${pp#*/}
        want=allowed
        if [ "$SRC" != "$DST" ]; then
            if { [ $has_out = 1 ] && ! "out_$name"; } || { [ $has_in = 1 ] && ! "in_$name"; }; then
                want=blocked
            fi
        fi
        [ "$got" = ok ] && got=allowed
        MX_GOT[$SRC $DST $pp]=$got
        [ "$want" = "$got" ] && continue
        MX_DIFF[$SRC $DST $pp]=1
        [ "$want" = allowed ] && [ "$got" = blocked ] && MX_LATE=$((MX_LATE + 1))
        line="$SRC → $DST $PORT/${PROTO^^} expected $want, got $got"
        MX_BAD+=("$line")
    done <"$file"
}

# The matrix (rows: sources, columns: destinations) of every port/protocol with a cell
# that differs, from mx_compare's last run, as comment lines: "." allowed, "X" blocked,
# "!" after a cell not as expected.
mx_print_matrices() {
    local name=$1 pp src dst row cols cell d k differs
    for pp in "${MX_PPS[@]}"; do
        differs=0
        for k in "${!MX_DIFF[@]}"; do [[ $k == *" $pp" ]] && differs=1 && break; done
        [ $differs = 1 ] || continue
        cols=()
        for d in "${MX_DSTS[@]}"; do
            dst=${d%%=*}
            [ -n "${MX_GOT[${MX_SRCS[0]%%=*} $dst $pp]+set}" ] && cols+=("$dst")
        done
        row=$(printf '%-6s' "${pp^^}")
        for dst in "${cols[@]}"; do row+=$(printf ' %-4s' "${dst#kube-system/}"); done
        echo "#   $name $pp: rows from, columns to; . allowed, X blocked, ! not as expected"
        echo "#   $row"
        for d in "${MX_SRCS[@]}"; do
            src=${d%%=*}
            row=$(printf '%-6s' "$src")
            for dst in "${cols[@]}"; do
                cell=X
                [ "${MX_GOT[$src $dst $pp]}" = allowed ] && cell=.
                [ -n "${MX_DIFF[$src $dst $pp]+set}" ] && cell+='!'
                row+=$(printf ' %-4s' "$cell")
            done
            echo "#   $row"
        done
    done
}

mx_bad_summary() {
    local n=${#MX_BAD[@]} shown=("${MX_BAD[@]:0:12}") s
    s=$(printf '%s; ' "${shown[@]}")
    s=${s%; }
    [ "$n" -gt 12 ] && s="$s; … ($((n - 12)) more)"
    echo "$n cells differ: $s"
}

# Probes and compares; cells that should answer but did not get one more, slower chance
# (a busy machine), which is reported: the two rounds together (mx_probe_union).
mx_verdict() {
    local name=$1 file="$T_TMP/matrix-$1.txt"
    v6 && file="$T_TMP/matrix-$1.ipv6.txt"
    mx_probe "$file" || return 2
    mx_compare "$file" "$name"
    if [ "$MX_LATE" -gt 0 ]; then
        local late=$MX_LATE
        mx_probe "$file.second" 2000 || return 2
        cat "$file" "$file.second" >"$file.rounds"
        mx_union "$file.rounds" >"$file"
        rm -f "$file.second" "$file.rounds"
        mx_compare "$file" "$name"
        [ ${#MX_BAD[@]} = 0 ] && echo "NOTE $name$(v6 && echo _ipv6): $late cells answered only on a second probe"
    fi
    [ ${#MX_BAD[@]} = 0 ]
}

# Error and warning lines the tabby-nodes logged since mx_log_mark (at most 3 a node);
# builtins only, as these run for every check.
mx_node_complaints() {
    local node line n lines
    for node in n1 n2; do
        mapfile -t -s "${MX_LOG_MARK[$node]:-0}" lines <"$T_TMP/tabby-node-$node.log"
        n=0
        for line in "${lines[@]}"; do
            [[ $line == *' error '* || $line == *' warning '* ]] || continue
            echo "$line"
            n=$((n + 1))
            [ $n = 3 ] && break
        done
    done
}

mx_log_mark() {
    local node lines
    for node in n1 n2; do
        mapfile -t lines <"$T_TMP/tabby-node-$node.log"
        MX_LOG_MARK[$node]=${#lines[@]}
    done
}

# Every cell of FILE ("SRC DST PORT/PROTO RESULT") explained in one batch, from the source
# port the last probe round started at (the scenarios' source port ranges split at 10000,
# below every round's ports); the cells where explain and the probe differ, with explain's
# reason, make the FAIL.
mx_explain() {
    local name=$1 file=$2 src dst pp got verdict why bad=() n=0 s
    declare -A probed
    while read -r src dst pp got; do
        [ "$got" = ok ] && got=allowed
        probed[$src $dst $pp]=$got
    done <"$file"
    while read -r src dst pp verdict why; do
        if v6; then src=${MX_NAME_OF[$src]:-$src} dst=${MX_NAME_OF[$dst]:-$dst}; fi
        n=$((n + 1))
        [ "$verdict" = allow ] && verdict=allowed || verdict=blocked
        [ "$verdict" = "${probed[$src $dst $pp]:-}" ] && continue
        bad+=("$src → $dst $pp: probe ${probed[$src $dst $pp]:-none}, explain $verdict ($why)")
    done < <(cut -d' ' -f1-3 "$file" | mx_explain_names |
        pn_ctl policy explain --sport "$MX_SPORT" --batch - 2>"$T_TMP/explain.err")
    if [ ${#bad[@]} = 0 ] && [ "$n" = "${#probed[@]}" ] && [ "$n" -gt 0 ]; then
        pass "explain_$name"
        return
    fi
    s=$(printf '%s; ' "${bad[@]:0:8}")
    [ ${#bad[@]} -gt 8 ] && s+="… ($((${#bad[@]} - 8)) more)"
    fail "explain_$name" "${#bad[@]} of ${#probed[@]} cells differ, $n explained: ${s%; }$(
        head -c 300 "$T_TMP/explain.err")"
}

# Over IPv6, the pods of "SRC DST PORT/PROTO" lines on stdin as their IPv6 addresses
# (explain takes a pod's name as its IPv4 address); MX_NAME_OF maps them back.
declare -A MX_NAME_OF
mx_explain_names() {
    local src dst pp
    if ! v6; then cat; return; fi
    while read -r src dst pp; do
        echo "$(pn_ip6 "${src%%/*}" "${src#*/}") $(pn_ip6 "${dst%%/*}" "${dst#*/}") $pp"
    done
}

mx_names_of_ip6() {
    local k
    for k in "${!PN_IP6[@]}"; do [ -z "${PN_IP6[$k]}" ] || MX_NAME_OF[${PN_IP6[$k]}]=$k; done
}

# mx_check NAME: over IPv4, then (mx_v6_wanted) over IPv6 as NAME_ipv6.
mx_check() {
    MX_FAMILY=4
    mx_check_family "$1"
    if mx_v6_wanted "$1"; then
        MX_FAMILY=6
        mx_names_of_ip6
        mx_check_family "$1"
        MX_FAMILY=4
    fi
}

mx_check_family() {
    local name=$1 complaints file="$T_TMP/matrix-$1.txt"
    v6 && file="$T_TMP/matrix-$1.ipv6.txt"
    mx_verdict "$name"
    local rc=$?
    [ $rc = 2 ] || mx_explain "$name$(v6 && echo _ipv6)" "$file"
    v6 && name+=_ipv6
    if [ $rc = 0 ]; then
        complaints=$(mx_node_complaints)
        if [ -n "$complaints" ]; then
            fail "$name" "matrix as expected, but tabby-node complained: $complaints"
        else
            pass "$name"
        fi
    else
        fail "$name" "$(mx_bad_summary)"
        mx_print_matrices "$name"
    fi
}

# ---- applying and resetting ------------------------------------------------------------------

mx_apply() {
    local file
    file=$(mktemp "$T_TMP/applied-XXXXXX.yaml")
    cat "${1:--}" >"$file"
    [ ${#MX_APPLIED[@]} = 0 ] && mx_log_mark
    MX_APPLIED+=("$file")
    MX_EVER+=("$file")
    if mx_k8s; then kl_write apply "$file"; else pn_apply <"$file" >/dev/null; fi
}

# mx_update: the documents on stdin written again (a policy changed in place), waited for;
# not recorded, as mx_apply records.
mx_update() {
    local file
    if mx_k8s; then
        file=$(mktemp "$T_TMP/update-XXXXXX.yaml")
        cat >"$file"
        kl_write apply "$file"
    else
        pn_apply >/dev/null
    fi
}

# Deletes what FILE holds (what is gone already is no error), waits for the nodes.
mx_delete() {
    if mx_k8s; then kl_write delete "$1"; return; fi
    pn_change delete -f "$1" --skip-not-found >/dev/null
}

mx_reset() {
    local i name=${1:-reset}
    for ((i = ${#MX_APPLIED[@]} - 1; i >= 0; i--)); do mx_delete "${MX_APPLIED[$i]}"; done
    MX_APPLIED=()
    mx_verdict open >/dev/null || MX_OPEN_FAILURES+=("after $name: $(mx_bad_summary)")
}

mx_scenario() {
    # MX_ONLY (an extended regular expression): only the scenarios whose names match it
    if [ -n "${MX_ONLY:-}" ] && ! [[ $1 =~ $MX_ONLY ]]; then cat >/dev/null; return 0; fi
    mx_apply
    mx_check "$1"
    mx_reset "$1"
}

mx_open_report() {
    if [ ${#MX_OPEN_FAILURES[@]} = 0 ]; then
        pass matrix_open_after_every_scenario
    else
        fail matrix_open_after_every_scenario "$(printf '%s | ' "${MX_OPEN_FAILURES[@]}")"
    fi
}
