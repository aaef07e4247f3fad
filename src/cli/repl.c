/*
 * repl.c - the read-eval-print loop: GNU Readline, lua.c's rules for
 * incomplete chunks and for printing expressions, a history file.
 *
 * A line is first tried as `return <line>` (so an expression prints its
 * values; `=expr` works too), then as a statement; a syntax error that ends
 * at <eof> means "incomplete" and another line is read with the continuation
 * prompt.  Ctrl-C at either prompt drops the partial input.  The first value
 * an expression gives (when not nil) is kept in the global _, as Python's
 * prompt does.  quit and exit say how to leave; quit() and exit() leave.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>

#include <readline/history.h>
#include <readline/readline.h>

#include <lauxlib.h>
#include <lua.h>

#include "repl.h"
#include "repl_complete.h"
#include "run.h"

#define PROMPT "crystens> "
#define PROMPT2 "       >> "
#define HISTORY_MAX 1000
#define EOFMARK "<eof>"

static char *history_path;
static volatile sig_atomic_t prompt_interrupted;
static int quit_requested;   /* quit() or exit() was called: end the loop */

/* ---- history ------------------------------------------------------------ */

/* Choose the history file: $CRYSTENS_HISTORY, else
   $XDG_STATE_HOME/crystens/history, else ~/.crystens_history. */
static char *choose_history_path(void)
{
    const char *env = getenv("CRYSTENS_HISTORY");
    if (env && *env) return strdup(env);
    const char *state = getenv("XDG_STATE_HOME");
    char buf[4096];
    if (state && *state) {
        snprintf(buf, sizeof buf, "%s/crystens", state);
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) return NULL;
        snprintf(buf, sizeof buf, "%s/crystens/history", state);
        return strdup(buf);
    }
    const char *home = getenv("HOME");
    if (!home || !*home) return NULL;
    snprintf(buf, sizeof buf, "%s/.crystens_history", home);
    return strdup(buf);
}

static void history_init(void)
{
    using_history();
    stifle_history(HISTORY_MAX);
    /* A timestamp line before each entry lets a multi-line chunk come back
       from the file as one entry, as bash's lithist does. */
    history_comment_char = '#';
    history_write_timestamps = 1;
    history_multiline_entries = 1;
    history_path = choose_history_path();
    if (history_path) read_history(history_path);
}

/* Add a chunk to the history unless it repeats the last entry, and append
   it to the file at once, so a crash loses nothing. */
static void history_add(const char *chunk)
{
    if (!*chunk) return;
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && strcmp(last->line, chunk) == 0) return;
    add_history(chunk);
    if (!history_path) return;
    FILE *f = fopen(history_path, "a");   /* append_history needs the file to exist */
    if (f) fclose(f);
    append_history(1, history_path);
    history_truncate_file(history_path, HISTORY_MAX);
}

/* ---- reading lines --------------------------------------------------------
 * Readline's callback interface, as CPython uses it: we wait for input with
 * select(), so a Ctrl-C at the prompt interrupts the wait (our handler is
 * installed without SA_RESTART) and we can drop the line cleanly, without
 * readline swallowing the next keys.                                      */

static char *cb_line;
static int cb_done;

static void on_prompt_sigint(int sig)
{
    (void)sig;
    prompt_interrupted = 1;
}

static void on_line(char *line)
{
    cb_line = line;
    cb_done = 1;
    rl_callback_handler_remove();
}

/* Read a line with the prompt; NULL at end of input.  *interrupted is set
   when Ctrl-C ended the read (and the line is dropped). */
static char *read_line(const char *prompt, int *interrupted)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prompt_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    prompt_interrupted = 0;
    cb_done = 0;
    cb_line = NULL;
    *interrupted = 0;
    int fd = fileno(rl_instream ? rl_instream : stdin);
    rl_callback_handler_install(prompt, on_line);
    while (!cb_done) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        int r = select(fd + 1, &fds, NULL, NULL, NULL);
        if (prompt_interrupted) {
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_callback_handler_remove();
            fputc('\n', stdout);
            fflush(stdout);
            *interrupted = 1;
            break;
        }
        if (r < 0 && errno != EINTR) {
            rl_callback_handler_remove();
            break;   /* the terminal went away: treat as end of input */
        }
        if (r > 0) rl_callback_read_char();
    }
    sigaction(SIGINT, &old, NULL);
    return cb_line;
}

/* ---- reading a chunk ---------------------------------------------------- */

static int incomplete(lua_State *L, int status)
{
    if (status != LUA_ERRSYNTAX) return 0;
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    size_t lmark = sizeof(EOFMARK) - 1;
    if (lmsg >= lmark && strcmp(msg + lmsg - lmark, EOFMARK) == 0) {
        lua_pop(L, 1);
        return 1;
    }
    return 0;
}

/* Try the buffer as `return <buffer>`; on success leave the function. */
static int try_expression(lua_State *L, const char *buf)
{
    const char *code = lua_pushfstring(L, "return %s;", buf);
    int status = luaL_loadbuffer(L, code, strlen(code), "=stdin");
    lua_remove(L, -2);
    if (status != LUA_OK) lua_pop(L, 1);
    return status;
}

typedef enum { CHUNK_OK, CHUNK_ERROR, CHUNK_DROPPED, CHUNK_EOF } chunk_result;

/* Read lines until they form a complete chunk; leave its function (or the
   syntax error message) on the stack. */
static chunk_result read_chunk(lua_State *L)
{
    int intr;
    char *line = read_line(PROMPT, &intr);
    if (intr) return CHUNK_DROPPED;
    if (!line) return CHUNK_EOF;
    const char *first = line[0] == '=' ? line + 1 : line;   /* '=expr' as in Lua 5.1 */
    if (try_expression(L, first) == LUA_OK) {
        history_add(line);
        free(line);
        return CHUNK_OK;
    }
    lua_pushstring(L, line);
    free(line);
    for (;;) {
        size_t len;
        const char *buf = lua_tolstring(L, -1, &len);
        int status = luaL_loadbuffer(L, buf, len, "=stdin");
        if (!incomplete(L, status)) {
            history_add(lua_tostring(L, -2));
            lua_remove(L, -2);
            return status == LUA_OK ? CHUNK_OK : CHUNK_ERROR;
        }
        line = read_line(PROMPT2, &intr);
        if (!line || intr) {   /* Ctrl-C or Ctrl-D drops the partial chunk */
            if (!intr) fputc('\n', stdout);
            free(line);
            lua_pop(L, 1);
            return CHUNK_DROPPED;
        }
        lua_pushfstring(L, "%s\n%s", lua_tostring(L, -1), line);
        lua_remove(L, -2);   /* the chunk so far, now extended */
        free(line);
    }
}

/* ---- printing results --------------------------------------------------- */

/* Print the n values on top of the stack with crystens.pretty, or with
   the global print if that module cannot be loaded or has no print. */
static void print_results(lua_State *L, int n)
{
    if (n == 0) return;
    luaL_checkstack(L, 3, "too many results to print");
    int top = lua_gettop(L);   /* the results end here, whatever fails below */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "crystens.pretty");
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1) &&
        lua_getfield(L, -1, "print") == LUA_TFUNCTION) {
        lua_remove(L, -2);
    } else {
        lua_settop(L, top);
        lua_getglobal(L, "print");
    }
    lua_insert(L, -(n + 1));
    report_error(L, run_chunk(L, n, 0));
}

/* ---- quit and exit ------------------------------------------------------ */

static int quit_call(lua_State *L)
{
    (void)L;
    quit_requested = 1;
    return 0;
}

static int quit_tostring(lua_State *L)
{
    lua_pushliteral(L, "quit() or exit() leaves crystens, as Ctrl-D does");
    return 1;
}

/* Set the globals quit and exit to one callable object that says how to
   leave when shown (a user typing `quit` gets that, not nil). */
static void quit_init(lua_State *L)
{
    lua_newtable(L);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, quit_call);
    lua_setfield(L, -2, "__call");
    lua_pushcfunction(L, quit_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "quit");
    lua_setglobal(L, "exit");
}

int repl_run(lua_State *L)
{
    rl_readline_name = "crystens";
    history_init();
    repl_complete_init(L);
    quit_init(L);
    while (!quit_requested) {
        int top = lua_gettop(L);
        chunk_result r = read_chunk(L);
        if (r == CHUNK_EOF) break;
        if (r == CHUNK_DROPPED) continue;
        int status = r == CHUNK_OK ? run_chunk(L, 0, LUA_MULTRET) : LUA_ERRSYNTAX;
        if (status == LUA_OK) {
            int n = lua_gettop(L) - top;
            if (n > 0 && !lua_isnil(L, top + 1)) {
                lua_pushvalue(L, top + 1);
                lua_setglobal(L, "_");
            }
            print_results(L, n);
        } else {
            report_error(L, status);
        }
        lua_settop(L, top);
    }
    fputc('\n', stdout);
    free(history_path);
    history_path = NULL;
    rl_clear_history();
    return EXIT_SUCCESS;
}
