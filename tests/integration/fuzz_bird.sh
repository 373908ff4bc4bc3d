#!/usr/bin/env bash
# fuzz_bird.sh — runs the libFuzzer target for BIRD's control-socket replies a fixed
# number of times (tests/fuzz/run.sh bird), so every `make check` fuzzes the parser.
. "$(dirname "$0")/lib.sh"
t_begin fuzz-bird

if ! command -v "${CC_FUZZ:-clang}" >/dev/null 2>&1; then
    skip fuzz-bird-reply-parser "clang is not installed"
    t_end
fi
if FUZZ_OUT="$T_TMP/fuzz" sh "$T_TOP/tests/fuzz/run.sh" bird "${TABBY_FUZZ_RUNS:-20000}" \
    >"$T_TMP/fuzz.log" 2>&1; then
    pass "fuzz-bird-reply-parser ($(grep -o 'Done [0-9]* runs' "$T_TMP/fuzz.log"))"
else
    tail -n 40 "$T_TMP/fuzz.log"
    fail fuzz-bird-reply-parser "the fuzzer found a crash, a leak or undefined behaviour"
fi
t_end
