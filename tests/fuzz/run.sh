#!/bin/sh
# tests/fuzz/run.sh [TARGET...] - run libFuzzer targets, each for
# $FUZZ_SECONDS (default 60) on $FUZZ_JOBS processes (libFuzzer's fork
# mode, which goes on after a finding), on a scratch copy of its corpus
# (tests/fuzz/corpus/NAME) so the source tree is left alone.  Run from a
# build directory (after `make fuzz-build`); with no arguments it runs
# every tests/fuzz/fuzz_* there.  tests/fuzz/NAME.dict, if present, is the
# target's libFuzzer dictionary.  Findings (crash-*, timeout-*, leak-*,
# oom-*) land in $FUZZ_FINDINGS (default tests/fuzz/findings) named after
# the target; replay one with tests/fuzz/replay_NAME FILE in a normal build.
# Prints one summary line per target; exits 1 if any target found anything.
set -u
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
findings=${FUZZ_FINDINGS:-$PWD/tests/fuzz/findings}
mkdir -p "$findings"
findings=$(cd "$findings" && pwd)
[ $# -gt 0 ] || set -- tests/fuzz/fuzz_*
status=0
for target in "$@"; do
    case $target in *.o|*.c) continue ;; esac
    [ -x "$target" ] || { echo "fuzz: $target: not built (make fuzz-build)"; status=1; continue; }
    name=$(basename "$target" | sed 's/^fuzz_//')
    bin=$(cd "$(dirname "$target")" && pwd)/$(basename "$target")
    work=$(mktemp -d)
    mkdir "$work/corpus"
    cp "$srcdir/tests/fuzz/corpus/$name/"* "$work/corpus/" 2>/dev/null
    dict=
    [ -f "$srcdir/tests/fuzz/$name.dict" ] && dict=-dict="$srcdir/tests/fuzz/$name.dict"
    before=$(ls "$findings" | grep -c "^$name-")
    # -fork keeps fuzzing after a crash (each child is a fresh process);
    # a child's -timeout is a hang, -rss_limit_mb a runaway allocation.
    (cd "$work" && "$bin" -fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$findings/$name-" $dict corpus > log 2>&1)
    # Fork mode reports "#EXECS: cov: N ft: N corp: N exec/s N oom/timeout/crash: a/b/c".
    last=$(grep -E '^#[0-9]+: cov:' "$work/log" | tail -n 1)
    execs=$(printf '%s\n' "$last" | sed -n 's/^#\([0-9]*\):.*/\1/p')
    corp=$(printf '%s\n' "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
    cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    otc=$(printf '%s\n' "$last" | sed -n 's/.*oom\/timeout\/crash: \([0-9/]*\).*/\1/p')
    after=$(ls "$findings" | grep -c "^$name-")
    new=$((after - before))
    printf 'fuzz %-12s %12s executions in %ss on %s jobs, cov %s, corpus %s, oom/timeout/crash %s, %d new findings\n' \
        "$name" "${execs:-?}" "$seconds" "$jobs" "${cov:-?}" "${corp:-?}" "${otc:-?}" "$new"
    if [ -z "$execs" ] || [ "$new" -gt 0 ]; then
        status=1
        grep -E 'ERROR|SUMMARY|runtime error' "$work/log" | sort | uniq -c | head -n 10
        [ -z "$execs" ] && tail -n 20 "$work/log"
    fi
    rm -rf "$work"
done
exit $status
