/*
 * ct_orderparams.c - the motif order parameters of pymatgen's
 * LocalStructOrderParams.get_order_parameters, one type at a time.
 *
 * pymatgen puts each neighbour j at the North pole, takes each other
 * neighbour k to fix the prime meridian, and scores the polar angle θ_k and,
 * for each third neighbour m, θ_m and the azimuth φ between the planes
 * (j, k) and (j, m).  The angles are shared by all motifs of one CN, so they
 * are computed once (struct geometry) and each motif only scores them.
 */
#include <math.h>
#include <string.h>

#include "ct_orderparams.h"

#define N CT_OP_MAX_CN
/* pymatgen's thresholds: a Gram–Schmidt remainder shorter than this means
   the two neighbours are collinear with the centre. */
#define VERY_SMALL 1e-12

#define Q135 2.356194490192345   /* min_SPP of most motifs: 3π/4 */

const ct_op_motif ct_op_motifs[CT_OP_NMOTIFS] = {
    {.cn = 1, .name = "sgl_bd", .type = CT_OP_SGL_BD},
    {.cn = 2, .name = "L-shaped", .type = CT_OP_BENT, .TA = 0.5, .IGW_TA = 15.15},
    {.cn = 2, .name = "water-like", .type = CT_OP_BENT, .TA = 0.5802777777777778,
     .IGW_TA = 13.95},
    {.cn = 2, .name = "bent 120 degrees", .type = CT_OP_BENT, .TA = 0.666666666667,
     .IGW_TA = 13.25},
    {.cn = 2, .name = "bent 150 degrees", .type = CT_OP_BENT, .TA = 0.833333333333333,
     .IGW_TA = 12.45},
    {.cn = 2, .name = "linear", .type = CT_OP_BENT, .TA = 1, .IGW_TA = 8.667},
    {.cn = 3, .name = "trigonal planar", .type = CT_OP_TRI_PLAN_MAX, .TA = 0.66666666667,
     .IGW_TA = 17.5, .fac_AA = 1, .exp_cos_AA = 2},
    {.cn = 3, .name = "trigonal non-coplanar", .type = CT_OP_TET_MAX, .TA = 0.6081734479693927,
     .IGW_TA = 18.33, .fac_AA = 1.5, .exp_cos_AA = 2},
    {.cn = 3, .name = "T-shaped", .type = CT_OP_T, .IGW_EP = 15.5, .fac_AA = 1, .exp_cos_AA = 2},
    {.cn = 4, .name = "square co-planar", .type = CT_OP_SQ_PLAN_MAX, .min_SPP = Q135,
     .IGW_SPP = 13.5, .IGW_EP = 17.7, .w_SPP = 1, .fac_AA = 1, .exp_cos_AA = 2},
    {.cn = 4, .name = "tetrahedral", .type = CT_OP_TET_MAX, .TA = 0.6081734479693927,
     .IGW_TA = 18.5, .fac_AA = 1.5, .exp_cos_AA = 2},
    {.cn = 4, .name = "rectangular see-saw-like", .type = CT_OP_SEE_SAW_RECT, .min_SPP = Q135,
     .IGW_SPP = 11.5, .IGW_EP = 27, .fac_AA = 2, .exp_cos_AA = 2},
    {.cn = 4, .name = "see-saw-like", .type = CT_OP_TRI_BIPYR, .min_SPP = Q135, .IGW_EP = 15.75,
     .IGW_SPP = 12.75, .fac_AA = 1.5, .exp_cos_AA = 2, .w_SPP = 1},
    {.cn = 4, .name = "trigonal pyramidal", .type = CT_OP_TRI_PYR, .IGW_EP = 15.5, .fac_AA = 1.5,
     .exp_cos_AA = 2},
    {.cn = 5, .name = "pentagonal planar", .type = CT_OP_PENT_PLAN_MAX, .TA = 0.6,
     .IGW_TA = 19.333},
    {.cn = 5, .name = "square pyramidal", .type = CT_OP_SQ_PYR, .IGW_EP = 14.9, .fac_AA = 2,
     .exp_cos_AA = 2},
    {.cn = 5, .name = "trigonal bipyramidal", .type = CT_OP_TRI_BIPYR, .min_SPP = Q135,
     .IGW_SPP = 12, .IGW_EP = 16.6, .fac_AA = 1.5, .exp_cos_AA = 2, .w_SPP = 1},
    {.cn = 6, .name = "hexagonal planar", .type = CT_OP_HEX_PLAN_MAX,
     .min_SPP = 2.6179938779914944, .IGW_SPP = 7.5, .w_SPP = 1, .fac_AA = 1, .exp_cos_AA = 2,
     .IGW_TA = 25, .TA = 0.16666667},
    {.cn = 6, .name = "octahedral", .type = CT_OP_OCT_MAX, .min_SPP = Q135, .IGW_SPP = 15,
     .IGW_EP = 18, .w_SPP = 1, .fac_AA = 2, .exp_cos_AA = 2},
    {.cn = 6, .name = "pentagonal pyramidal", .type = CT_OP_PENT_PYR, .IGW_EP = 13.8,
     .fac_AA = 2.5, .exp_cos_AA = 2},
    {.cn = 7, .name = "hexagonal pyramidal", .type = CT_OP_HEX_PYR, .IGW_EP = 12.5, .fac_AA = 3,
     .exp_cos_AA = 2},
    {.cn = 7, .name = "pentagonal bipyramidal", .type = CT_OP_PENT_BIPYR, .min_SPP = Q135,
     .IGW_SPP = 12.5, .IGW_EP = 14.75, .fac_AA = 2.5, .exp_cos_AA = 2, .w_SPP = 1},
    {.cn = 8, .name = "body-centered cubic", .type = CT_OP_BCC, .min_SPP = 2.5261129449194057,
     .IGW_SPP = 15, .w_SPP = 6},
    {.cn = 8, .name = "hexagonal bipyramidal", .type = CT_OP_HEX_BIPYR, .min_SPP = Q135,
     .IGW_SPP = 14.1, .IGW_EP = 13.6, .fac_AA = 3, .exp_cos_AA = 2, .w_SPP = 1},
    {.cn = 9, .name = "q2", .type = CT_OP_Q2},
    {.cn = 9, .name = "q4", .type = CT_OP_Q4},
    {.cn = 9, .name = "q6", .type = CT_OP_Q6},
    {.cn = 10, .name = "q2", .type = CT_OP_Q2},
    {.cn = 10, .name = "q4", .type = CT_OP_Q4},
    {.cn = 10, .name = "q6", .type = CT_OP_Q6},
    {.cn = 11, .name = "q2", .type = CT_OP_Q2},
    {.cn = 11, .name = "q4", .type = CT_OP_Q4},
    {.cn = 11, .name = "q6", .type = CT_OP_Q6},
    {.cn = 12, .name = "cuboctahedral", .type = CT_OP_CUBOCT_MAX, .min_SPP = 2.792526803190927,
     .IGW_SPP = 28.75, .w_SPP = 1.8, .p2 = 1.8325957145940461, .p4 = 1.3089969389957472,
     .p5 = 25.5, .p6 = 31.25},
    {.cn = 12, .name = "q2", .type = CT_OP_Q2},
    {.cn = 12, .name = "q4", .type = CT_OP_Q4},
    {.cn = 12, .name = "q6", .type = CT_OP_Q6},
};

/* The angles between n neighbours, as pymatgen measures them. */
typedef struct {
    int n;
    double u[N][3];          /* unit vectors to the neighbours */
    double dist[N];
    double theta[N][N];      /* angle j-centre-k */
    double x[N][N][3];       /* u_k's part orthogonal to u_j, normalized */
    unsigned char flat[N][N];/* u_k parallel to u_j: no meridian */
    double phi[N][N][N];     /* azimuth of m against the meridian of k, pole j */
} geometry;

static double dot3(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static double clamp_acos(double c)
{
    return acos(c < -1 ? -1 : c > 1 ? 1 : c);
}

/* Measure the bond lengths and directions, and with angles the polar and
   azimuthal angles the Peters-style motifs score (Steinhardt's need none). */
static void measure(geometry *g, const double (*r)[3], int n, int angles)
{
    g->n = n;
    for (int j = 0; j < n; j++) {
        g->dist[j] = sqrt(dot3(r[j], r[j]));
        for (int c = 0; c < 3; c++) g->u[j][c] = r[j][c] / g->dist[j];
    }
    for (int j = 0; j < n && angles; j++) {
        const double *z = g->u[j];
        double zz = dot3(z, z);
        for (int k = 0; k < n; k++) {
            if (k == j) continue;
            g->theta[j][k] = clamp_acos(dot3(z, g->u[k]));
            double f = dot3(g->u[k], z) / zz, *x = g->x[j][k];
            for (int c = 0; c < 3; c++) x[c] = g->u[k][c] - f * z[c];
            double len = sqrt(dot3(x, x));
            g->flat[j][k] = len < VERY_SMALL;
            if (!g->flat[j][k])
                for (int c = 0; c < 3; c++) x[c] /= len;
        }
        for (int k = 0; k < n; k++)
            for (int m = 0; m < n; m++)
                if (k != j && m != j && m != k && !g->flat[j][k] && !g->flat[j][m])
                    g->phi[j][k][m] = clamp_acos(dot3(g->x[j][m], g->x[j][k]));
    }
}

static double gauss(double t)
{
    return exp(-0.5 * t * t);
}

static double cos_aa(const ct_op_motif *p, double phi)
{
    double c = cos(p->fac_AA * phi);
    return p->exp_cos_AA == 2 ? c * c : pow(c, p->exp_cos_AA);   /* the same, faster */
}

static int is_bipyr_like(ct_op_type t)
{
    return t == CT_OP_TRI_BIPYR || t == CT_OP_PENT_BIPYR || t == CT_OP_HEX_BIPYR ||
           t == CT_OP_OCT_MAX || t == CT_OP_SQ_PLAN_MAX || t == CT_OP_HEX_PLAN_MAX;
}

static int is_pyr_like(ct_op_type t)
{
    return t == CT_OP_T || t == CT_OP_TRI_PYR || t == CT_OP_SQ_PYR || t == CT_OP_PENT_PYR ||
           t == CT_OP_HEX_PYR;
}

/* The score of neighbour k's angle with the pole j (pymatgen's first
   inner block); *w gets its weight in the norm. */
static double score_k(const ct_op_motif *p, double tk, int j, int k, double *w)
{
    double ipi = 1.0 / M_PI;
    *w = 0;
    switch (p->type) {
    case CT_OP_BENT:
    case CT_OP_TRI_PLAN_MAX:
    case CT_OP_TET_MAX:
        *w = 1;
        return gauss(p->IGW_TA * (tk * ipi - p->TA));
    case CT_OP_PENT_PLAN_MAX:
        *w = 1;
        return gauss(p->IGW_TA * (tk * ipi - (tk <= p->TA * M_PI ? 0.4 : 0.8)));
    case CT_OP_CUBOCT_MAX:
        if (tk < p->min_SPP) return 0;
        *w = p->w_SPP;
        return p->w_SPP * gauss(p->IGW_SPP * (tk * ipi - 1.0));
    case CT_OP_BCC:
        if (j >= k || tk < p->min_SPP) return 0;
        *w = p->w_SPP;
        return p->w_SPP * gauss(p->IGW_SPP * (tk * ipi - 1.0));
    case CT_OP_SEE_SAW_RECT:
        if (tk >= p->min_SPP) return 0;
        *w = 1;
        return gauss(p->IGW_EP * (tk * ipi - 0.5));
    case CT_OP_HEX_PLAN_MAX:
        if (tk >= p->min_SPP) return 0;
        *w = 1;
        return gauss(p->IGW_TA * (fabs(tk * ipi - 0.5) - p->TA));
    default:
        if (is_pyr_like(p->type)) {
            *w = 1;
            return gauss(p->IGW_EP * (tk * ipi - 0.5));
        }
        if (is_bipyr_like(p->type) && tk < p->min_SPP) {
            *w = 1;
            return gauss(p->IGW_EP * (tk * ipi - 0.5));
        }
        return 0;
    }
}

/* The score of a third neighbour m at polar angle tm and azimuth phi when
   k is at tk (pymatgen's innermost block, not counting the South-pole term). */
static double score_m(const ct_op_motif *p, double tk, double tm, double phi, int j, int k,
                      double *w)
{
    double ipi = 1.0 / M_PI;
    *w = 0;
    switch (p->type) {
    case CT_OP_TRI_PLAN_MAX:
    case CT_OP_TET_MAX:
        *w = 1;
        return gauss(p->IGW_TA * (tm * ipi - p->TA)) * cos_aa(p, phi);
    case CT_OP_PENT_PLAN_MAX: {
        double c = cos(phi);
        *w = 1;
        return gauss(p->IGW_TA * (tm * ipi - (tm <= p->TA * M_PI ? 0.4 : 0.8))) * c * c;
    }
    case CT_OP_BCC: {
        if (j >= k || tk >= p->min_SPP) return 0;
        double fac = tk > M_PI / 2 ? 1.0 : -1.0, t = (tm - M_PI / 2) / asin(1.0 / 3.0);
        *w = 1;
        return fac * cos(3 * phi) * (1.0 / exp(-0.5)) * t * gauss(t);
    }
    case CT_OP_SEE_SAW_RECT:
        if (tm >= p->min_SPP || tk >= p->min_SPP || phi >= 0.75 * M_PI) return 0;
        *w = 1;
        return cos_aa(p, phi) * gauss(p->IGW_EP * (tm * ipi - 0.5));
    case CT_OP_CUBOCT_MAX: {
        if (!(tm < p->min_SPP && p->p4 < tk && tk < p->p2)) return 0;
        if (p->p4 < tm && tm < p->p2) {
            double c = cos(phi);
            *w = 1;
            return c * c * gauss(p->p5 * (tm * ipi - 0.5));
        }
        double a = gauss(0.0556 * (cos(phi - 0.5 * M_PI) - 0.81649658));
        if (tm < p->p4) {
            *w = 1;
            return a * gauss(p->p6 * (tm * ipi - 1.0 / 3.0));
        }
        if (tm > p->p2) {
            *w = 1;
            return a * gauss(p->p6 * (tm * ipi - 2.0 / 3.0));
        }
        return 0;
    }
    default:
        if (is_pyr_like(p->type)) {
            *w = 1;
            return cos_aa(p, phi) * gauss(p->IGW_EP * (tm * ipi - 0.5));
        }
        if (is_bipyr_like(p->type) && tm < p->min_SPP && tk < p->min_SPP) {
            double t = p->type == CT_OP_HEX_PLAN_MAX
                           ? p->IGW_TA * (fabs(tm * ipi - 0.5) - p->TA)
                           : p->IGW_EP * (tm * ipi - 0.5);
            *w = 1;
            return cos_aa(p, phi) * gauss(t);
        }
        return 0;
    }
}

/* The bipyramid-like motifs and see_saw_rect also reward m at the South
   pole of j. */
static int has_south_pole(ct_op_type t)
{
    return is_bipyr_like(t) || t == CT_OP_SEE_SAW_RECT;
}

/* The Peters-style motifs: accumulate over j, k, m and normalize. */
static double peters(const ct_op_motif *p, const geometry *g)
{
    int n = g->n;
    double ipi = 1.0 / M_PI, sum = 0, norm = 0, best = -INFINITY;
    for (int j = 0; j < n; j++)
        for (int k = 0; k < n; k++) {
            if (k == j) continue;
            double tk = g->theta[j][k], w, q = score_k(p, tk, j, k, &w), qn = w;
            if (!g->flat[j][k])
                for (int m = 0; m < n; m++) {
                    if (m == j || m == k) continue;
                    double tm = g->theta[j][m];
                    if (has_south_pole(p->type) && tm >= p->min_SPP) {
                        q += gauss(p->IGW_SPP * (tm * ipi - 1.0));
                        qn += 1;
                    }
                    if (g->flat[j][m]) continue;
                    q += score_m(p, tk, tm, g->phi[j][k][m], j, k, &w);
                    qn += w;
                }
            sum += q;
            norm += qn;
            double v = qn > 1e-12 ? q / qn : 0.0;
            if (v > best) best = v;
        }
    if (p->type == CT_OP_BENT) return norm > 1e-12 ? sum / norm : (double)NAN;
    if (p->type == CT_OP_BCC)
        return n > 3 ? sum / (0.5 * (double)(n * (6 + (n - 2) * (n - 3)))) : (double)NAN;
    return n > 1 ? best : (double)NAN;
}

/* Steinhardt's q_l: sqrt(4π/(2l+1) Σ_m |mean_i Y_lm(u_i)|²). */
static double steinhardt(int l, const geometry *g)
{
    int n = g->n;
    if (n == 0) return (double)NAN;
    double cm[N][7], sm[N][7], acc = 0;   /* cos mφ_i, sin mφ_i for m <= 6 */
    for (int i = 0; i < n; i++) {
        double phi = atan2(g->u[i][1], g->u[i][0]), c = cos(phi), s = sin(phi);
        cm[i][0] = 1;
        sm[i][0] = 0;
        for (int m = 1; m <= l; m++) {   /* rotate by φ, m times */
            cm[i][m] = cm[i][m - 1] * c - sm[i][m - 1] * s;
            sm[i][m] = sm[i][m - 1] * c + cm[i][m - 1] * s;
        }
    }
    for (int m = 0; m <= l; m++) {
        double re = 0, im = 0, fact = 1;   /* (l-m)! / (l+m)! */
        for (int i = l - m + 1; i <= l + m; i++) fact /= i;
        for (int i = 0; i < n; i++) {
            double x = g->u[i][2], s = sqrt(fmax(0.0, 1.0 - x * x));
            double pmm = 1;   /* P_m^m, then up the recurrence to P_l^m */
            for (int k = 1; k <= m; k++) pmm *= -(2 * k - 1) * s;
            double plm = pmm;
            if (l > m) {
                double p0 = pmm, p1 = x * (2 * m + 1) * pmm;
                for (int ll = m + 2; ll <= l; ll++) {
                    double p2 = ((2 * ll - 1) * x * p1 - (ll + m - 1) * p0) / (ll - m);
                    p0 = p1;
                    p1 = p2;
                }
                plm = p1;
            }
            re += plm * cm[i][m];
            im += plm * sm[i][m];
        }
        double y2 = (2 * l + 1) / (4 * M_PI) * fact;
        acc += (m ? 2 : 1) * y2 * (re * re + im * im);
    }
    return sqrt(4 * M_PI / (2 * l + 1) * acc / ((double)n * n));
}

static int is_steinhardt(ct_op_type t)
{
    return t == CT_OP_Q2 || t == CT_OP_Q4 || t == CT_OP_Q6;
}

static double evaluate(const ct_op_motif *p, const geometry *g)
{
    switch (p->type) {
    case CT_OP_SGL_BD: {
        if (g->n == 0) return 0;
        if (g->n == 1) return 1;
        double d0 = INFINITY, d1 = INFINITY;   /* the two shortest bonds */
        for (int i = 0; i < g->n; i++) {
            if (g->dist[i] < d0) {
                d1 = d0;
                d0 = g->dist[i];
            } else if (g->dist[i] < d1) {
                d1 = g->dist[i];
            }
        }
        return 1.0 - d0 / d1;
    }
    case CT_OP_Q2: return steinhardt(2, g);
    case CT_OP_Q4: return steinhardt(4, g);
    case CT_OP_Q6: return steinhardt(6, g);
    default: return peters(p, g);
    }
}

double ct_order_parameter(const ct_op_motif *m, const double (*r)[3], int n)
{
    static _Thread_local geometry g;   /* 14 KiB: too big for small stacks */
    if (n < 0 || n > N) return (double)NAN;
    measure(&g, r, n, !is_steinhardt(m->type) && m->type != CT_OP_SGL_BD);
    return evaluate(m, &g);
}

int ct_order_parameters(int n, const double (*r)[3], double out[CT_OP_MAX_PER_CN])
{
    static _Thread_local geometry g;
    if (n < 1 || n > N) return 0;
    int angles = 0;
    for (int i = 0; i < CT_OP_NMOTIFS; i++)
        if (ct_op_motifs[i].cn == n && !is_steinhardt(ct_op_motifs[i].type) &&
            ct_op_motifs[i].type != CT_OP_SGL_BD)
            angles = 1;
    measure(&g, r, n, angles);
    int count = 0;
    for (int i = 0; i < CT_OP_NMOTIFS; i++)
        if (ct_op_motifs[i].cn == n) out[count++] = evaluate(&ct_op_motifs[i], &g);
    return count;
}
