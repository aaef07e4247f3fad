/*
 * repl_complete.c - tab completion in the REPL.
 *
 * Lua names: globals, fields after '.', methods after ':', found the way
 * trepl does it but in C and without calling a metamethod: tables are read
 * with rawget, and a metatable's __index is followed only when it is a table
 * (or, for classes whose __index is a function, their `methods` table).
 * Inside a string literal, file names are completed instead.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <readline/readline.h>

#include <lauxlib.h>
#include <lua.h>

#include "repl_complete.h"

static lua_State *complete_L;

static const char *const keywords[] = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
    "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
    NULL
};

typedef struct {
    char **items;
    size_t n, cap;
} match_list;

static void add_match(match_list *m, const char *prefix, size_t plen, const char *name)
{
    if (m->n + 1 >= m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        char **items = realloc(m->items, cap * sizeof *items);
        if (!items) return;
        m->items = items;
        m->cap = cap;
    }
    size_t nlen = strlen(name);
    char *s = malloc(plen + nlen + 1);
    if (!s) return;
    memcpy(s, prefix, plen);
    memcpy(s + plen, name, nlen + 1);
    m->items[m->n++] = s;
}

static int is_identifier(const char *s)
{
    if (!isalpha((unsigned char)*s) && *s != '_') return 0;
    for (s++; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_') return 0;
    return 1;
}

/* Push the table that lookups on the value at idx continue in: the value
   itself if it is a table, else (and after it) its metatable's __index table
   or `methods` table.  `hop` counts how far down the chain we are. */
static int push_index_table(lua_State *L, int idx, int hop)
{
    if (hop == 0 && lua_type(L, idx) == LUA_TTABLE) {
        lua_pushvalue(L, idx);
        return 1;
    }
    if (!lua_getmetatable(L, idx)) return 0;
    if (lua_getfield(L, -1, "__index") == LUA_TTABLE) {
        lua_remove(L, -2);
        return 1;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, -1, "methods") == LUA_TTABLE) {
        lua_remove(L, -2);
        return 1;
    }
    lua_pop(L, 2);
    return 0;
}

/* Look name up in the value at the top, raw, following __index tables;
   replace the value with the result (nil if none). */
static void raw_lookup(lua_State *L, const char *name)
{
    int obj = lua_gettop(L);
    for (int hop = 0; hop < 8; hop++) {
        if (!push_index_table(L, obj, hop)) break;
        lua_pushstring(L, name);
        if (lua_rawget(L, -2) != LUA_TNIL) {
            lua_replace(L, obj);
            lua_pop(L, 1);
            return;
        }
        lua_pop(L, 1);
        lua_replace(L, obj);   /* continue from the __index table */
    }
    lua_settop(L, obj - 1);
    lua_pushnil(L);
}

/* Collect the identifier keys of the value at the top that start with
   partial; methods_only keeps functions alone (after ':'). */
static void collect_keys(lua_State *L, match_list *m, const char *prefix, size_t plen,
                         const char *partial, int methods_only)
{
    int obj = lua_gettop(L);
    size_t n = strlen(partial);
    for (int hop = 0; hop < 8; hop++) {
        if (!push_index_table(L, obj, hop)) break;
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) == LUA_TSTRING) {
                const char *k = lua_tostring(L, -2);
                int fn = lua_type(L, -1) == LUA_TFUNCTION;
                if (strncmp(k, partial, n) == 0 && is_identifier(k) && (!methods_only || fn) &&
                    strncmp(k, "__", 2) != 0)
                    add_match(m, prefix, plen, k);
            }
            lua_pop(L, 1);
        }
        lua_replace(L, obj);
    }
    lua_settop(L, obj - 1);
}

/* Resolve the dotted path text[0..len) starting at the globals; push it. */
static int resolve_path(lua_State *L, const char *text, size_t len)
{
    lua_pushglobaltable(L);
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != '.' && text[j] != ':') j++;
        if (j == i || (j < len && text[j] == ':')) {
            lua_pop(L, 1);
            return 0;   /* "a..b", or ':' in the middle of a path */
        }
        lua_pushlstring(L, text + i, j - i);
        const char *name = lua_tostring(L, -1);
        lua_insert(L, -2);
        raw_lookup(L, name);
        lua_remove(L, -2);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            return 0;
        }
        i = j + 1;
    }
    return 1;
}

static void complete_lua(const char *text, match_list *m)
{
    lua_State *L = complete_L;
    int top = lua_gettop(L);
    const char *sep = strpbrk(text, ".:") ? text + strlen(text) : NULL;
    while (sep && sep > text && sep[-1] != '.' && sep[-1] != ':') sep--;
    if (!sep) {   /* a bare name: globals and keywords */
        lua_pushglobaltable(L);
        collect_keys(L, m, "", 0, text, 0);
        for (const char *const *k = keywords; *k; k++)
            if (strncmp(*k, text, strlen(text)) == 0) add_match(m, "", 0, *k);
    } else if (lua_checkstack(L, 20) && resolve_path(L, text, (size_t)(sep - 1 - text))) {
        collect_keys(L, m, text, (size_t)(sep - text), sep, sep[-1] == ':');
    }
    lua_settop(L, top);
}

/* Readline's generator over the matches collected for this completion. */
static match_list current;
static size_t current_next;

static char *next_match(const char *text, int state)
{
    (void)text;
    if (state == 0) current_next = 0;
    if (current_next < current.n) {
        char *s = current.items[current_next];
        current.items[current_next++] = NULL;   /* readline frees it */
        return s;
    }
    return NULL;
}

static void clear_matches(void)
{
    for (size_t i = 0; i < current.n; i++) free(current.items[i]);
    current.n = 0;
}

static char **complete(const char *text, int start, int end)
{
    (void)start;
    (void)end;
    if (rl_completion_quote_character) {   /* inside "..." or '...': file names */
        rl_attempted_completion_over = 0;
        return NULL;
    }
    rl_attempted_completion_over = 1;
    rl_completion_append_character = '\0';
    clear_matches();
    complete_lua(text, &current);
    char **r = rl_completion_matches(text, next_match);
    clear_matches();
    return r;
}

/* Word breaks inside a string literal are the quotes alone, so a whole
   path like "share/sample/x-y.csv" is one word; elsewhere Lua's operators
   and brackets break words, but '.' and ':' do not ("ct.tensor.lo"). */
static const char lua_breaks[] = " \t\n\"'`@$><=;|&{}()[],+-*/%^~#";
static const char string_breaks[] = " \t\n\"'";

static char *word_breaks(void)
{
    char quote = 0;
    for (int i = 0; i < rl_point; i++) {
        char c = rl_line_buffer[i];
        if (quote && c == '\\') i++;
        else if (quote && c == quote) quote = 0;
        else if (!quote && (c == '"' || c == '\'')) quote = c;
    }
    return (char *)(quote ? string_breaks : lua_breaks);
}

void repl_complete_init(lua_State *L)
{
    complete_L = L;
    rl_attempted_completion_function = complete;
    rl_completer_quote_characters = "\"'";
    rl_basic_word_break_characters = lua_breaks;
    rl_completion_word_break_hook = word_breaks;
}
