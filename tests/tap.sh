# tap.sh - TAP helpers for the shell tests; source it, call check/finish.
tap_n=0
tap_failed=0

# check NAME COMMAND...: run COMMAND; ok when it exits 0.
check() {
    name=$1
    shift
    tap_n=$((tap_n + 1))
    if "$@"; then
        echo "ok $tap_n - $name"
    else
        tap_failed=$((tap_failed + 1))
        echo "not ok $tap_n - $name"
    fi
}

# contains HAYSTACK NEEDLE: fixed-string search, printing both on failure.
contains() {
    case $1 in
        *"$2"*) return 0 ;;
    esac
    printf '#   expected to find: %s\n#   in: %s\n' "$2" "$1" | head -40
    return 1
}

skip_all() {
    echo "1..0 # SKIP $1"
    exit 0
}

finish() {
    echo "1..$tap_n"
    [ "$tap_failed" -eq 0 ]
}
