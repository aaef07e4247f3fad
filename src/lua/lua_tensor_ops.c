/*
 * lua_tensor_ops.c - the arithmetic half of crystens.tensor: element-wise
 * ops, reductions, joins and random fills, so users can script losses and
 * noise schedules without per-element Lua loops.
 *
 * Ops without a trailing underscore return a new tensor (t:add(u)); those
 * with one work in place and return t (t:add_(u)).  An operand may be a
 * number or a tensor that broadcasts to t's shape (NumPy's rule).
 *
 * Random draws come from an Rng (lua_rng.c) or, when none is given, from
 * the shared default generator.
 */
#include <math.h>
#include <string.h>

#include "ct_tensor_ops.h"
#include "lua_ct.h"

#define checktensor(L, i) ctL_checkanytensor(L, i)

/* ---- Element-wise ops --------------------------------------------------------- */

/* Raise err for the method's tensor argument. */
static int op_error(lua_State *L, int rc, const ct_error *err)
{
    return ctL_argraise(L, 2, err, rc);
}

/* out = a op b, where b is a number or a tensor; inplace writes into a. */
static int binop(lua_State *L, ct_binop op, int inplace)
{
    ct_tensor *a = checktensor(L, 1), *out = a;
    ct_error err;
    int rc;
    if (!inplace) {
        out = ct_tensor_empty_on(a->device, a->ndim, a->shape, &err);
        ctL_pushtensor(L, out, &err);
    }
    if (lua_type(L, 2) == LUA_TNUMBER)
        rc = ct_tensor_scalar(out, a, (float)lua_tonumber(L, 2), op, 0, &err);
    else
        rc = ct_tensor_binary(out, a, checktensor(L, 2), op, &err);
    if (rc != CT_OK) return op_error(L, rc, &err);
    if (inplace) lua_settop(L, 1);
    return 1;
}

static int m_add(lua_State *L) { return binop(L, CT_OP_ADD, 0); }
static int m_sub(lua_State *L) { return binop(L, CT_OP_SUB, 0); }
static int m_mul(lua_State *L) { return binop(L, CT_OP_MUL, 0); }
static int m_div(lua_State *L) { return binop(L, CT_OP_DIV, 0); }
static int m_pow(lua_State *L) { return binop(L, CT_OP_POW, 0); }
static int m_maximum(lua_State *L) { return binop(L, CT_OP_MAX, 0); }
static int m_minimum(lua_State *L) { return binop(L, CT_OP_MIN, 0); }
static int m_add_(lua_State *L) { return binop(L, CT_OP_ADD, 1); }
static int m_sub_(lua_State *L) { return binop(L, CT_OP_SUB, 1); }
static int m_mul_(lua_State *L) { return binop(L, CT_OP_MUL, 1); }
static int m_div_(lua_State *L) { return binop(L, CT_OP_DIV, 1); }

/* Metamethods: either side may be a number (2 - t computes 2 - t). */
static int arith(lua_State *L, ct_binop op)
{
    if (lua_type(L, 1) != LUA_TNUMBER) return binop(L, op, 0);
    ct_tensor *a = checktensor(L, 2);
    ct_error err;
    ct_tensor *out = ct_tensor_empty_on(a->device, a->ndim, a->shape, &err);
    ctL_pushtensor(L, out, &err);
    ct_tensor_scalar(out, a, (float)lua_tonumber(L, 1), op, 1, &err);
    return 1;
}

static int mm_add(lua_State *L) { return arith(L, CT_OP_ADD); }
static int mm_sub(lua_State *L) { return arith(L, CT_OP_SUB); }
static int mm_mul(lua_State *L) { return arith(L, CT_OP_MUL); }
static int mm_div(lua_State *L) { return arith(L, CT_OP_DIV); }
static int mm_pow(lua_State *L) { return arith(L, CT_OP_POW); }

static int unop(lua_State *L, ct_unop op)
{
    ct_tensor *a = checktensor(L, 1);
    ct_error err;
    ct_tensor *out = ct_tensor_empty_on(a->device, a->ndim, a->shape, &err);
    ctL_pushtensor(L, out, &err);
    ct_tensor_unary(out, a, op, &err);
    return 1;
}

static int m_neg(lua_State *L) { return unop(L, CT_OP_NEG); }
static int m_abs(lua_State *L) { return unop(L, CT_OP_ABS); }
static int m_sqrt(lua_State *L) { return unop(L, CT_OP_SQRT); }
static int m_exp(lua_State *L) { return unop(L, CT_OP_EXP); }
static int m_log(lua_State *L) { return unop(L, CT_OP_LOG); }
static int m_square(lua_State *L) { return unop(L, CT_OP_SQUARE); }
static int m_sign(lua_State *L) { return unop(L, CT_OP_SIGN); }
static int m_tanh(lua_State *L) { return unop(L, CT_OP_TANH); }
static int m_sigmoid(lua_State *L) { return unop(L, CT_OP_SIGMOID); }

static int m_clamp(lua_State *L)
{
    ct_tensor *a = checktensor(L, 1);
    float lo = (float)luaL_optnumber(L, 2, -HUGE_VAL), hi = (float)luaL_optnumber(L, 3, HUGE_VAL);
    luaL_argcheck(L, lo <= hi, 3, "upper bound below the lower one");
    ct_error err;
    ct_tensor *out = ct_tensor_empty_on(a->device, a->ndim, a->shape, &err);
    ctL_pushtensor(L, out, &err);
    ct_tensor_clamp(out, a, lo, hi, &err);
    return 1;
}

static int m_fill(lua_State *L)
{
    ct_tensor_fill(checktensor(L, 1), (float)luaL_checknumber(L, 2));
    lua_settop(L, 1);
    return 1;
}

static int m_copy(lua_State *L)
{
    ct_tensor *dst = checktensor(L, 1);
    ct_error err;
    int rc = ct_tensor_copy(dst, checktensor(L, 2), &err);
    return ctL_returnself(L, rc, &err, 2);
}

static int m_sum(lua_State *L)
{
    lua_pushnumber(L, ct_tensor_sum(checktensor(L, 1)));
    return 1;
}

static int m_mean(lua_State *L)
{
    ct_tensor *t = checktensor(L, 1);
    lua_pushnumber(L, t->numel ? ct_tensor_sum(t) / (double)t->numel : (double)NAN);
    return 1;
}

static int m_dot(lua_State *L)
{
    ct_tensor *a = checktensor(L, 1), *b = checktensor(L, 2);
    luaL_argcheck(L, a->numel == b->numel, 2, "tensors differ in number of elements");
    lua_pushnumber(L, ct_tensor_dot(a, b));
    return 1;
}

static int m_norm(lua_State *L)
{
    ct_tensor *a = checktensor(L, 1);
    lua_pushnumber(L, sqrt(ct_tensor_dot(a, a)));
    return 1;
}

static int m_sum_to(lua_State *L)
{
    ct_tensor *a = checktensor(L, 1);
    int64_t shape[CT_MAXDIM];
    int nd = ctL_checkshape(L, 2, shape);
    ct_error err;
    ct_tensor *out = ct_tensor_new_on(a->device, nd, shape, &err);
    ctL_pushtensor(L, out, &err);
    int rc = ct_tensor_sum_to(out, a, &err);
    if (rc != CT_OK) return ctL_argraise(L, 2, &err, rc);
    return 1;
}

static int m_slice(lua_State *L)
{
    ct_tensor *a = checktensor(L, 1);
    lua_Integer dim = luaL_checkinteger(L, 2), start = luaL_checkinteger(L, 3),
                len = luaL_checkinteger(L, 4);
    ct_error err;
    ct_tensor *s = ct_tensor_slice(a, (int)dim - 1, start - 1, len, &err);
    if (!s) return ctL_argraise(L, 2, &err, CT_EINVAL);
    ctL_pushtensor(L, s, &err);
    return 1;
}

static int m_matmul(lua_State *L)
{
    ct_error err;
    ct_tensor *c = ct_tensor_matmul(checktensor(L, 1), checktensor(L, 2), &err);
    if (!c) return ctL_argraise(L, 2, &err, CT_EINVAL);
    ctL_pushtensor(L, c, &err);
    return 1;
}

static int m_same_storage(lua_State *L)
{
    lua_pushboolean(L, checktensor(L, 1)->storage == checktensor(L, 2)->storage);
    return 1;
}

/* A random fill of ct_tensor_ops.h: ct_tensor_randn (mean, std) or
   ct_tensor_rand (lo, hi). */
typedef void (*random_fill)(ct_tensor *t, ct_rng *r, float a, float b);

/* t:randn_/t:rand_([a, b, rng]) -> t, with a, b 0 and 1 by default. */
static int fill_(lua_State *L, random_fill fill)
{
    ct_tensor *t = checktensor(L, 1);
    float a = (float)luaL_optnumber(L, 2, 0), b = (float)luaL_optnumber(L, 3, 1);
    fill(t, ctL_optrng(L, 4), a, b);
    lua_settop(L, 1);
    return 1;
}

static int m_randn_(lua_State *L) { return fill_(L, ct_tensor_randn); }
static int m_rand_(lua_State *L) { return fill_(L, ct_tensor_rand); }

/* ---- Constructors ------------------------------------------------------------- */

static ct_tensor *new_of_shape(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int64_t shape[CT_MAXDIM];
    int nd = ctL_checkshape(L, 1, shape);
    ct_error err;
    ct_tensor *t = ct_tensor_empty(nd, shape, &err);
    ctL_pushtensor(L, t, &err);
    return t;
}

static int t_randn(lua_State *L)
{
    ct_tensor_randn(new_of_shape(L), ctL_optrng(L, 2), 0, 1);
    return 1;
}

static int t_rand(lua_State *L)
{
    ct_tensor_rand(new_of_shape(L), ctL_optrng(L, 2), 0, 1);
    return 1;
}

static int t_full(lua_State *L)
{
    float v = (float)luaL_checknumber(L, 2);
    ct_tensor_fill(new_of_shape(L), v);
    return 1;
}

static int t_cat(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer dim = luaL_optinteger(L, 2, 1);
    int n = (int)luaL_len(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 64, 1, "expected a list of 1 to 64 tensors");
    const ct_tensor *ts[64];
    for (int i = 0; i < n; i++) {
        lua_geti(L, 1, i + 1);
        ts[i] = ctL_toanytensor(L, -1);
        if (!ts[i]) return luaL_argerror(L, 1, lua_pushfstring(L, "item %d is not a tensor", i + 1));
        lua_pop(L, 1);   /* the list keeps it alive */
    }
    ct_error err;
    ct_tensor *c = ct_tensor_cat(ts, n, (int)dim - 1, &err);
    if (!c) return ctL_argraise(L, 1, &err, CT_EINVAL);
    ctL_pushtensor(L, c, &err);
    return 1;
}

static const ctL_Reg ops_methods[] = {
    {"add", m_add, "t:add(u) -> Tensor. t + u; u is a number or a tensor broadcast to t's shape."},
    {"sub", m_sub, "t:sub(u) -> Tensor. t - u (u a number or a broadcast tensor)."},
    {"mul", m_mul, "t:mul(u) -> Tensor. t * u element-wise (u a number or a broadcast tensor)."},
    {"div", m_div, "t:div(u) -> Tensor. t / u element-wise (u a number or a broadcast tensor)."},
    {"pow", m_pow, "t:pow(u) -> Tensor. t ^ u element-wise."},
    {"maximum", m_maximum, "t:maximum(u) -> Tensor. The element-wise larger of t and u."},
    {"minimum", m_minimum, "t:minimum(u) -> Tensor. The element-wise smaller of t and u."},
    {"add_", m_add_, "t:add_(u) -> t. t += u in place (u a number or a broadcast tensor)."},
    {"sub_", m_sub_, "t:sub_(u) -> t. t -= u in place."},
    {"mul_", m_mul_, "t:mul_(u) -> t. t *= u in place."},
    {"div_", m_div_, "t:div_(u) -> t. t /= u in place."},
    {"neg", m_neg, "t:neg() -> Tensor. -t."},
    {"abs", m_abs, "t:abs() -> Tensor. |t| element-wise."},
    {"sqrt", m_sqrt, "t:sqrt() -> Tensor. The element-wise square root."},
    {"exp", m_exp, "t:exp() -> Tensor. e^t element-wise."},
    {"log", m_log, "t:log() -> Tensor. The element-wise natural logarithm."},
    {"square", m_square, "t:square() -> Tensor. t² element-wise."},
    {"sign", m_sign, "t:sign() -> Tensor. -1, 0 or 1 per element."},
    {"tanh", m_tanh, "t:tanh() -> Tensor. tanh element-wise."},
    {"sigmoid", m_sigmoid, "t:sigmoid() -> Tensor. 1/(1+e^-t) element-wise."},
    {"clamp", m_clamp, "t:clamp(lo, hi) -> Tensor. Each element limited to [lo, hi]; either bound may be nil."},
    {"fill", m_fill, "t:fill(v) -> t. Set every element to v."},
    {"copy", m_copy, "t:copy(u) -> t. Copy u's elements (as many as t has) into t."},
    {"sum", m_sum, "t:sum() -> number. The sum of the elements (accumulated in double)."},
    {"mean", m_mean, "t:mean() -> number. The mean of the elements."},
    {"dot", m_dot, "t:dot(u) -> number. The sum of t[i]·u[i] over all elements."},
    {"norm", m_norm, "t:norm() -> number. The L2 norm of all elements."},
    {"sum_to", m_sum_to, "t:sum_to(shape) -> Tensor. Sum t down to a shape that broadcasts to "
                         "t's (sizes 1 or missing leading dimensions are summed over)."},
    {"slice", m_slice, "t:slice(dim, start, len) -> Tensor. A copy of indices start..start+len-1 "
                       "along dimension dim (all 1-based)."},
    {"matmul", m_matmul, "a:matmul(b) -> Tensor. The product of 2-D tensors m×k and k×n."},
    {"same_storage", m_same_storage, "t:same_storage(u) -> boolean. Whether t and u share bytes "
                                     "(one is a view of the other)."},
    {"randn_", m_randn_, "t:randn_([mean, std, rng]) -> t. Fill with normal draws."},
    {"rand_", m_rand_, "t:rand_([lo, hi, rng]) -> t. Fill with uniform draws in [lo, hi)."},
    {NULL, NULL, NULL}
};

static const luaL_Reg ops_meta[] = {
    {"__add", mm_add}, {"__sub", mm_sub}, {"__mul", mm_mul}, {"__div", mm_div},
    {"__pow", mm_pow}, {"__unm", m_neg}, {NULL, NULL}
};

static const ctL_Reg ops_funcs[] = {
    {"randn", t_randn, "tensor.randn(shape, [rng]) -> Tensor. Standard normal draws."},
    {"rand", t_rand, "tensor.rand(shape, [rng]) -> Tensor. Uniform draws in [0, 1)."},
    {"full", t_full, "tensor.full(shape, v) -> Tensor. A tensor with every element v."},
    {"cat", t_cat, "tensor.cat({t1, t2, ...}, [dim]) -> Tensor. Join tensors along dimension dim "
                   "(1-based, default 1); the other sizes must agree."},
    {NULL, NULL, NULL}
};

void ctL_tensor_ops_open(lua_State *L, int lib)
{
    luaL_getmetatable(L, CTL_TENSOR);
    luaL_setfuncs(L, ops_meta, 0);
    lua_pop(L, 1);
    ctL_addmethods(L, CTL_TENSOR, ops_methods);
    ctL_addfuncs(L, lib, ops_funcs);
}
