/*
 * lua_file.c - the crystens.file module: files written from Lua (SVG,
 * HTML reports, CSV logs) go through ct_file like those written in C, so
 * a crash or kill mid-write leaves the previous file whole.
 *
 *     ct.file.write("run/loss.svg", svg)
 */
#include "ct_file.h"
#include "lua_ct.h"

static int f_write(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    ct_error err;
    int rc = ct_file_write_all(path, text, len, &err);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    lua_settop(L, 1);
    return 1;
}

static const ctL_Reg file_funcs[] = {
    {"write", f_write, "file.write(path, text) -> path. Write text to path atomically: to a "
                       "temporary file in the same folder, flushed to disk, then renamed over "
                       "path, so a crash never leaves a half-written file."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_file(lua_State *L)
{
    ctL_newlib(L, file_funcs, "crystens.file: atomic file writing (temporary file + rename).");
    return 1;
}
