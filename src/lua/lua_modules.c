/*
 * lua_modules.c - the C modules the crystens program preloads.
 *
 * Each entry becomes package.preload[name], so `require "crystens.tensor"`
 * works from the REPL, scripts and the Lua modules under lua/crystens/.
 */
#include "lua_ct.h"
#include "lua_modules.h"

static const luaL_Reg modules[] = {
    {"crystens.doc", luaopen_crystens_doc},
    {"crystens.tensor", luaopen_crystens_tensor},
    {"crystens.metrics_core", luaopen_crystens_metrics_core},
    {"crystens.cdvae_core", luaopen_crystens_cdvae_core},
    {"crystens.kmeans", luaopen_crystens_kmeans},
    {"crystens.fingerprint", luaopen_crystens_fingerprint},
    {"crystens.nn_core", luaopen_crystens_nn_core},
    {"crystens.structure", luaopen_crystens_structure},
    {"crystens.cif", luaopen_crystens_cif},
    {"crystens.dataset", luaopen_crystens_dataset},
    {"crystens.crystens", luaopen_crystens_crystens},
    {"crystens.progress", luaopen_crystens_progress},
    {"crystens.paper_core", luaopen_crystens_paper_core},
    {"crystens.picture", luaopen_crystens_picture},
    {"crystens.file", luaopen_crystens_file},
    {"crystens.interrupt", luaopen_crystens_interrupt},
    {"crystens.properties_core", luaopen_crystens_properties_core},
    {NULL, NULL}
};

void ctL_preload(lua_State *L)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    for (const luaL_Reg *m = modules; m->name; m++) {
        lua_pushcfunction(L, m->func);
        lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 1);
}
