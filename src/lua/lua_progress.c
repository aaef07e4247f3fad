/*
 * lua_progress.c - the crystens.progress module: the terminal progress bar
 * of ct_progress.h for loops written in Lua (training, sampling).
 *
 *     local bar = ct.progress.new("training", steps)
 *     for i = 1, steps do ...; bar:update(i, ("loss %.3f"):format(loss)) end
 *     bar:finish()
 */
#include "ct_progress.h"
#include "lua_ct.h"

#define CTL_PROGRESS "crystens.Progress"

static ct_progress *checkbar(lua_State *L)
{
    return luaL_checkudata(L, 1, CTL_PROGRESS);
}

static int p_new(lua_State *L)
{
    const char *label = luaL_checkstring(L, 1);
    lua_Integer total = luaL_optinteger(L, 2, 0);
    luaL_argcheck(L, total >= 0, 2, "total must not be negative");
    ct_progress *p = ctL_newudata(L, sizeof *p, 0, CTL_PROGRESS);
    ct_progress_start(p, label, total);
    return 1;
}

static int m_update(lua_State *L)
{
    ct_progress *p = checkbar(L);
    lua_Integer done = luaL_checkinteger(L, 2);
    ct_progress_update(p, done, luaL_optstring(L, 3, NULL));
    lua_settop(L, 1);
    return 1;
}

static int m_finish(lua_State *L)
{
    ct_progress_finish(checkbar(L));
    lua_pushnumber(L, ct_progress_elapsed(checkbar(L)));
    return 1;
}

static int m_elapsed(lua_State *L)
{
    lua_pushnumber(L, ct_progress_elapsed(checkbar(L)));
    return 1;
}

static int mm_tostring(lua_State *L)
{
    ct_progress *p = checkbar(L);
    lua_pushfstring(L, "Progress %s %I/%I", p->label, (lua_Integer)p->done, (lua_Integer)p->total);
    return 1;
}

static int p_columns(lua_State *L)
{
    lua_pushinteger(L, ct_progress_columns());
    return 1;
}

static const ctL_Reg progress_methods[] = {
    {"update", m_update, "bar:update(done, [extra]) -> bar. Record done steps and redraw (at "
                         "most ten times a second), with extra text such as the loss."},
    {"finish", m_finish, "bar:finish() -> seconds. Draw the final state and end the line; "
                         "return the elapsed time."},
    {"elapsed", m_elapsed, "bar:elapsed() -> seconds. The time since the bar started."},
    {NULL, NULL, NULL}
};

static const luaL_Reg progress_meta[] = {
    {"__tostring", mm_tostring},
    {"__close", m_finish},
    {NULL, NULL}
};

static const ctL_Reg progress_funcs[] = {
    {"columns", p_columns, "progress.columns() -> n. The terminal's width: stderr's, else "
                           "$COLUMNS, else 80 (the bar and help() fit in one column less)."},
    {"new", p_new, "progress.new(label, [total]) -> bar. A progress bar with rate and time "
                   "left on stderr, drawn only when stderr is a terminal (CRYSTENS_PROGRESS=1 "
                   "forces it, =0 hides it)."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_progress(lua_State *L)
{
    ctL_newclass(L, CTL_PROGRESS, progress_methods, NULL, progress_meta);
    ctL_newlib(L, progress_funcs, "crystens.progress: a terminal progress bar for long loops.");
    return 1;
}
