#!/bin/sh
# tests/fuzz/run.sh SECONDS TARGET...: run each libFuzzer target for SECONDS
# on a scratch copy of its seed corpus (tests/fuzz/corpus/NAME), so new
# inputs the fuzzer finds do not pile up in the source tree.  Crashes are
# written to tests/fuzz/crash-NAME-*; the run fails if any target fails.
set -u
seconds=$1
shift
status=0
for target in "$@"; do
    name=$(basename "$target" | sed 's/^fuzz_//')
    work=$(mktemp -d)
    cp "$top_srcdir/tests/fuzz/corpus/$name/"* "$work/" 2>/dev/null
    echo "== fuzzing $name for ${seconds}s"
    "$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="tests/fuzz/crash-$name-" -print_final_stats=1 "$work" 2>&1 |
        grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)' || true
    [ -n "$(ls tests/fuzz/crash-$name-* 2>/dev/null)" ] && status=1
    rm -rf "$work"
done
exit $status
