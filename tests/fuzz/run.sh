#!/bin/sh
# Builds one libFuzzer target with clang (ASan + UBSan) straight from the sources it
# tests and runs it a fixed number of times over its seed corpus, so CI gets a bounded,
# repeatable run:
#   tests/fuzz/run.sh NAME [RUNS] [libFuzzer options...]
# NAME is tests/fuzz/fuzz_NAME.c; the lib sources it needs are listed below. Seeds come
# from tests/fuzz/corpus/NAME (read only), a dictionary from tests/fuzz/NAME.dict when
# there is one; new inputs, reproducers and the binary go to $FUZZ_OUT (default
# /tmp/tabby-fuzz-NAME). Exits non-zero on a crash, a leak or UB.
set -eu

name=${1:?usage: run.sh NAME [RUNS] [libFuzzer options...]}
runs=${2:-10000}
[ $# -ge 2 ] && shift 2 || shift $#

defs=""
case $name in
selector)
    srcs="lib/selector.c lib/codec.c lib/strv.c lib/array.c lib/buf.c lib/validate.c lib/error.c"
    libs="-ljansson -lm"; opts="-max_len=5000" ;;
yaml)
    srcs="lib/yaml.c lib/yaml_dump.c lib/yaml_scalar.c lib/digest.c lib/array.c lib/buf.c
        lib/error.c"
    libs="-lyaml -ljansson"; opts="" ;;
merge_patch) srcs="lib/json_merge.c"; libs="-ljansson"; opts="-max_len=4096" ;;
jsonpath) srcs="lib/jsonpath.c lib/buf.c lib/array.c lib/error.c"; libs="-ljansson"
    opts="-max_len=4096" ;;
bird) srcs="bgp/bird_reply.c lib/array.c lib/net.c lib/error.c"; libs=""; opts="-max_len=8192" ;;
kube_config) srcs="lib/kube_config.c lib/base64.c lib/buf.c lib/codec.c lib/validate.c lib/strv.c
    lib/array.c lib/net.c lib/yaml.c lib/yaml_scalar.c lib/digest.c lib/error.c"
    libs="-lyaml -ljansson"; opts="-max_len=8192" ;;
kube_watch) srcs="lib/kube_stream.c lib/kube_known.c lib/kube_status.c lib/buf.c lib/hmap.c
    lib/array.c lib/error.c"; libs="-ljansson"; opts="-max_len=8192" ;;
kube_status) srcs="lib/kube_status.c lib/kube_list.c lib/kube_known.c lib/kube_resource.c
    lib/buf.c lib/hmap.c lib/array.c lib/error.c"; libs="-ljansson"; opts="-max_len=8192" ;;
k8s_objects)
    # The converters reach the whole resource model (decoding every kind), so every lib/
    # source is built in; only libcurl's transfers stay unused.
    srcs=$(cd "$(dirname "$0")/../.." && ls lib/*.c)
    libs="-lyaml -ljansson -lsqlite3 -lcurl -lm -lpthread"; opts="-max_len=16384"
    defs="-DPACKAGE_VERSION=\"fuzz\" -DTBY_DEFAULT_STORE=\"sqlite:/nonexistent\"" ;;
explain)
    # The evaluator reads rules through the policy engine's own conversion: every lib/ and
    # felix/policy/ source is built in (libnftnl's and libmnl's calls stay unused).
    srcs=$(cd "$(dirname "$0")/../.." && ls lib/*.c felix/policy/*.c)
    libs="-lyaml -ljansson -lsqlite3 -lcurl -lnftnl -lmnl -lm -lpthread"; opts="-max_len=8192"
    defs="-DPACKAGE_VERSION=\"fuzz\" -DTBY_DEFAULT_STORE=\"sqlite:/nonexistent\"" ;;
node_env)
    # tabby-node's settings reach the resource model (the pools and FelixConfiguration
    # decoders): every lib/ source, and the three node/ files that read the environment.
    srcs="$(cd "$(dirname "$0")/../.." && ls lib/*.c) node/node_config.c node/default_pool.c
        node/felix_env.c"
    libs="-lyaml -ljansson -lsqlite3 -lcurl -lm -lpthread"; opts="-max_len=4096"
    defs="-DPACKAGE_VERSION=\"fuzz\" -DTBY_DEFAULT_STORE=\"sqlite:/nonexistent\" -I$(cd "$(dirname "$0")/../.." && pwd)/node" ;;
endpointslice)
    srcs="lib/endpointslice.c lib/codec.c lib/net.c lib/strv.c lib/array.c lib/buf.c
        lib/validate.c lib/error.c"
    libs="-ljansson -lm"; opts="-max_len=8192" ;;
flow_log)
    # tabby-node's denied flows: the logged packets' parser, the aggregation and its JSON.
    srcs="node/flow_log.c"; libs="-ljansson"; opts="-max_len=4096"
    defs="-I$(cd "$(dirname "$0")/../.." && pwd)/node" ;;
*) echo "run.sh: unknown fuzz target '$name'" >&2; exit 2 ;;
esac

top=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_OUT:-${TMPDIR:-/tmp}/tabby-fuzz-$name}
mkdir -p "$out/corpus"

files=""
for s in $srcs; do files="$files $top/$s"; done
# shellcheck disable=SC2086 # word splitting of the lists is wanted
${CC_FUZZ:-clang} -std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -Wall -Wextra \
    -Wno-unused-parameter -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    $defs -I"$top/include" -I"$top/lib" -o "$out/fuzz_$name" "$top/tests/fuzz/fuzz_$name.c" $files $libs

seeds="$top/tests/fuzz/corpus/$name"
[ -d "$seeds" ] || seeds=""
dict=""
[ -f "$top/tests/fuzz/$name.dict" ] && dict="-dict=$top/tests/fuzz/$name.dict"
# shellcheck disable=SC2086
exec "$out/fuzz_$name" -runs="$runs" -print_final_stats=1 -artifact_prefix="$out/" \
    $opts $dict "$@" "$out/corpus" $seeds
