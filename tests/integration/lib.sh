# lib.sh — shared by the integration tests: result lines, counters, and a private
# scratch folder removed on exit. Source it, call `t_begin NAME`, then pass/fail/skip.
#
# Each test prints one line per case: `PASS name`, `FAIL name: why`, `SKIP name: why`.
# The script's exit status follows automake's convention: 0 all passed, 1 a failure,
# 77 everything skipped.

T_FAILED=0
T_PASSED=0
T_SKIPPED=0
T_TOP=${T_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T_BUILD=${T_BUILD:-$PWD}
TABBYCTL=${TABBYCTL:-$T_BUILD/tabbyctl}
TABBY_IPAM=${TABBY_IPAM:-$T_BUILD/tabby-ipam}

t_begin() {
    T_NAME=$1
    T_TMP=$(mktemp -d "/tmp/tby-$T_NAME-XXXXXX")
    trap t_cleanup EXIT
}

t_cleanup() {
    local hook
    for hook in "${T_CLEANUP_HOOKS[@]}"; do eval "$hook" || true; done
    rm -rf "$T_TMP"
}

# t_on_exit CMD: run CMD when the test exits (before the scratch folder goes).
t_on_exit() {
    T_CLEANUP_HOOKS+=("$1")
}

# t_on_exit_first CMD: the same, CMD run before every hook registered so far (to stop,
# through a daemon, what that daemon made, before an earlier hook kills the daemon).
t_on_exit_first() {
    T_CLEANUP_HOOKS=("$1" "${T_CLEANUP_HOOKS[@]}")
}

pass() { echo "PASS $1"; T_PASSED=$((T_PASSED + 1)); }
fail() { echo "FAIL $1: $2"; T_FAILED=$((T_FAILED + 1)); }
skip() { echo "SKIP $1: $2"; T_SKIPPED=$((T_SKIPPED + 1)); }

t_end() {
    if [ "$T_FAILED" -gt 0 ]; then exit 1; fi
    if [ "$T_PASSED" -eq 0 ] && [ "$T_SKIPPED" -gt 0 ]; then exit 77; fi
    exit 0
}

# t_need_root NAME: skips the whole test unless it runs as root.
t_need_root() {
    if [ "$(id -u)" != 0 ]; then
        skip "$1" "needs root (network namespaces)"
        t_end
    fi
}

# t_wait SECONDS COMMAND…: true once COMMAND succeeds, false after SECONDS.
t_wait() {
    local end=$(($(date +%s%N) / 1000000 + $1 * 1000))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $(($(date +%s%N) / 1000000)) -ge "$end" ] && return 1
        sleep 0.1
    done
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Namespaces, fabrics, routers and nodes: the lab's fabric.sh (fab_* functions).
. "$T_TOP/examples/lab/fabric.sh"

# t_fabric PREFIX: this test's namespaces are PREFIX-NAME; every one, and every process
# in them, goes on exit.
t_fabric() {
    fab_init "$1"
    t_on_exit fab_cleanup
}

# pod_ping FROM ADDR: an echo reply reaches FROM (a namespace of t_fabric's prefix) within
# 10 s; ping asks again every second meanwhile.
pod_ping() { fab_in "$1" ping -c 1 -w 10 "$2" >/dev/null 2>&1; }

# yaml_str STRING: STRING as a YAML double-quoted scalar. Bare, names and values such as
# y, n, on, off, yes, no, null, 1 or 1.0 read as YAML 1.1 booleans, nulls and numbers.
yaml_str() {
    local s=${1//\\/\\\\}
    printf '"%s"' "${s//\"/\\\"}"
}

# t_fuzz TARGET...: runs each libFuzzer target of tests/fuzz (run.sh) $TABBY_FUZZ_RUNS
# times (20000 by default), one PASS or FAIL line each; SKIP without clang.
t_fuzz() {
    local t
    if ! command -v "${CC_FUZZ:-clang}" >/dev/null 2>&1; then
        for t in "$@"; do skip "fuzz-$t" "clang is not installed"; done
        return
    fi
    for t in "$@"; do
        if FUZZ_OUT="$T_TMP/$t" sh "$T_TOP/tests/fuzz/run.sh" "$t" "${TABBY_FUZZ_RUNS:-20000}" \
            >"$T_TMP/$t.log" 2>&1; then
            pass "fuzz-$t ($(grep -o 'Done [0-9]* runs' "$T_TMP/$t.log"))"
        else
            tail -n 40 "$T_TMP/$t.log"
            fail "fuzz-$t" "the fuzzer found a crash, a leak or undefined behaviour"
        fi
    done
}
