#!/bin/bash
# store_etcd.sh — the etcd datastore against real etcd servers started here on loopback
# and a unix socket: the store's conformance tests unchanged, large ranges, compaction,
# endpoint failover, a watch across a restart, TLS with client certificates, and
# user/password auth (token expiry, secrets kept out of messages).
#
# Run from the build folder (as `make check` does). Prints PASS/FAIL/SKIP lines; exits
# 0 when all passed, 1 on any failure, 77 when everything was skipped. Every etcd it
# starts is killed by pid on exit and its data removed.
set -u

CHECK=./tests/integration/etcd_check
STORE_TESTS=./tests/unit/test_store
PASSED=0
FAILED=0
SKIPPED=0

pass() { echo "PASS $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $1: $2"; FAILED=$((FAILED + 1)); }
skip() { echo "SKIP $1: $2"; SKIPPED=$((SKIPPED + 1)); }

finish() {
    if [ "$FAILED" -gt 0 ]; then exit 1; fi
    if [ "$PASSED" -eq 0 ]; then exit 77; fi
    exit 0
}

ALL_CASES="conformance ipam-contention ipam paging compaction-edge failover watch-restart unix-socket
    tls tls-needs-client-cert auth auth-wrong-password auth-no-credentials
    auth-token-expiry auth-watch-restart auth-secrets-hidden"

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
    for c in $ALL_CASES; do skip "$c" "etcd or etcdctl is not installed"; done
    finish
fi
for f in "$CHECK" "$STORE_TESTS"; do
    if [ ! -x "$f" ]; then
        for c in $ALL_CASES; do fail "$c" "$f is not built (run from the build folder)"; done
        finish
    fi
done

# Settings of the caller's own etcd must not leak into these tests.
unset ETCD_ENDPOINTS ETCD_CA_CERT_FILE ETCD_CERT_FILE ETCD_KEY_FILE ETCD_USERNAME ETCD_PASSWORD

TMP=$(mktemp -d /tmp/tby-etcd-test-XXXXXX)
declare -A ETCD_PID ETCD_PEER

cleanup() {
    local pid
    for pid in "${ETCD_PID[@]}"; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that the EXIT trap runs

# A loopback TCP port above 20000 that nothing listens on.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

# start_etcd NAME CLIENT_URL [ETCD ARGS…]: one single-member cluster in $TMP/NAME, with a
# clean environment (etcd reads ETCD_* variables as its own flags). Restarting a NAME
# reuses its data and peer port.
start_etcd() {
    local name=$1 url=$2 peer
    shift 2
    peer=${ETCD_PEER[$name]:-$(free_port)}
    ETCD_PEER[$name]=$peer
    mkdir -p "$TMP/$name"
    (cd "$TMP/$name" && exec env -i PATH="$PATH" etcd --name "$name" \
        --data-dir "$TMP/$name/data" \
        --listen-client-urls "$url" --advertise-client-urls "$url" \
        --listen-peer-urls "http://127.0.0.1:$peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "$name=http://127.0.0.1:$peer" "$@" >>"$TMP/$name/log" 2>&1) &
    ETCD_PID[$name]=$!
}

stop_etcd() {
    kill "${ETCD_PID[$1]}" 2>/dev/null && wait "${ETCD_PID[$1]}" 2>/dev/null
    unset "ETCD_PID[$1]"
}

# check NAME COMMAND…: PASS when COMMAND exits 0, else FAIL with its last error line.
check() {
    local name=$1
    shift
    if timeout 120 "$@" >"$TMP/out.$name" 2>"$TMP/err.$name"; then
        pass "$name"
    else
        fail "$name" "$(tail -n 1 "$TMP/err.$name")"
    fi
}

conformance() {
    local name=$1 uri=$2
    if TABBY_TEST_STORE=$uri timeout 300 "$STORE_TESTS" >"$TMP/out.$name" 2>&1; then
        pass "$name"
    else
        fail "$name" "$(grep -o 'FAILED  \] [a-z_0-9]*' "$TMP/out.$name" | sed 's/.*\] //' |
            tr '\n' ' ')(see the test's output)"
        cat "$TMP/out.$name"
    fi
}

# ipam_on_etcd NAME URI TEST: an IPAM unit test program run against etcd.
ipam_on_etcd() {
    local name=$1 uri=$2 prog=$3
    if TABBY_TEST_STORE=$uri timeout 600 "$prog" >"$TMP/out.$name" 2>&1; then
        pass "$name"
    else
        fail "$name" "$(grep -o 'FAILED  \] [a-z_0-9]*' "$TMP/out.$name" | sed 's/.*\] //' |
            tr '\n' ' ')(see the test's output)"
        cat "$TMP/out.$name"
    fi
}

# watch_restart NAME ETCD_NAME URI [ETCD ARGS…]: a watcher sees 200 puts in order while
# etcd is stopped and started between the first and the second hundred.
watch_restart() {
    local name=$1 etcd_name=$2 uri=$3 url waiter rc
    shift 3
    url=${uri#etcd:}
    "$CHECK" watch-seq "$uri" "/$name/" 200 120 >"$TMP/out.$name" 2>"$TMP/err.$name" &
    waiter=$!
    end=$((SECONDS + 60))
    until grep -q watching "$TMP/out.$name" 2>/dev/null || [ $SECONDS -ge $end ]; do
        sleep 0.1
    done
    if ! "$CHECK" put-seq "$uri" "/$name/k" 0 100 2>>"$TMP/err.$name"; then
        kill "$waiter"
        wait "$waiter"
        fail "$name" "$(tail -n 1 "$TMP/err.$name")"
        return
    fi
    stop_etcd "$etcd_name"
    start_etcd "$etcd_name" "$url" "$@"
    "$CHECK" put-seq "$uri" "/$name/k" 100 200 2>>"$TMP/err.$name"
    rc=$?
    wait "$waiter"
    rc=$((rc + $?))
    if [ "$rc" -eq 0 ]; then
        pass "$name"
    else
        fail "$name" "$(grep -v 'watch stream' "$TMP/err.$name" | tail -n 1)"
    fi
}

wait_ready() {
    timeout 90 "$CHECK" ready "$1" 60 2>"$TMP/ready.err"
}

# ---- plain http on loopback -----------------------------------------------------------
PORT=$(free_port)
URI="etcd:http://127.0.0.1:$PORT"
start_etcd main "http://127.0.0.1:$PORT"
if ! wait_ready "$URI"; then
    for c in $ALL_CASES; do fail "$c" "etcd did not start: $(tail -n 1 "$TMP/ready.err")"; done
    finish
fi
conformance conformance "$URI"
# IPAM on etcd: 4 processes x 500 allocations at once, releases and reallocation, and the
# rest of IPAM's cases, the same tests that run on sqlite.
ipam_on_etcd ipam-contention "$URI" ./tests/unit/test_ipam_concurrency
ipam_on_etcd ipam "$URI" ./tests/unit/test_ipam
check paging "$CHECK" range-large "$URI" /paging/ 2500
check compaction-edge "$CHECK" compact-edge "$URI" /compaction/
check failover "$CHECK" smoke "etcd:http://127.0.0.1:$(free_port),http://127.0.0.1:$PORT" \
    /failover/
watch_restart watch-restart main "$URI"
stop_etcd main

# ---- a unix socket --------------------------------------------------------------------
start_etcd unix "unix://etcd.sock:2379"
SOCK_URI="etcd:unix://$TMP/unix/etcd.sock:2379"
if wait_ready "$SOCK_URI"; then
    conformance unix-socket "$SOCK_URI"
else
    fail unix-socket "etcd did not answer on its socket: $(tail -n 1 "$TMP/ready.err")"
fi
stop_etcd unix

# ---- TLS with client certificates -----------------------------------------------------
make_certs() {
    local d=$TMP/pki
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=tabby-test-ca \
        -keyout "$d/ca.key" -out "$d/ca.crt" &&
        for who in server client; do
            openssl req -newkey rsa:2048 -nodes -subj "/CN=$who" \
                -keyout "$d/$who.key" -out "$d/$who.csr" &&
                printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
                    'extendedKeyUsage=serverAuth,clientAuth' >"$d/$who.ext" &&
                openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
                    -CAcreateserial -days 2 -extfile "$d/$who.ext" -out "$d/$who.crt" || return 1
        done
}

if ! command -v openssl >/dev/null; then
    skip tls "openssl is not installed"
    skip tls-needs-client-cert "openssl is not installed"
elif ! make_certs >"$TMP/openssl.log" 2>&1; then
    fail tls "making certificates: $(tail -n 1 "$TMP/openssl.log")"
    fail tls-needs-client-cert "making certificates failed"
else
    PKI=$TMP/pki
    PORT=$(free_port)
    TLS_URI="etcd:https://127.0.0.1:$PORT"
    start_etcd tls "https://127.0.0.1:$PORT" --cert-file "$PKI/server.crt" \
        --key-file "$PKI/server.key" --client-cert-auth --trusted-ca-file "$PKI/ca.crt"
    export ETCD_CA_CERT_FILE=$PKI/ca.crt ETCD_CERT_FILE=$PKI/client.crt
    export ETCD_KEY_FILE=$PKI/client.key
    if wait_ready "$TLS_URI"; then
        check tls "$CHECK" smoke "$TLS_URI" /tls/
    else
        fail tls "no TLS connection: $(tail -n 1 "$TMP/ready.err")"
    fi
    unset ETCD_CERT_FILE ETCD_KEY_FILE
    check tls-needs-client-cert "$CHECK" refused "$TLS_URI"
    unset ETCD_CA_CERT_FILE
    stop_etcd tls
fi

# ---- user/password auth ---------------------------------------------------------------
PORT=$(free_port)
AUTH_URI="etcd:http://127.0.0.1:$PORT"
PASSWORD="Pw-$RANDOM$RANDOM-not-for-logs"
WRONG="Wrong-$RANDOM$RANDOM-not-for-logs"
# Tokens live 2 s, so a test can outwait one.
AUTH_ARGS=(--auth-token-ttl 2)
start_etcd auth "http://127.0.0.1:$PORT" "${AUTH_ARGS[@]}"
if wait_ready "$AUTH_URI" &&
    etcdctl --endpoints "http://127.0.0.1:$PORT" user add "root:$PASSWORD" \
        >>"$TMP/auth/log" 2>&1 &&
    etcdctl --endpoints "http://127.0.0.1:$PORT" auth enable >>"$TMP/auth/log" 2>&1; then
    ETCD_USERNAME=root ETCD_PASSWORD=$PASSWORD check auth "$CHECK" smoke "$AUTH_URI" /auth/
    ETCD_USERNAME=root ETCD_PASSWORD=$WRONG check auth-wrong-password \
        "$CHECK" refused "$AUTH_URI"
    check auth-no-credentials "$CHECK" refused "$AUTH_URI"
    ETCD_USERNAME=root ETCD_PASSWORD=$PASSWORD check auth-token-expiry \
        "$CHECK" idle-then-use "$AUTH_URI" /auth-idle/ 4
    # A restart forgets every token: the watch must authenticate again to resume.
    ETCD_USERNAME=root ETCD_PASSWORD=$PASSWORD watch_restart auth-watch-restart auth \
        "$AUTH_URI" "${AUTH_ARGS[@]}"
    leaks=$(grep -l -e "$PASSWORD" -e "$WRONG" "$TMP"/out.auth* "$TMP"/err.auth* 2>/dev/null)
    if [ -z "$leaks" ]; then
        pass auth-secrets-hidden
    else
        fail auth-secrets-hidden "a password shows in $(basename "$leaks")"
    fi
else
    for c in auth auth-wrong-password auth-no-credentials auth-token-expiry \
        auth-watch-restart auth-secrets-hidden; do
        fail "$c" "could not set up auth: $(tail -n 1 "$TMP/auth/log")"
    done
fi
stop_etcd auth

finish
