#!/usr/bin/env bash
# summary.sh — counts test cases across automake test logs: every cmocka case and every
# integration PASS/FAIL line, plus any test program that failed without saying why (a
# crash, a sanitizer abort). Prints "N skipped" (when any) and then "N passed, N failed".
#
#   tools/summary.sh BUILD_DIR…
set -u
passed=0 failed=0 skipped=0
for dir in "$@"; do
    while IFS= read -r -d '' trs; do
        log=${trs%.trs}.log
        result=$(sed -n 's/^:test-result: //p' "$trs" | head -1)
        p=0 f=0 s=0
        if grep -q '^\[==========\] .* test(s) run\.' "$log" 2>/dev/null; then
            p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | tail -1)
            f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log" | tail -1)
            s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s).*/\1/p' "$log" | tail -1)
        else
            # automake's driver appends its own "PASS script (exit status: 0)" line: not a case
            cases=$(grep -Ev '^[A-Z]+ .* \(exit status: [0-9]+\)$' "$log" 2>/dev/null)
            p=$(grep -c '^PASS ' <<<"$cases")
            f=$(grep -c '^FAIL ' <<<"$cases")
            s=$(grep -c '^SKIP ' <<<"$cases")
        fi
        p=${p:-0} f=${f:-0} s=${s:-0}
        if { [ "$result" = FAIL ] || [ "$result" = ERROR ]; } && [ "$f" = 0 ]; then
            f=1
            echo "summary: $(basename "$log" .log) failed without reporting a case (see $log)" >&2
        fi
        passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    done < <(find "$dir" -name '*.trs' -print0)
done
[ "$skipped" -gt 0 ] && echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
