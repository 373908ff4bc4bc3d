# kapi.sh — shell functions to run the Kubernetes API server test double (apiserver.py)
# from a test: source it, then
#   kapi_start DIR [APISERVER ARGS…]   start one with its state in DIR (log in DIR.log);
#                                      returns once it listens (false after 60 s)
#   kapi_stop DIR                      SIGTERM, then wait (it saves --state on the way)
#   kapi_stop_all                      every server this shell started (for an EXIT trap)
#   kapi_port DIR / kapi_url DIR       where it listens (the URL of its kubeconfig)
#   kapi_kubectl DIR ARGS…             kubectl as the admin (a private discovery cache)
#   kapi_curl DIR METHOD PATH [CURL ARGS…]   the admin's request, body to stdout
#   kapi_fault DIR JSON                add a fault (POST /_test/faults); see README.md
#   kapi_sa_folder DIR NS ACCOUNT OUT [SECONDS]
#                                      OUT as the kubelet projects a pod's service account
#                                      folder: token (a TokenRequest of NS/ACCOUNT, SECONDS
#                                      long, default 2 h), ca.crt, namespace
#   kapi_sa_projected DIR NS ACCOUNT OUT [SECONDS]
#                                      the same folder made, or renewed, as the kubelet's
#                                      projected volume writes it: the files in a new
#                                      ..TIMESTAMP folder, the ..data link swapped to it in
#                                      one rename, token, ca.crt and namespace links
#                                      through ..data; the folder before is removed
# To run it inside a network namespace, prefix KAPI_EXEC (e.g.
# KAPI_EXEC="ip netns exec NS") and listen on an address of that namespace.

KAPI_SERVER=${KAPI_SERVER:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/apiserver.py}
declare -A KAPI_PIDS

kapi_start() {
    local dir=$1 end
    shift
    mkdir -p "$dir"
    rm -f "$dir/port"   # a restart must not be taken for up by the old file
    ${KAPI_EXEC:-} python3 "$KAPI_SERVER" --dir "$dir" --log "$dir.log" "$@" 2>>"$dir.err" &
    KAPI_PIDS[$dir]=$!
    end=$(($(date +%s) + 60))
    until [ -s "$dir/port" ]; do
        if [ "$(date +%s)" -ge "$end" ] || ! kill -0 "${KAPI_PIDS[$dir]}" 2>/dev/null; then
            echo "kapi: the API server in $dir did not start:" >&2
            cat "$dir.err" >&2
            return 1
        fi
        sleep 0.1
    done
}

kapi_stop() {
    local pid=${KAPI_PIDS[$1]:-}
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "KAPI_PIDS[$1]"
}

kapi_stop_all() {
    local d
    for d in "${!KAPI_PIDS[@]}"; do kapi_stop "$d"; done
}

kapi_port() { cat "$1/port"; }
kapi_url() { sed -n 's/^    server: //p' "$1/kubeconfig"; }

kapi_kubectl() {
    local dir=$1
    shift
    kubectl --kubeconfig "$dir/kubeconfig" --cache-dir "$dir.kcache" "$@"
}

kapi_curl() {
    local dir=$1 method=$2 path=$3
    shift 3
    curl -sS --cacert "$dir/ca.crt" -H "Authorization: Bearer $(cat "$dir/admin.token")" \
        -X "$method" "$(kapi_url "$dir")$path" "$@"
}

kapi_fault() {
    kapi_curl "$1" POST /_test/faults -H 'Content-Type: application/json' -d "$2"
}

kapi_sa_folder() {
    mkdir -p "$4"
    ${KAPI_EXEC:-} kubectl --kubeconfig "$1/kubeconfig" --cache-dir "$1.kcache" \
        create token "$3" -n "$2" --duration "${5:-7200}s" >"$4/token.new" &&
        mv "$4/token.new" "$4/token" &&
        cp "$1/ca.crt" "$4/ca.crt" && printf %s "$2" >"$4/namespace"
}

kapi_sa_projected() {
    local out=$4 d old f
    d=$out/..$(date +%s%N)
    old=$(readlink "$out/..data" 2>/dev/null)
    mkdir -p "$d" && kapi_sa_folder "$1" "$2" "$3" "$d" "${5:-7200}" &&
        ln -sfn "$(basename "$d")" "$out/..data.new" && mv -T "$out/..data.new" "$out/..data" ||
        { rm -rf "$d"; return 1; }
    for f in token ca.crt namespace; do [ -L "$out/$f" ] || ln -sfn "..data/$f" "$out/$f"; done
    [ -z "$old" ] || rm -rf "${out:?}/$old"
}
