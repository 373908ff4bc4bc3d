#!/bin/sh
# Builds the libFuzzer target tests/fuzz/fuzz_<name>.c with clang (ASan + UBSan) straight
# from the sources it tests, and runs it a fixed number of times over its seed corpus, so
# CI gets a bounded, repeatable run:   tests/fuzz/run.sh selector 20000
# New inputs the fuzzer finds go to a scratch corpus under $FUZZ_OUT (default build-fuzz/),
# and so do reproducers; the seed corpus in the tree is only read. Exits non-zero if the
# fuzzer finds a problem.
set -eu

name=${1:?usage: tests/fuzz/run.sh <target> [runs]}
runs=${2:-20000}
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_OUT:-$top/build-fuzz}
cc=${CC_FUZZ:-clang}

case $name in
selector)
    sources="lib/selector.c lib/error.c"
    libs=$(pkg-config --cflags --libs jansson)
    ;;
*)
    echo "run.sh: unknown fuzz target '$name'" >&2
    exit 2
    ;;
esac

mkdir -p "$out/corpus-$name"
cd "$top"
# shellcheck disable=SC2086 # sources and libs are word lists
$cc -std=gnu11 -g -O1 -Wall -Wextra -Wno-unused-parameter -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Iinclude "tests/fuzz/fuzz_$name.c" $sources $libs -o "$out/fuzz_$name"

dict=""
if [ -f "tests/fuzz/$name.dict" ]; then
    dict="-dict=tests/fuzz/$name.dict"
fi
# -max_len above TBY_SEL_MAX_LEN so the length limit itself gets exercised.
# shellcheck disable=SC2086 # dict is empty or one option
# Crash and leak reproducers land in $out, named on stderr.
exec "$out/fuzz_$name" -runs="$runs" -max_len=5000 -print_final_stats=1 \
    -artifact_prefix="$out/" $dict \
    "$out/corpus-$name" "tests/fuzz/corpus/$name"
