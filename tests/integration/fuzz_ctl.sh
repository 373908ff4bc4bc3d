#!/usr/bin/env bash
# fuzz_ctl.sh — runs the libFuzzer targets of tabbyctl's own parsers a fixed number of
# times each (tests/fuzz/run.sh jsonpath, merge_patch), so every `make check` fuzzes the
# JSONPath of -o custom-columns and the merge patch of tabbyctl patch.
. "$(dirname "$0")/lib.sh"
t_begin fuzz-ctl
t_fuzz jsonpath merge_patch
t_end
