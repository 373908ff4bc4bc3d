#!/usr/bin/env bash
# fuzz_explain.sh — runs the libFuzzer target of `tabbyctl policy explain` (resources and
# flows read, every flow evaluated; tests/fuzz/run.sh explain) a fixed number of times.
. "$(dirname "$0")/lib.sh"
t_begin fuzz-explain
t_fuzz explain
t_end
