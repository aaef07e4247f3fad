/*
 * lua_interrupt.c - the crystens.interrupt module: signals turned into
 * clean stops for long Lua loops (training).
 *
 *     ct.interrupt.catch(function()
 *       for step = 1, n do
 *         train_one_step()
 *         if ct.interrupt.pending() then save_checkpoint() break end
 *       end
 *     end)
 *
 * While body runs, the first SIGINT or SIGTERM only records itself, so the
 * loop can finish its step, save and stop at a consistent point.  A second
 * signal interrupts at once, as Ctrl-C normally does (the "interrupted!"
 * error, with ct_interrupt_flag set for the C loops).  When body ends with a
 * signal recorded, catch acts on it: SIGTERM exits the program with status
 * 143 (128 + SIGTERM), SIGINT raises "interrupted!" (the REPL returns to its
 * prompt; a script exits with status 130).  The previous handlers are
 * restored either way.  Unlike a plain Ctrl-C, which re-arms its hook until
 * the chunk ends, that error is raised once, so a pcall around catch can
 * clean up (sampling swaps its EMA weights back) and also swallow it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_ct.h"

static volatile sig_atomic_t pending_signal;   /* 0, SIGINT or SIGTERM */
static volatile sig_atomic_t catching;         /* depth of nested catch calls */
static lua_State *catch_L;                     /* the state body runs in */

static void hard_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    luaL_error(L, "interrupted!");
}

static void on_signal(int sig)
{
    if (pending_signal) {
        /* The second signal: stop now (lua.c's way of interrupting Lua). */
        ct_interrupt_flag = 1;
        lua_sethook(catch_L, hard_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
        return;
    }
    pending_signal = sig;
}

static int i_pending(lua_State *L)
{
    switch (pending_signal) {
    case SIGINT: lua_pushliteral(L, "interrupt"); break;
    case SIGTERM: lua_pushliteral(L, "terminate"); break;
    default: lua_pushnil(L);
    }
    return 1;
}

/* Install on_signal for SIGINT and SIGTERM, keeping the old actions. */
static void install(struct sigaction *old_int, struct sigaction *old_term)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, old_int);
    sigaction(SIGTERM, &sa, old_term);
}

static int i_catch(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    int nargs = lua_gettop(L) - 1;
    if (catching) {   /* nested: the outer catch already defers signals */
        lua_call(L, nargs, LUA_MULTRET);
        return lua_gettop(L);
    }
    struct sigaction old_int, old_term;
    lua_State *old_L = catch_L;
    catch_L = L;
    pending_signal = 0;
    catching = 1;
    install(&old_int, &old_term);
    int status = lua_pcall(L, nargs, LUA_MULTRET, 0);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    catching = 0;
    catch_L = old_L;
    int sig = pending_signal;
    pending_signal = 0;
    if (sig == SIGTERM) {
        if (status != LUA_OK) fprintf(stderr, "crystens: %s\n", lua_tostring(L, -1));
        fprintf(stderr, "crystens: terminated\n");
        fflush(stdout);
        fflush(stderr);
        exit(128 + SIGTERM);
    }
    if (sig == SIGINT) {
        lua_sethook(L, NULL, 0, 0);
        ct_interrupt_flag = 1;   /* run_chunk reads it to exit with 130 */
        if (status != LUA_OK) return lua_error(L);
        return luaL_error(L, "interrupted!");
    }
    if (status != LUA_OK) return lua_error(L);
    return lua_gettop(L);
}

static const ctL_Reg interrupt_funcs[] = {
    {"catch", i_catch, "interrupt.catch(body, ...) -> body's results. Run body(...) with SIGINT and "
                       "SIGTERM deferred: the first one only makes interrupt.pending() true, "
                       "so body can finish its step, save and return; a second interrupts at "
                       "once. Afterwards SIGTERM exits with status 143 and SIGINT raises "
                       "'interrupted!' (a script then exits with 130)."},
    {"pending", i_pending, "interrupt.pending() -> 'interrupt' | 'terminate' | nil. The signal "
                           "received inside interrupt.catch and not yet acted on."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_interrupt(lua_State *L)
{
    ctL_newlib(L, interrupt_funcs, "crystens.interrupt: deferred Ctrl-C and SIGTERM, so "
                                   "long loops (ct.train) stop at a clean point.");
    return 1;
}
