#!/bin/sh
# tests/check_layers.sh SRCDIR [OBJDIR] - check the layering of crystens'
# C sources; print one line per violation and exit 1 if there is any.
#
# A module is a source file and its headers: src/ct_tensor.c and
# src/ct_tensor.h are the module src/ct_tensor; a private header X_impl.h
# (what the files of one part share, as nn/ct_nn_impl.h) belongs to X.
# Module A depends on B when a file of A includes a file of B ("..."
# includes, resolved as the build resolves them: the including file's
# folder, then src, src/nn, src/metrics, src/lua, src/cli), or, given OBJDIR (the build tree), when
# A's object file uses a symbol that B's object file defines (nm).  The
# second kind catches what includes hide: a header that declares functions
# another file defines (repl.h declaring main.c's run_chunk).
#
# Rules:
#   cycle: no two modules depend on each other, directly or through others.
#   layer: the core (everything under SRCDIR but src/lua and src/cli)
#          includes no Lua or readline header, no header of src/lua or
#          src/cli, and its objects use no Lua, readline or binding symbol;
#          the bindings (src/lua) depend on nothing in the program (src/cli).
set -u
src=${1:?usage: check_layers.sh SRCDIR [OBJDIR]}
obj=${2:-}
src=${src%/}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Every C/C++/CUDA source and header, relative to SRCDIR.
(cd "$src" && find . -type f \( -name '*.c' -o -name '*.h' -o -name '*.cc' \
    -o -name '*.cu' -o -name '*.cuh' \) | sed 's|^\./||' | sort) > "$tmp/files"

# "file<TAB>line<TAB>kind<TAB>name" for each #include (kind q: "...", a: <...>).
while read -r f; do
    awk -v f="$f" '
        /^[ \t]*#[ \t]*include[ \t]*"/ { split($0, p, "\""); print f "\t" FNR "\tq\t" p[2] }
        /^[ \t]*#[ \t]*include[ \t]*</ { s = $0; sub(/^[^<]*</, "", s); sub(/>.*/, "", s)
                                         print f "\t" FNR "\ta\t" s }' "$src/$f"
done < "$tmp/files" > "$tmp/includes"

# "module<TAB>kind<TAB>symbol" for the objects of the build tree (D: defined,
# U: used).  An object belongs to the source it was compiled from: automake
# names it DIR/BASE.o, or DIR/TARGET-BASE.o under per-target flags.
: > "$tmp/symbols"
if [ -n "$obj" ]; then
    while read -r f; do
        case $f in *.h|*.cuh) continue ;; esac
        d=$(dirname "$f") b=$(basename "$f") m=${f%.*}
        b=${b%.*}
        for o in "$obj/$d/$b.o" "$obj/$d/"*-"$b.o"; do
            [ -f "$o" ] || continue
            ${NM:-nm} -P "$o" 2>/dev/null | awk -v m="$m" '
                $2 == "U" || $2 == "w" { print m "\tU\t" $1; next }
                $2 ~ /^[TDBRCWVGS]$/ { print m "\tD\t" $1 }'
        done
    done < "$tmp/files" | sort -u > "$tmp/symbols"
fi

awk -F'\t' '
function module(path) { sub(/\.[^.\/]*$/, "", path); sub(/_impl$/, "", path); return path }
function dir(path) { return path ~ /\// ? substr(path, 1, match(path, /\/[^\/]*$/) - 1) : "" }
function join(d, n) { return d == "" ? n : d "/" n }
function part(m) { return m ~ /^lua\// ? "lua" : m ~ /^cli\// ? "cli" : "core" }
function edge(a, b, why) {
    if (a == b) return
    if (!((a, b) in E)) { E[a, b] = why; nsucc[a]++; succ[a, nsucc[a]] = b }
    nodes[a] = nodes[b] = 1
}
# Tarjan: strongly connected components of the module graph.
function visit(v,    i, w, comp, k) {
    index_[v] = lowlink[v] = ++counter
    stack[++sp] = v; onstack[v] = 1
    for (i = 1; i <= nsucc[v]; i++) {
        w = succ[v, i]
        if (!(w in index_)) { visit(w); if (lowlink[w] < lowlink[v]) lowlink[v] = lowlink[w] }
        else if (onstack[w] && index_[w] < lowlink[v]) lowlink[v] = index_[w]
    }
    if (lowlink[v] == index_[v]) {
        k = 0
        do { w = stack[sp--]; onstack[w] = 0; comp[++k] = w } while (w != v)
        if (k > 1) report_cycle(comp, k)
    }
}
function report_cycle(comp, k,    i, j, line) {
    line = "cycle:"
    for (i = 1; i <= k; i++) line = line " " comp[i]
    print line
    for (i = 1; i <= k; i++) for (j = 1; j <= k; j++)
        if ((comp[i], comp[j]) in E) print "  " comp[i] " -> " comp[j] ": " E[comp[i], comp[j]]
    bad = 1
}
FILENAME ~ /files$/ { have[$1] = 1; next }
FILENAME ~ /includes$/ {
    f = $1; m = module(f); where = f ":" $2
    if ($3 == "a") {
        if ($4 ~ /^(lua|lauxlib|lualib|luaconf)\.h(pp)?$/ || $4 ~ /^(readline|editline)\// || $4 == "histedit.h")
            if (part(m) == "core") { print "layer: " where " (core) includes <" $4 ">"; bad = 1 }
        next
    }
    split("/nn/metrics/lua/cli", inc, "/")
    target = join(dir(f), $4)
    for (i = 1; !(target in have) && i <= 5; i++) target = join(inc[i], $4)
    if (!(target in have)) next     # a generated or system header
    t = module(target)
    if (part(m) == "core" && part(t) != "core") {
        print "layer: " where " (core) includes " target; bad = 1
    } else if (part(m) == "lua" && part(t) == "cli") {
        print "layer: " where " (bindings) includes " target " (program)"; bad = 1
    }
    edge(m, t, where " includes " target)
    next
}
$2 == "D" { if (!($3 in def)) def[$3] = $1; next }
$2 == "U" { nuse++; use_m[nuse] = $1; use_s[nuse] = $3 }
END {
    for (i = 1; i <= nuse; i++) {
        m = use_m[i]; s = use_s[i]
        if (part(m) == "core" && s ~ /^(lua_|luaL_|luaopen_|rl_|readline$|add_history$)/) {
            print "layer: " m " (core) uses " s; bad = 1
        }
        if (!(s in def)) continue
        t = def[s]
        if (part(m) == "core" && part(t) != "core") {
            print "layer: " m " (core) uses " s " of " t; bad = 1
        } else if (part(m) == "lua" && part(t) == "cli") {
            print "layer: " m " (bindings) uses " s " of " t " (program)"; bad = 1
        }
        edge(m, t, m " uses " s " of " t)
    }
    for (v in nodes) if (!(v in index_)) visit(v)
    exit bad
}' "$tmp/files" "$tmp/includes" "$tmp/symbols"
