#!/usr/bin/env bash
# fuzz_flow_log.sh — runs the libFuzzer target of tabby-node's denied flows (logged packets
# parsed, aggregated, rendered; tests/fuzz/run.sh flow_log) a fixed number of times.
. "$(dirname "$0")/lib.sh"
t_begin fuzz-flow-log
t_fuzz flow_log
t_end
