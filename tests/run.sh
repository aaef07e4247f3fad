#!/bin/sh
# tests/run.sh - run the test programs and scripts given as arguments, in
# parallel ($TEST_JOBS, default 2), each writing TAP into tests/<name>.log
# under the build directory; print one line per test file, the failing
# cases in full, and end with "N passed, N failed".
#
# A .lua test runs under $CRYSTENS, a .test under sh, anything else as a
# program.  A file that exits non-zero, crashes, or runs fewer cases than
# its plan counts as one more failure.  Run one file: tests/run.sh FILE.

set -u
srcdir=${top_srcdir:-.}

# run_one FILE: run a test, write its log, print a summary line
# "RESULT passed failed skipped file".
run_one() {
    t=$1
    src=$t
    [ -e "$src" ] || src="$srcdir/$t"
    log="$t.log"
    mkdir -p "$(dirname "$log")"
    case $t in
        *.lua) "$CRYSTENS" "$src" > "$log" 2>&1 ;;
        *.test) sh "$src" > "$log" 2>&1 ;;
        *) "./$t" > "$log" 2>&1 ;;
    esac
    status=$?
    pass=$(grep -c '^ok [0-9]' "$log")
    skip=$(grep -c '^ok [0-9].*# SKIP' "$log")
    fail=$(grep -c '^not ok [0-9]' "$log")
    pass=$((pass - skip))
    plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
    ran=$((pass + skip + fail))
    if [ -z "$plan" ] || [ "$plan" -ne "$ran" ]; then
        echo "# $t: planned ${plan:-no plan}, ran $ran" >> "$log"
        fail=$((fail + 1))
    elif [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
        echo "# $t: exited with status $status" >> "$log"
        fail=$((fail + 1))
    fi
    result=PASS
    [ "$fail" -gt 0 ] && result=FAIL
    echo "$result $pass $fail $skip $t"
}

if [ "${1:-}" = --one ]; then
    run_one "$2"
    exit 0
fi

results=$(printf '%s\n' "$@" | xargs -P "${TEST_JOBS:-2}" -I{} sh "$0" --one {})
total_pass=0 total_fail=0 total_skip=0
for t in "$@"; do
    line=$(printf '%s\n' "$results" | awk -v t="$t" '$5 == t')
    set -- $line
    printf '%s: %s (%s passed, %s failed%s)\n' "$1" "$5" "$2" "$3" \
        "$([ "$4" -gt 0 ] && echo ", $4 skipped")"
    if [ "$1" = FAIL ]; then
        grep -E -A12 '^not ok|^# .*: (planned|exited)' "$5.log" | sed 's/^/    /'
    fi
    total_pass=$((total_pass + $2)) total_fail=$((total_fail + $3)) total_skip=$((total_skip + $4))
done
if [ "$total_skip" -gt 0 ]; then
    echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
    echo "$total_pass passed, $total_fail failed"
fi
[ "$total_fail" -eq 0 ]
