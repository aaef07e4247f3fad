/*
 * main.c - the crystens program: command line, Lua state, startup.
 *
 * Modelled on lua.c: the same options (-e, -i, -, script + args in `arg`),
 * chunks run with the same traceback handler and Ctrl-C hook (run.c), plus
 * the crystens modules preloaded and the global `ct` set.  As in lua.c,
 * all that follows the creation of the Lua state runs in a protected call
 * (pmain), so an error during startup is reported, never a PANIC.
 */
#include "config.h"

#include <cblas.h>
#include <limits.h>
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "blas_core.h"
#include "ct_backend.h"
#include "lua_modules.h"
#include "repl.h"
#include "run.h"

static const char *progname = "crystens";

static int run_string(lua_State *L, const char *code, const char *name)
{
    int status = luaL_loadbuffer(L, code, strlen(code), name);
    if (status == LUA_OK) status = run_chunk(L, 0, 0);
    return report_error(L, status);
}

/* Push the script's arguments (argv[script+1..]) and return their count. */
static int push_script_args(lua_State *L, char **argv, int argc, int script)
{
    int n = argc - script - 1;
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
    return n;
}

static int run_script(lua_State *L, char **argv, int argc, int script)
{
    const char *fname = argv[script];
    if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0) fname = NULL;
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        int n = push_script_args(L, argv, argc, script);
        status = run_chunk(L, n, LUA_MULTRET);
    }
    return report_error(L, status);
}

/* Set the global `arg` as lua.c does: arg[0] is the script, arg[-k] the
   interpreter and options, arg[1..] the script's arguments. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
    if (script == argc) script = 0;
    lua_createtable(L, argc - script - 1, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

/* ---- finding lua/ and share/ -------------------------------------------- */

/* Return non-zero if this executable is the uninstalled one in the build
   tree, which must use the source tree's lua/ and share/. */
static int running_from_build_tree(void)
{
    char exe[PATH_MAX], built[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0 || !realpath(CT_BUILD_BINDIR, built)) return 0;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return 0;
    *slash = '\0';
    return strcmp(exe, built) == 0;
}

/* Register crystens.config {version, luadir, datadir} and extend
   package.path so `require "crystens"` finds the Lua modules. */
static void set_paths(lua_State *L)
{
    int dev = running_from_build_tree();
    const char *luadir = getenv("CRYSTENS_LUADIR");
    const char *datadir = getenv("CRYSTENS_DATADIR");
    if (!luadir || !*luadir) luadir = dev ? CT_SRC_LUADIR : CT_LUADIR;
    if (!datadir || !*datadir) datadir = dev ? CT_SRC_DATADIR : CT_DATADIR;
    /* The CUDA plugin: beside the executable first (the build tree), then
       where it is installed. */
    if (!dev) ct_backend_set_plugin_dir(CT_PKGLIBDIR);

    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", luadir, luadir);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_getfield(L, -1, "loaded");
    lua_createtable(L, 0, 4);
    lua_pushliteral(L, PACKAGE_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, luadir);
    lua_setfield(L, -2, "luadir");
    lua_pushstring(L, datadir);
    lua_setfield(L, -2, "datadir");
    lua_setfield(L, -2, "crystens.config");
    lua_pop(L, 2);
}

/* Load the crystens modules and set the globals ct, crystens, help and tour. */
static int open_crystens(lua_State *L)
{
    luaL_openlibs(L);
    ctL_preload(L);
    set_paths(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "crystens");
    int status = run_chunk(L, 1, 1);
    if (status != LUA_OK) return report_error(L, status);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "ct");
    lua_setglobal(L, "crystens");
    lua_getglobal(L, "require");
    lua_pushliteral(L, "crystens.help");
    status = run_chunk(L, 1, 1);
    if (status != LUA_OK) return report_error(L, status);
    lua_getfield(L, -1, "help");
    lua_setglobal(L, "help");
    lua_pop(L, 1);
    lua_getglobal(L, "ct");
    lua_getfield(L, -1, "tour");
    lua_setglobal(L, "tour");
    lua_pop(L, 1);
    return LUA_OK;
}

/* ---- command line ------------------------------------------------------- */

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: %s [options] [script [args]]\n"
            "Generate crystal structures with deep generative models, from Lua.\n\n"
            "  -e CODE    run the Lua code CODE\n"
            "  -i         enter the REPL after running the script or -e code\n"
            "  -q         no banner in the REPL\n"
            "  -v, --version  print the version and exit\n"
            "  -h, --help     print this help and exit\n"
            "  --         stop handling options\n"
            "  -          run standard input as a script\n\n"
            "With no script, the REPL starts on a terminal; otherwise standard input\n"
            "is read as a script.  See crystens(1) and help() in the REPL.\n",
            progname);
}

/* What OpenBLAS reports (its version, build and kernels), and the kernels it
   chose itself where blas_core_select replaced them. */
static void print_blas(void)
{
    const char *from = blas_core_replaced();
    printf("%s", openblas_get_config());
    if (from) printf(" (core set by crystens; OpenBLAS chose %s)", from);
}

static void print_version(void)
{
    printf("crystens %s (%s)\n", PACKAGE_VERSION, LUA_RELEASE);
    print_blas();
    printf("\n");
}

static void print_banner(void)
{
    printf("crystens %s  --  %s  --  ", PACKAGE_VERSION, LUA_RELEASE);
    print_blas();
    printf(", %d thread%s\n"
           "help() lists the modules, help(x) documents x, tour() walks through it all;\n"
           "quit() or Ctrl-D quits.\n",
           openblas_get_num_threads(), openblas_get_num_threads() == 1 ? "" : "s");
    fflush(stdout);
}

typedef struct {
    int interactive, quiet, version, help, has_e, script;
} options;

/* Parse argv; return -1 on a bad option (after printing why). */
static int parse_options(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0) break;
        if (strcmp(a, "--") == 0) { i++; break; }
        if (strcmp(a, "-i") == 0) o->interactive = 1;
        else if (strcmp(a, "-q") == 0) o->quiet = 1;
        else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) o->version = 1;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) o->help = 1;
        else if (strcmp(a, "-e") == 0) {
            if (++i == argc) {
                fprintf(stderr, "%s: '-e' needs an argument\n", progname);
                return -1;
            }
            o->has_e = 1;
        } else {
            fprintf(stderr, "%s: unrecognized option '%s'\n", progname, a);
            return -1;
        }
    }
    o->script = i;
    return 0;
}

/* Run every -e CODE in order; return the first failing status. */
static int run_e_options(lua_State *L, char **argv, int script)
{
    for (int i = 1; i < script; i++)
        if (strcmp(argv[i], "-e") == 0 && run_string(L, argv[++i], "=(command line)") != LUA_OK)
            return LUA_ERRRUN;
    return LUA_OK;
}

static int run_program(lua_State *L, int argc, char **argv, const options *o)
{
    create_arg_table(L, argv, argc, o->script);
    if (open_crystens(L) != LUA_OK) return EXIT_FAILURE;
    if (run_e_options(L, argv, o->script) != LUA_OK) return EXIT_FAILURE;
    if (o->script < argc && run_script(L, argv, argc, o->script) != LUA_OK)
        return run_interrupted() ? 128 + SIGINT : EXIT_FAILURE;
    int tty = isatty(STDIN_FILENO);
    if (o->interactive || (o->script == argc && !o->has_e && tty)) {
        if (!o->quiet) print_banner();
        return repl_run(L);
    }
    if (o->script == argc && !o->has_e && !tty) {
        /* No script and input from a pipe: run standard input, like lua.c. */
        if (report_error(L, luaL_loadfile(L, NULL) == LUA_OK ? run_chunk(L, 0, 0) : LUA_ERRSYNTAX) != LUA_OK)
            return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}

/* The program once the Lua state exists, run by lua_pcall as lua.c's pmain
   (arguments: argc, argv, the options); returns the exit status. */
static int pmain(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    const options *o = lua_touserdata(L, 3);
    lua_pushinteger(L, run_program(L, argc, argv, o));
    return 1;
}

int main(int argc, char **argv)
{
    blas_core_select(argv);
    if (argv[0] && argv[0][0]) progname = argv[0];
#ifdef M_MMAP_THRESHOLD
    /* A training step allocates and frees hundreds of tensors of up to a
       few MB: keep them in the heap (glibc would mmap and munmap each, or
       trim the heap), so their pages are not faulted in and zeroed by the
       kernel afresh every step. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    options o;
    if (parse_options(argc, argv, &o) != 0) {
        print_usage(stderr);
        return EXIT_FAILURE;
    }
    if (o.help) {
        print_usage(stdout);
        return EXIT_SUCCESS;
    }
    if (o.version) {
        print_version();
        return EXIT_SUCCESS;
    }
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "%s: cannot create the Lua state: not enough memory\n", progname);
        return EXIT_FAILURE;
    }
    run_init(L, progname);
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    lua_pushlightuserdata(L, &o);
    int status = lua_pcall(L, 3, 1, 0);
    int rc = status == LUA_OK ? (int)lua_tointeger(L, -1) : EXIT_FAILURE;
    report_error(L, status);
    lua_close(L);
    return rc;
}
