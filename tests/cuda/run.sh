#!/bin/sh
# tests/cuda/run.sh [BUILDDIR] - run the device-side tests (they need a GPU)
# through tests/run.sh, ending with "N passed, N failed": every program
# tests/cuda/test_* built in BUILDDIR (default: the source tree) and every
# tests/cuda/*.lua under its crystens.  `make check-cuda` runs it; so can a
# machine without autotools, on a built tree carried there:
#
#     top_srcdir=$PWD sh tests/cuda/run.sh
#
# Environment: CRYSTENS (the program), CRYSTENS_CUDA_PLUGIN (the plugin),
# TEST_JOBS (default 1: the tests share one GPU), CT_TEST_SEED (replay).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
build=$(cd "${1:-$top_srcdir}" && pwd)
export top_srcdir
export CRYSTENS="${CRYSTENS:-$build/src/crystens}"
export CRYSTENS_CUDA_PLUGIN="${CRYSTENS_CUDA_PLUGIN:-$build/src/crystens-cuda.so}"
export CRYSTENS_LUADIR="${CRYSTENS_LUADIR:-$top_srcdir/lua}"
export CRYSTENS_DATADIR="${CRYSTENS_DATADIR:-$top_srcdir/share}"
export LUA_PATH="$top_srcdir/tests/lua/?.lua;;"
export TEST_JOBS="${TEST_JOBS:-1}"
cd "$build" || exit 1
set --
for t in tests/cuda/test_*; do
    case $t in *.c|*.o|*.log) continue ;; esac
    [ -f "$t" ] && [ -x "$t" ] && set -- "$@" "$t"
done
for t in "$top_srcdir"/tests/cuda/*.lua; do
    [ -f "$t" ] && set -- "$@" "tests/cuda/$(basename "$t")"
done
if [ $# -eq 0 ]; then
    echo "tests/cuda/run.sh: no tests built in $build (configure --with-cuda, make)" >&2
    exit 1
fi
exec sh "$top_srcdir/tests/run.sh" "$@"
