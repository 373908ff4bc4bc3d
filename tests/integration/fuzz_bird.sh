#!/usr/bin/env bash
# fuzz_bird.sh — runs the libFuzzer target for BIRD's control-socket replies a fixed
# number of times (tests/fuzz/run.sh bird), so every `make check` fuzzes the parser.
. "$(dirname "$0")/lib.sh"
t_begin fuzz-bird
t_fuzz bird fuzz-bird-reply-parser
t_end
