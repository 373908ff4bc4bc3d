# node_bench_lib.sh — the opening tabby-node's VXLAN benchmarks share (sourced by
# node_bench.sh and node_restart.sh, which run from the build folder): the test library,
# podnet.sh and node_lib.sh from the source tree, and nb_begin.

T_BUILD=${T_BUILD:-$PWD}
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH/../tests/integration/lib.sh"
. "$BENCH/../tests/integration/podnet.sh"
. "$BENCH/../tests/integration/node_lib.sh"

# nb_begin NAME ENDPOINTS POLICIES LOCAL [ARGS…]: the run NAME, the load's sizes ENDPOINTS,
# POLICIES and LOCAL from ARGS' first three, else the defaults given, and a VXLAN cluster's
# datastore with the pool 10.70.0.0/16 (the nodes are the caller's).
nb_begin() {
    local name=$1
    t_begin "$name"
    ENDPOINTS=${5:-$2}
    POLICIES=${6:-$3}
    LOCAL=${7:-$4}
    NL_BACKEND=vxlan
    nl_init "$name" python3
    nl_pool default-pool 10.70.0.0/16 'vxlanMode: Always' | nl_apply
}
