/*
 * Independent-unit oscillator recurrences on the CPU: the `fused` backend's C kernels.
 *
 * Every (batch row, unit) pair is the scalar recurrence
 *
 *     y'' = -k y - d y' + F(y, x),   F = -tanh(w y + x)  (TANH)  or  F = x  (ADDITIVE),
 *
 * stepped by symplectic Euler, IMEX Euler or leapfrog with a per-unit step h (the description
 * of oscdyn/backends/independent_units.py). Same algorithm as oscdyn/backends/fused_units.py
 * and the Triton kernels (triton_kernels.py):
 *
 *   forward   writes the positions after each step, y_seq (batch, steps, units), the final
 *             state, and the velocity before every `segment`-th step into
 *             anchors (ceil(steps / segment), batch, units);
 *   backward  walks time in reverse: the position before step k is y_seq[:, k - 1] (y0 for
 *             k = 0), the velocity is rebuilt with the exact inverse of the step (or read
 *             from the anchors), the state cotangent is pulled back in closed form, the
 *             input's cotangent is written per step, and the per-unit parameters' are
 *             summed over time and batch.
 *
 * Loop order: batch row, time, unit; a row's state stays in L1 and the inner loops over
 * units are branch-free and vectorise, tanh included (inline approximations, no libm call).
 * Arrays are contiguous, except the input x: unit stride 1, any batch and step strides (0
 * for an expanded bias). Plain C with GCC/Clang builtins, no torch headers; the file
 * includes itself once for float and once for double.
 */
#ifndef OSCDYN_REAL

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OSCDYN_INLINE static inline __attribute__((always_inline))

/* float tanh: the odd rational minimax approximation (degrees 13 / 6) of Eigen and XLA,
 * clamped where tanh rounds to +-1 (NaN propagates). Measured: within 5 ulp. */
OSCDYN_INLINE float oscdyn_tanhf(float s) {
    const float c = 7.90531110763549805f, x = s > c ? c : (s < -c ? -c : s), x2 = x * x;
    float p = -2.76076847742355e-16f, q = 1.19825839466702e-06f;
    p = 2.00018790482477e-13f + x2 * p;
    p = -8.60467152213735e-11f + x2 * p;
    p = 5.12229709037114e-08f + x2 * p;
    p = 1.48572235717979e-05f + x2 * p;
    p = 6.37261928875436e-04f + x2 * p;
    p = 4.89352455891786e-03f + x2 * p;
    q = 1.18534705686654e-04f + x2 * q;
    q = 2.26843463243900e-03f + x2 * q;
    q = 4.89352518554385e-03f + x2 * q;
    return x * p / q;
}

/* double tanh(s) = -m / (2 + m), m = expm1(-2 |s|) (sign restored; NaN propagates): expm1
 * by n = round(z / ln 2), z = n ln 2 + r (ln 2 split in two for an exact product),
 * expm1(r) by its Taylor polynomial (|r| <= ln 2 / 2) and 2^n from the exponent bits. Both
 * the rounding and 2^n come from adding 1.5 * 2^52 + 1023 to z / ln 2: the sum's low bits
 * are n + 1023. |s| is capped where tanh rounds to 1. Measured: within 3 ulp. */
OSCDYN_INLINE double oscdyn_tanh(double s) {
    const double shift = 0x1.8p52 + 1023.0, a = s < 0 ? -s : s, z = -2.0 * (a > 20.0 ? 20.0 : a);
    const double t = z * 0x1.71547652b82fep+0 + shift, n = t - shift;
    const double r = z - n * 0x1.62e42feep-1 - n * 0x1.a39ef35793c76p-33;
    double p = 1.0 / 6227020800.0;
    p = 1.0 / 479001600.0 + r * p;
    p = 1.0 / 39916800.0 + r * p;
    p = 1.0 / 3628800.0 + r * p;
    p = 1.0 / 362880.0 + r * p;
    p = 1.0 / 40320.0 + r * p;
    p = 1.0 / 5040.0 + r * p;
    p = 1.0 / 720.0 + r * p;
    p = 1.0 / 120.0 + r * p;
    p = 1.0 / 24.0 + r * p;
    p = 1.0 / 6.0 + r * p;
    p = 0.5 + r * p;
    p = r + r * (r * p); /* expm1(r) */
    uint64_t bits;
    double scale;
    memcpy(&bits, &t, sizeof bits);
    bits <<= 52;
    memcpy(&scale, &bits, sizeof scale);
    const double m = scale * p + (scale - 1.0), magnitude = -m / (2.0 + m);
    return s < 0 ? -magnitude : magnitude;
}

enum { OSCDYN_ADDITIVE = 0, OSCDYN_TANH = 1 };
enum { OSCDYN_SYMPLECTIC_EULER = 0, OSCDYN_IMEX = 1, OSCDYN_LEAPFROG = 2 };
enum { OSCDYN_OK = 0, OSCDYN_BAD_ARGUMENT = 1, OSCDYN_NO_MEMORY = 2 };

/* One call's arguments (mirrored by ctypes in oscdyn/backends/cpu_kernels.py). Pointers to
 * float or double arrays, by the function called; sizes and strides in elements. */
typedef struct {
    int64_t batch, steps, units, segment;
    int32_t force, scheme, damped, pad;
    int64_t x_stride_batch, x_stride_step;
    /* inputs: x (NULL: no input), y0 and v0 (batch, units), h, stiff, damp, w (units) */
    const void *x, *y0, *v0, *h, *stiff, *damp, *w;
    /* forward outputs, backward inputs */
    void *y_seq, *y_out, *v_out, *anchors;
    /* backward: cotangents on y_seq, y_out, v_out (NULL: zero) */
    const void *g_seq, *g_y_out, *g_v_out;
    /* backward outputs (NULL: not wanted): g_x like y_seq, g_y0, g_v0 (batch, units),
     * g_h, g_stiff, g_damp, g_w (units) */
    void *g_x, *g_y0, *g_v0, *g_h, *g_stiff, *g_damp, *g_w;
} oscdyn_units;

int64_t oscdyn_units_struct_size(void) { return (int64_t)sizeof(oscdyn_units); }

static int oscdyn_check(const oscdyn_units *a) {
    const int sizes = a->batch >= 0 && a->steps >= 0 && a->units >= 0 && a->segment >= 1;
    const int force = a->force == OSCDYN_ADDITIVE || a->force == OSCDYN_TANH;
    const int scheme = a->scheme >= OSCDYN_SYMPLECTIC_EULER && a->scheme <= OSCDYN_LEAPFROG;
    return sizes && force && scheme ? OSCDYN_OK : OSCDYN_BAD_ARGUMENT;
}

/* asks for the cache lines of a row of `units` values (rw: 1 for a row to be written);
 * the backward pass fetches the rows of step t - OSCDYN_AHEAD while working on step t */
#define OSCDYN_AHEAD 8
#define OSCDYN_PREFETCH_ROW(row, units, rw)                                                   \
    for (int64_t i_ = 0; i_ < (units); i_ += 64 / (int64_t)sizeof(real))                     \
        __builtin_prefetch((row) + i_, (rw), 3)

/* the specialisation index of (force, scheme, damped): 0..11 */
#define OSCDYN_KIND(F, S, D) (((F) * 3 + (S)) * 2 + (D))
#define OSCDYN_EACH_KIND(X)                                                                  \
    X(0, 0, 0) X(0, 0, 1) X(0, 1, 0) X(0, 1, 1) X(0, 2, 0) X(0, 2, 1)                        \
    X(1, 0, 0) X(1, 0, 1) X(1, 1, 0) X(1, 1, 1) X(1, 2, 0) X(1, 2, 1)

/* the float kernels (*_f32) and the double ones (*_f64); -DOSCDYN_ONLY_FLOAT or
 * -DOSCDYN_ONLY_DOUBLE builds one type (half the compile time) */
#ifndef OSCDYN_ONLY_DOUBLE
#define OSCDYN_REAL float
#define OSCDYN_NAME(name) name##_f32
#define OSCDYN_TANH_FN oscdyn_tanhf
#include __FILE__
#undef OSCDYN_REAL
#undef OSCDYN_NAME
#undef OSCDYN_TANH_FN
#endif

#ifndef OSCDYN_ONLY_FLOAT
#define OSCDYN_REAL double
#define OSCDYN_NAME(name) name##_f64
#define OSCDYN_TANH_FN oscdyn_tanh
#include __FILE__
#endif

#else /* one type's kernels: OSCDYN_REAL, OSCDYN_NAME, OSCDYN_TANH_FN */

typedef OSCDYN_REAL OSCDYN_NAME(real);
#define real OSCDYN_NAME(real)

/* The undamped acceleration A = -k y + F(y, x) and dF/ds (s = w y + x for tanh, x else). */
OSCDYN_INLINE real OSCDYN_NAME(accel)(real y, real x, real k, real w, int force, real *slope) {
    if (force == OSCDYN_TANH) {
        const real t = OSCDYN_TANH_FN(w * y + x);
        *slope = t * t - 1;
        return -(t + k * y);
    }
    *slope = 1;
    return x - k * y;
}

/* One step of every unit of a row: (y, v) -> (y_next, v); x the step's input. */
OSCDYN_INLINE void OSCDYN_NAME(step_units)(
    int64_t units, const real *restrict y, real *restrict v, const real *restrict x,
    const real *restrict h, const real *restrict k, const real *restrict d,
    const real *restrict w, real *restrict y_next, int force, int scheme, int damped) {
    for (int64_t u = 0; u < units; u++) {
        real slope, vu = v[u];
        const real hu = h[u];
        real a = OSCDYN_NAME(accel)(y[u], x[u], k[u], w[u], force, &slope);
        if (scheme == OSCDYN_SYMPLECTIC_EULER) { /* kick (damping explicit), drift */
            if (damped) a -= d[u] * vu;
            vu += hu * a;
            y_next[u] = y[u] + hu * vu;
        } else if (scheme == OSCDYN_IMEX) { /* explicit kick, implicit damping, drift */
            vu += hu * a;
            if (damped) vu /= 1 + hu * d[u];
            y_next[u] = y[u] + hu * vu;
        } else { /* leapfrog: half kick (damping explicit), drift, half kick (implicit) */
            const real half = (real)0.5 * hu;
            if (damped) a -= d[u] * vu;
            vu += half * a;
            const real y1 = y[u] + hu * vu;
            vu += half * OSCDYN_NAME(accel)(y1, x[u], k[u], w[u], force, &slope);
            if (damped) vu /= 1 + half * d[u];
            y_next[u] = y1;
        }
        v[u] = vu;
    }
}

OSCDYN_INLINE void OSCDYN_NAME(forward_row)(const oscdyn_units *a, const real *x_row,
                                            int64_t row, int force, int scheme, int damped) {
    const int64_t units = a->units, steps = a->steps, segment = a->segment;
    const int64_t anchor_stride = a->batch * units;
    const real *y = (const real *)a->y0 + row * units;
    real *v = (real *)a->v_out + row * units;
    real *y_seq = (real *)a->y_seq + row * steps * units;
    real *anchor = (real *)a->anchors + row * units;
    memcpy(v, (const real *)a->v0 + row * units, (size_t)units * sizeof(real));
    for (int64_t t = 0; t < steps; t++) {
        if (t % segment == 0) {
            memcpy(anchor, v, (size_t)units * sizeof(real));
            anchor += anchor_stride;
        }
        real *y_next = y_seq + t * units;
        OSCDYN_NAME(step_units)(units, y, v, x_row + t * a->x_stride_step, a->h, a->stiff,
                                a->damp, a->w, y_next, force, scheme, damped);
        y = y_next;
    }
    memcpy((real *)a->y_out + row * units, y, (size_t)units * sizeof(real));
}

/* Undo one step of every unit of a row and pull the cotangents back through it.
 *
 * y: positions before the step; y1, v: the state after it (v becomes the velocity before
 * it: read from `anchor` when given, else the inverse step). gy, gv: cotangents on the
 * state after the step, become those before it (g_seq, the cotangent on y1 from the
 * outputs, added first). g_x: the input's cotangent; acc_*: per-unit parameter sums. */
OSCDYN_INLINE void OSCDYN_NAME(reverse_step_units)(
    int64_t units, const real *restrict y, const real *restrict y1, real *restrict v,
    const real *restrict anchor, const real *restrict x, const real *restrict h,
    const real *restrict k, const real *restrict d, const real *restrict w,
    const real *restrict g_seq, real *restrict gy, real *restrict gv, real *restrict g_x,
    real *restrict acc_h, real *restrict acc_k, real *restrict acc_d, real *restrict acc_w,
    int force, int scheme, int damped, int anchored) {
    for (int64_t u = 0; u < units; u++) {
        const real hu = h[u], ku = k[u], du = damped ? d[u] : 0, wu = w[u];
        const real v1 = v[u], g_y1 = gy[u] + g_seq[u], g_v1 = gv[u];
        real slope0, g_h, g_x0, g_y, g_v, g_k, g_d = 0, vu;
        const real a0 = OSCDYN_NAME(accel)(y[u], x[u], ku, wu, force, &slope0);
        if (scheme == OSCDYN_SYMPLECTIC_EULER) {
            if (anchored) vu = anchor[u];
            else {
                vu = v1 - hu * a0;
                if (damped) vu /= 1 - hu * du;
            }
            const real a = damped ? a0 - du * vu : a0;
            const real g_vk = g_v1 + hu * g_y1; /* cotangent on the kicked velocity */
            const real g_a = hu * g_vk;
            g_h = g_y1 * v1 + g_vk * a;
            g_x0 = g_a * slope0;
            g_k = -g_a * y[u];
            g_y = g_y1 - g_a * ku;
            g_v = g_vk;
            if (damped) {
                g_v -= g_a * du;
                g_d = -g_a * vu;
            }
        } else if (scheme == OSCDYN_IMEX) {
            if (anchored) vu = anchor[u];
            else vu = (damped ? v1 * (1 + hu * du) : v1) - hu * a0;
            const real g_vk = g_v1 + hu * g_y1;
            real g_kick = g_vk;
            g_h = g_y1 * v1;
            if (damped) {
                g_kick = g_vk / (1 + hu * du);
                g_h -= g_kick * v1 * du;
                g_d = -g_kick * v1 * hu;
            }
            g_h += g_kick * a0;
            const real g_a = hu * g_kick;
            g_x0 = g_a * slope0;
            g_k = -g_a * y[u];
            g_y = g_y1 - g_a * ku;
            g_v = g_kick;
        } else { /* leapfrog: v_half = v + half (a0 - d v), y1 = y + h v_half,
                    v1 = (v_half + half a1) / (1 + half d) */
            const real half = (real)0.5 * hu;
            real slope1;
            const real a1 = OSCDYN_NAME(accel)(y1[u], x[u], ku, wu, force, &slope1);
            if (anchored) vu = anchor[u];
            else {
                vu = (damped ? v1 * (1 + half * du) : v1) - half * a1 - half * a0;
                if (damped) vu /= 1 - half * du;
            }
            const real a0d = damped ? a0 - du * vu : a0;
            const real v_half = vu + half * a0d;
            real g_kick = g_v1, g_half = 0;
            if (damped) {
                g_kick = g_v1 / (1 + half * du);
                g_half = -g_kick * v1 * du;
                g_d = -g_kick * v1 * half;
            }
            g_half += g_kick * a1;
            const real g_a1 = half * g_kick;
            const real g_x1 = g_a1 * slope1;
            const real g_yd = g_y1 - g_a1 * ku + (force == OSCDYN_TANH ? g_x1 * wu : 0);
            const real g_v_half = g_kick + hu * g_yd;
            g_h = g_yd * v_half;
            g_half += g_v_half * a0d;
            const real g_a0 = half * g_v_half;
            g_x0 = g_a0 * slope0;
            g_k = -g_a1 * y1[u] - g_a0 * y[u];
            g_y = g_yd - g_a0 * ku;
            g_v = g_v_half;
            if (damped) {
                g_v -= g_a0 * du;
                g_d -= g_a0 * vu;
            }
            g_h += (real)0.5 * g_half;
            if (force == OSCDYN_TANH) acc_w[u] += g_x1 * y1[u];
            g_x[u] = g_x0 + g_x1;
        }
        if (scheme != OSCDYN_LEAPFROG) g_x[u] = g_x0;
        if (force == OSCDYN_TANH) {
            g_y += g_x0 * wu;
            acc_w[u] += g_x0 * y[u];
        }
        v[u] = vu;
        gy[u] = g_y;
        gv[u] = g_v;
        acc_h[u] += g_h;
        acc_k[u] += g_k;
        if (damped) acc_d[u] += g_d;
    }
}

/* adds a row's parameter sums (acc: h, stiff, damp, w, `units` each) to the wanted totals */
static void OSCDYN_NAME(add_totals)(const oscdyn_units *a, const real *acc) {
    real *const totals[4] = {a->g_h, a->g_stiff, a->g_damp, a->g_w};
    for (int p = 0; p < 4; p++) {
        if (!totals[p]) continue;
        const real *restrict row = acc + p * a->units;
        real *restrict total = totals[p];
        for (int64_t u = 0; u < a->units; u++) total[u] += row[u];
    }
}

/* scratch: 8 rows of units: v, gy, gv, acc_h, acc_k, acc_d, acc_w, g_x (discarded) */
OSCDYN_INLINE void OSCDYN_NAME(backward_row)(const oscdyn_units *a, const real *x_row,
                                             const real *zeros, real *scratch, int64_t row,
                                             int force, int scheme, int damped) {
    const int64_t units = a->units, steps = a->steps, segment = a->segment;
    const size_t row_bytes = (size_t)units * sizeof(real);
    const int64_t state = row * units, seq = row * steps * units;
    real *v = scratch, *gy = v + units, *gv = gy + units, *acc_h = gv + units;
    real *acc_k = acc_h + units, *acc_d = acc_k + units, *acc_w = acc_d + units;
    real *g_x_discard = acc_w + units;
    const real *y_seq = (const real *)a->y_seq + seq;
    /* rows of g_seq and g_x, or of zeros and a discarded row (stride 0): no branch in the
     * time loop, which the compiler would otherwise duplicate per case */
    const int64_t g_seq_stride = a->g_seq ? units : 0, g_x_stride = a->g_x ? units : 0;
    const real *g_seq = a->g_seq ? (const real *)a->g_seq + seq : zeros;
    real *g_x = a->g_x ? (real *)a->g_x + seq : g_x_discard;
    memcpy(v, (const real *)a->v_out + state, row_bytes);
    if (a->g_y_out) memcpy(gy, (const real *)a->g_y_out + state, row_bytes);
    else memset(gy, 0, row_bytes);
    if (a->g_v_out) memcpy(gv, (const real *)a->g_v_out + state, row_bytes);
    else memset(gv, 0, row_bytes);
    memset(acc_h, 0, 4 * row_bytes);
    for (int64_t t = steps - 1; t >= 0; t--) {
        const real *y = t > 0 ? y_seq + (t - 1) * units : (const real *)a->y0 + state;
        const real *x = x_row + t * a->x_stride_step;
        const real *g_t = g_seq + t * g_seq_stride;
        real *g_x_t = g_x + t * g_x_stride;
        /* hardware prefetchers follow descending rows poorly; a select, not a branch, keeps
         * the compiler from splitting the loop in two */
        const int64_t ahead = t > OSCDYN_AHEAD ? t - OSCDYN_AHEAD : 1;
        OSCDYN_PREFETCH_ROW(y_seq + (ahead - 1) * units, units, 0);
        OSCDYN_PREFETCH_ROW(x_row + ahead * a->x_stride_step, units, 0);
        OSCDYN_PREFETCH_ROW(g_seq + ahead * g_seq_stride, units, 0);
        OSCDYN_PREFETCH_ROW(g_x + ahead * g_x_stride, units, 1);
        if (t % segment == 0) {
            const real *anchor = (const real *)a->anchors + (t / segment) * a->batch * units;
            anchor += state;
            OSCDYN_NAME(reverse_step_units)(units, y, y_seq + t * units, v, anchor, x, a->h,
                                            a->stiff, a->damp, a->w, g_t, gy, gv, g_x_t, acc_h,
                                            acc_k, acc_d, acc_w, force, scheme, damped, 1);
        } else {
            OSCDYN_NAME(reverse_step_units)(units, y, y_seq + t * units, v, NULL, x, a->h,
                                            a->stiff, a->damp, a->w, g_t, gy, gv, g_x_t, acc_h,
                                            acc_k, acc_d, acc_w, force, scheme, damped, 0);
        }
    }
    if (a->g_y0) memcpy((real *)a->g_y0 + state, gy, row_bytes);
    if (a->g_v0) memcpy((real *)a->g_v0 + state, gv, row_bytes);
    OSCDYN_NAME(add_totals)(a, acc_h);
}

/* a copy of the arguments that reads a row of zeros (strides 0) when there is no input */
static oscdyn_units OSCDYN_NAME(with_input)(const oscdyn_units *args, const real *zeros) {
    oscdyn_units a = *args;
    if (!a.x) {
        a.x = zeros;
        a.x_stride_batch = a.x_stride_step = 0;
    }
    return a;
}

int OSCDYN_NAME(oscdyn_units_forward)(const oscdyn_units *args) {
    int status = oscdyn_check(args);
    if (status != OSCDYN_OK) return status;
    real *zeros = calloc((size_t)args->units + 1, sizeof(real));
    if (!zeros) return OSCDYN_NO_MEMORY;
    const oscdyn_units a = OSCDYN_NAME(with_input)(args, zeros);
    const int kind = OSCDYN_KIND(a.force, a.scheme, a.damped != 0);
    for (int64_t row = 0; row < a.batch; row++) {
        const real *x_row = (const real *)a.x + row * a.x_stride_batch;
        switch (kind) {
#define OSCDYN_FORWARD_CASE(F, S, D) \
    case OSCDYN_KIND(F, S, D): OSCDYN_NAME(forward_row)(&a, x_row, row, F, S, D); break;
            OSCDYN_EACH_KIND(OSCDYN_FORWARD_CASE)
#undef OSCDYN_FORWARD_CASE
        }
    }
    free(zeros);
    return OSCDYN_OK;
}

int OSCDYN_NAME(oscdyn_units_backward)(const oscdyn_units *args) {
    int status = oscdyn_check(args);
    if (status != OSCDYN_OK) return status;
    real *zeros = calloc((size_t)args->units * 9 + 1, sizeof(real));
    if (!zeros) return OSCDYN_NO_MEMORY;
    const oscdyn_units a = OSCDYN_NAME(with_input)(args, zeros);
    real *scratch = zeros + a.units;
    real *const totals[4] = {a.g_h, a.g_stiff, a.g_damp, a.g_w};
    for (int p = 0; p < 4; p++)
        if (totals[p]) memset(totals[p], 0, (size_t)a.units * sizeof(real));
    const int kind = OSCDYN_KIND(a.force, a.scheme, a.damped != 0);
    for (int64_t row = 0; row < a.batch; row++) {
        const real *x_row = (const real *)a.x + row * a.x_stride_batch;
        switch (kind) {
#define OSCDYN_BACKWARD_CASE(F, S, D)                                                   \
    case OSCDYN_KIND(F, S, D):                                                          \
        OSCDYN_NAME(backward_row)(&a, x_row, zeros, scratch, row, F, S, D); break;
            OSCDYN_EACH_KIND(OSCDYN_BACKWARD_CASE)
#undef OSCDYN_BACKWARD_CASE
        }
    }
    free(zeros);
    return OSCDYN_OK;
}

#undef real
#endif
