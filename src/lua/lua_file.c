/*
 * lua_file.c - the crystens.file module: files written from Lua (SVG,
 * HTML reports, CSV logs) go through ct_file like those written in C, so
 * a crash or kill mid-write leaves the previous file whole.
 *
 *     ct.file.write("run/loss.svg", svg)
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "ct_file.h"
#include "lua_ct.h"

static int f_write(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    ct_error err;
    int rc = ct_file_write_all(path, text, len, &err);
    return ctL_returnself(L, rc, &err, 0);
}

/* mkdir -p: each prefix of path in turn; an existing folder is fine. */
static int f_mkdirs(lua_State *L)
{
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, len > 0 && len < 4096, 1, "a folder path expected");
    char buf[4096];
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0') continue;
        *p = '\0';
        struct stat st;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return luaL_error(L, "cannot create folder %s: %s", buf, strerror(errno));
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
            return luaL_error(L, "cannot create folder %s: a file is in the way", buf);
        *p = c;
        if (c == '\0') break;
    }
    lua_settop(L, 1);
    return 1;
}

static const ctL_Reg file_funcs[] = {
    {"mkdirs", f_mkdirs, "file.mkdirs(path) -> path. Create the folder path and any missing "
                         "parents (mkdir -p); an existing folder is fine."},
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
