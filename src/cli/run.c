/*
 * run.c - running chunks as lua.c does: a message handler that adds a
 * traceback, and a SIGINT handler that sets a hook raising "interrupted!".
 * The hook is re-armed on every instruction until the chunk ends, so a
 * user's pcall cannot swallow Ctrl-C; long C loops see the same press
 * through ct_interrupted().
 */
#include <signal.h>
#include <stdio.h>

#include <lauxlib.h>
#include <lua.h>

#include "ct_common.h"
#include "run.h"

static const char *progname = "crystens";
static lua_State *global_L;
static int chunk_interrupted;   /* the last chunk ended by Ctrl-C: exit 130 */

void run_init(lua_State *L, const char *name)
{
    global_L = L;
    if (name && *name) progname = name;
}

/* ---- Ctrl-C ------------------------------------------------------------- */

static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    luaL_error(L, "interrupted!");
}

static void on_sigint(int sig)
{
    (void)sig;
    ct_interrupt_flag = 1;
    lua_sethook(global_L, interrupt_hook,
                LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

/* ---- running chunks ----------------------------------------------------- */

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    /* Ctrl-C is the user's wish, not a bug: its one line, no traceback */
    if (ct_interrupt_flag) return 1;
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int run_chunk(lua_State *L, int narg, int nres)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    ct_interrupt_flag = 0;
    void (*old)(int) = signal(SIGINT, on_sigint);
    int status = lua_pcall(L, narg, nres, base);
    signal(SIGINT, old);
    lua_sethook(L, NULL, 0, 0);
    chunk_interrupted = status != LUA_OK && ct_interrupt_flag;
    ct_interrupt_flag = 0;
    lua_remove(L, base);
    return status;
}

int run_interrupted(void)
{
    return chunk_interrupted;
}

int report_error(lua_State *L, int status)
{
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "%s: %s\n", progname, msg ? msg : "(error object is not a string)");
        fflush(stderr);
        lua_pop(L, 1);
    }
    return status;
}
