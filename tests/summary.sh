#!/bin/sh
# Count the individual test cases in the .trs files automake's TAP driver
# wrote and print "N passed, N failed" (skips and expected failures apart).
pass=0 fail=0 skip=0
for f in "$@"; do
    [ -f "$f" ] || continue
    p=$(grep -c '^:test-result: \(PASS\|XFAIL\)' "$f")
    x=$(grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)' "$f")
    s=$(grep -c '^:test-result: SKIP' "$f")
    pass=$((pass + p)) fail=$((fail + x)) skip=$((skip + s))
done
if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
