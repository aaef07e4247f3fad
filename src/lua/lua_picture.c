/*
 * lua_picture.c - the crystens.picture module: pictures of crystal
 * structures (ct_render.h) from Lua, and the s:save_png method of
 * Structures.
 *
 *     s:save_png("nacl.png", {size=512, yaw=-28, pitch=18})
 *     ct.picture.grid({s1, false, s3}, "grid.png", {cols=3, size=256})
 */
#include <stdio.h>
#include <string.h>

#include "ct_elements.h"
#include "ct_render.h"
#include "lua_structure.h"

/* An element as Z or symbol at idx. */
static int check_z(lua_State *L, int idx)
{
    int z;
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *sym = lua_tolstring(L, idx, &len);
        z = ct_element_z(sym, len);
    } else {
        lua_Integer i = luaL_checkinteger(L, idx);
        z = i >= 1 && i <= CT_MAX_Z ? (int)i : 0;
    }
    if (!z) luaL_argerror(L, idx, "not an element (Z 1-103 or a symbol)");
    return z;
}

static const char *const save_keys[] = {"size", "yaw", "pitch", "radius_scale", "images",
                                        "legend", "title", NULL};
static const char *const grid_keys[] = {"size", "yaw", "pitch", "radius_scale", "images",
                                        "legend", "cols", "titles", NULL};

/* Read the options into o (the title stays NULL here); size defaults to
   def_size pixels. */
static void read_opts(ctL_Opts *opt, ct_render_opts *o, int def_size)
{
    ct_render_defaults(o);
    lua_Number size = ctL_opt_number(opt, "size", def_size ? def_size : o->size);
    if (!(size >= 16 && size <= 4096))
        ctL_opt_error(opt, "size", "must be 16 to 4096 pixels, not %f", size);
    o->size = (int)size;
    o->yaw = ctL_opt_number(opt, "yaw", o->yaw);
    o->pitch = ctL_opt_number(opt, "pitch", o->pitch);
    o->radius_scale = ctL_opt_number(opt, "radius_scale", o->radius_scale);
    o->images = ctL_opt_boolean(opt, "images", o->images);
    o->legend = ctL_opt_boolean(opt, "legend", o->legend);
    ct_error err;
    int rc = ct_render_check(o, &err);
    if (rc != CT_OK) ctL_argraise(opt->L, opt->idx, &err, rc);
}

/* The title of s: option title if a string, none if false, else the
   formula (written into buf). */
static const char *title_of(ctL_Opts *opt, const ct_structure *s, char *buf, size_t n)
{
    int t = ctL_opt_push(opt, "title", LUA_TNONE);
    int off = t == LUA_TBOOLEAN && !lua_toboolean(opt->L, -1);
    const char *v = t == LUA_TSTRING ? lua_tostring(opt->L, -1) : NULL;
    lua_pop(opt->L, 1);   /* a string stays alive in the options table */
    if (t != LUA_TNIL && t != LUA_TSTRING && !off) ctL_opt_typeerror(opt, "title", "string or false");
    if (off) return NULL;
    return v ? v : ct_structure_formula(s, buf, n);
}

static int p_save(lua_State *L)
{
    const ct_structure *s = ctL_checkstructure(L, 1);
    const char *path = luaL_checkstring(L, 2);
    ctL_Opts opt;
    ctL_optoptions(L, &opt, 3, "ct.picture.save", save_keys);
    ct_render_opts o;
    read_opts(&opt, &o, 0);
    char buf[256];
    o.title = title_of(&opt, s, buf, sizeof buf);
    ct_error err;
    int rc = ct_render_png(s, path, &o, &err);
    return ctL_returnself(L, rc, &err, 0);
}

/* The title of grid tile i (1-based): titles[i], none, or the formula. */
static const char *tile_title(lua_State *L, int titles, lua_Integer i, const ct_structure *s,
                              char *buf, size_t n)
{
    if (titles) {
        lua_geti(L, titles, i);
        const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (!v && !lua_isnoneornil(L, -1) && lua_toboolean(L, -1))
            luaL_argerror(L, 3, lua_pushfstring(L, "titles[%I] must be a string", i));
        lua_pop(L, 1);   /* alive in the titles table */
        return v;
    }
    return s ? ct_structure_formula(s, buf, n) : NULL;
}

static int p_grid(lua_State *L)
{
    lua_settop(L, 3);   /* the list below goes on top of the arguments */
    size_t n;
    /* false entries draw an empty 'failed' tile */
    ct_structure **s = ctL_checkstructures(L, 1, &n, NULL, 1);
    const char *path = luaL_checkstring(L, 2);
    ctL_Opts opt;
    ctL_optoptions(L, &opt, 3, "ct.picture.grid", grid_keys);
    ct_render_opts o;
    read_opts(&opt, &o, 256);
    lua_Integer cols = ctL_opt_range(&opt, "cols", 0, 0, 1000);   /* 0: about square */
    int titles = 0, notitles = 0;
    int t = ctL_opt_push(&opt, "titles", LUA_TNONE);
    if (t == LUA_TTABLE) titles = lua_gettop(L);
    else if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) notitles = 1;
    else if (t != LUA_TNIL) ctL_opt_typeerror(&opt, "titles", "table or false");
    luaL_argcheck(L, n >= 1 && n <= 100000, 1, "expected a list of 1 to 100000 structures");
    const char **names = lua_newuserdatauv(L, n * sizeof *names, 0);
    char (*bufs)[128] = lua_newuserdatauv(L, n * sizeof *bufs, 0);
    for (size_t i = 1; i <= n; i++)
        names[i - 1] = notitles ? NULL : tile_title(L, titles, (lua_Integer)i, s[i - 1], bufs[i - 1],
                                                    sizeof bufs[0]);
    ct_error err;
    int rc = ct_render_grid_png((const ct_structure *const *)s, (int)n, (int)cols, names, path, &o, &err);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    lua_pushstring(L, path);
    return 1;
}

static int p_color(lua_State *L)
{
    unsigned char c[3];
    ct_render_color(check_z(L, 1), c);
    char hex[8];
    snprintf(hex, sizeof hex, "#%02X%02X%02X", c[0], c[1], c[2]);
    lua_pushstring(L, hex);
    for (int k = 0; k < 3; k++) lua_pushinteger(L, c[k]);
    return 4;
}

static int p_radius(lua_State *L)
{
    lua_pushnumber(L, ct_render_radius(check_z(L, 1)));
    return 1;
}

#define OPTS_DOC "Options: size=512 (pixels, 16-4096), yaw=-28 and pitch=18 (degrees: " \
    "turn about the vertical (Cartesian z) axis, then tip towards the viewer), " \
    "radius_scale=0.5 (× the element radius), images=true (repeat atoms on " \
    "faces/edges/corners at their periodic images), legend=true (the a, b, c axes and " \
    "the element colours at the bottom), title=formula (false for none)."

static const ctL_Reg picture_funcs[] = {
    {"save", p_save, "picture.save(s, path, [opts]) -> s. The same as s:save_png."},
    {"grid", p_grid, "picture.grid({s1, s2, false, ...} | dataset, path, [{cols=, size=256, "
                     "titles=}]) "
                     "-> path. Pictures of many structures as one PNG grid, tiles size pixels "
                     "square, cols columns (default about square); false entries draw an empty "
                     "'failed' tile. titles: a list of strings (default each formula; false "
                     "for none). The other options are s:save_png's. Tiles draw on all cores."},
    {"color", p_color, "picture.color(Z | symbol) -> '#RRGGBB', r, g, b. The element's "
                       "colour in pictures (Jmol's CPK colours)."},
    {"radius", p_radius, "picture.radius(Z | symbol) -> number. The element's radius in Å "
                         "in pictures before radius_scale: the atomic radius, 0.75 × the van "
                         "der Waals radius where that is unknown, else 1.5."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_picture(lua_State *L)
{
    static const ctL_Reg png[] = {
        {"save_png", p_save, "s:save_png(path, [opts]) -> s. A PNG picture of the unit "
                             "cell: atoms as shaded balls in element colours, painted "
                             "back to front with depth fading, the cell edges, a title, "
                             "the crystal axes and an element legend. " OPTS_DOC},
        {NULL, NULL, NULL}
    };
    ctL_structure_register(L);
    ctL_addmethods(L, CTL_STRUCTURE, png);   /* s:save_png joins the Structure methods */
    ctL_newlib(L, picture_funcs, "crystens.picture: pictures of crystal structures without "
               "an external viewer (s:save_png, grids of them), and the element colours and "
               "radii they use. " OPTS_DOC);
    return 1;
}
