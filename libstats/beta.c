/* The regularized incomplete beta function I_x(a, b) and its inverse, in log space, for the
 * binomial tails behind the Clopper-Pearson interval and the exact McNemar test.
 * I_x(a, b) = x^a (1-x)^b / (a B(a, b)) * K, K the continued fraction of DLMF 8.17.22
 * evaluated by the modified Lentz method (Thompson & Barnett 1986), on the side of the mean
 * where it converges fast (the other tail by I_x(a, b) = 1 - I_{1-x}(b, a)). For a, b >= 10 the
 * prefactor x^a (1-x)^b / B(a, b) comes from Stirling's series with the deviations from the
 * mean in u - log(1 + u) form (the idea of DiDonato & Morris 1992, Algorithm 708): the lgamma
 * of a 1e5-sized argument is ~1e6, and the difference of three of them would lose 1e-10.
 * The inverse is Newton's method on log(tail) in the variable log x, kept in a bracket. */
#include <math.h>

#include "internal.h"

#define LN_SQRT_2PI 0.91893853320467274178 /* log(sqrt(2 pi)) */
#define LENTZ_TINY 1e-300

/* lgamma(z) - ((z - 1/2) log z - z + log sqrt(2 pi)) for z >= 10, by Stirling's series
 * sum_k B_2k / (2k (2k - 1) z^(2k - 1)); 8 terms leave an error below 1e-17 at z = 10. */
static double stirling_corr(double z)
{
    static const double c[8] = {1.0 / 12,   -1.0 / 360,        1.0 / 1260, -1.0 / 1680,
                                1.0 / 1188, -691.0 / 360360.0, 1.0 / 156,  -3617.0 / 122400.0};
    double w = 1.0 / (z * z), s = 0.0;
    for (int k = 7; k >= 0; k--)
        s = s * w + c[k];
    return s / z;
}

/* a (u - log(1 + u)) for u = t / t0 - 1, given log(t / t0). Near u = 0 the two terms cancel,
 * so there it uses u - log(1 + u) = u v - 2 (v^3 / 3 + v^5 / 5 + ...) with v = u / (2 + u)
 * (log(1 + u) = 2 atanh v); |v| <= 1/3 for |u| <= 1/2, so 30 terms reach double precision. */
static double dev_term(double a, double u, double log_ratio)
{
    if (fabs(u) >= 0.5)
        return a * (u - log_ratio);
    double v = u / (2.0 + u), v2 = v * v, s = 0.0;
    for (int k = 29; k >= 1; k--)
        s = s * v2 + 1.0 / (2 * k + 1);
    return a * (u * v - 2.0 * v * v2 * s);
}

/* log B(a, b) when min(a, b) < 10: with lgamma_r directly when both are small (the values are
 * small, nothing cancels), else with Stirling for the large one (R. nmath's lbeta does the
 * same split). lgamma_r, not lgamma: lgamma writes the global signgam. */
static double lbeta_small(double a, double b)
{
    double p = fmin(a, b), q = fmax(a, b), s = p + q;
    int sign;
    if (q < 10)
        return lgamma_r(p, &sign) + lgamma_r(q, &sign) - lgamma_r(s, &sign);
    return lgamma_r(p, &sign) + stirling_corr(q) - stirling_corr(s) + p - p * log(s) +
           (q - 0.5) * log1p(-p / s);
}

/* log(x^a y^b / B(a, b)), y = 1 - x, from x, y and their logs. */
static double log_front(double x, double y, double lx, double ly, double a, double b)
{
    if (a < 10 || b < 10)
        return a * lx + b * ly - lbeta_small(a, b);
    /* With x0 = a / (a + b), y0 = b / (a + b) and Stirling's formula for the three gammas,
     * x^a y^b / B(a, b) = sqrt(a b / (2 pi (a + b))) (x / x0)^a (y / y0)^b e^-(corrections),
     * and a log(x / x0) + b log(y / y0) = -(a phi(u1) + b phi(u2)) with phi(u) = u - log(1+u),
     * u1 = x / x0 - 1, u2 = y / y0 - 1, because a u1 + b u2 = (a + b)(x + y - 1) = 0.
     * x b - y a = (a + b)(x - x0) without the rounding of x0. */
    double s = a + b, e = x * b - y * a;
    double dev = dev_term(a, e / a, lx - log(a / s)) + dev_term(b, -e / b, ly - log(b / s));
    return -dev + 0.5 * log(a * b / s) - LN_SQRT_2PI -
           (stirling_corr(a) + stirling_corr(b) - stirling_corr(s));
}

/* The continued fraction K of I_x(a, b) = x^a y^b / (a B(a, b)) K (DLMF 8.17.22):
 * K = 1 / (1 + d1 / (1 + d2 / (1 + ...))), d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)),
 * d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)). It converges in O(sqrt(max(a, b))) terms for
 * x < (a + 1) / (a + b + 2); NaN if it has not converged after max_terms. */
static double beta_cf(double x, double a, double b, long max_terms)
{
    /* modified Lentz for f = 1 / (1 + d1 / (1 + d2 / ...)): f_0 = tiny, C_0 = f_0, D_0 = 0 */
    double f = LENTZ_TINY, C = f, D = 0.0;
    for (long j = 1; j <= max_terms; j++) {
        double num;
        if (j == 1) {
            num = 1.0;
        } else {
            long i = j - 1, m = i / 2; /* coefficient d_i */
            num = (i & 1) ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                          : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
        }
        D = 1.0 + num * D;
        C = 1.0 + num / C;
        if (fabs(D) < LENTZ_TINY)
            D = LENTZ_TINY;
        if (fabs(C) < LENTZ_TINY)
            C = LENTZ_TINY;
        D = 1.0 / D;
        double delta = C * D;
        f *= delta;
        if (fabs(delta - 1.0) < 3e-16) /* within an ulp or so of 1 */
            return f;
    }
    return NAN;
}

/* log of the lower (upper = 0) or upper tail at x; *lf receives log_front. */
static double logtail(double x, double y, double lx, double ly, double a, double b, int upper,
                      double *lf)
{
    *lf = -INFINITY;
    if (lx == -INFINITY || ly == -INFINITY) /* x = 0 or x = 1 */
        return (lx == -INFINITY) == (upper != 0) ? 0.0 : -INFINITY;
    /* generous: the fraction needs ~sqrt(max(a, b)) terms, a few more near the switch */
    long max_terms = 1000 + (long)(40.0 * sqrt(a + b));
    *lf = log_front(x, y, lx, ly, a, b);
    int swap = x > (a + 1.0) / (a + b + 2.0);
    /* t: log of the tail on the side the fraction computes, never far above 1/2 */
    double t = swap ? *lf - log(b) + log(beta_cf(y, b, a, max_terms))
                    : *lf - log(a) + log(beta_cf(x, a, b, max_terms));
    return (upper != 0) == swap ? t : log1p(-exp(t));
}

double ti_stats__beta_logtail(double x, double y, double lx, double ly, double a, double b,
                              int upper)
{
    double lf;
    return logtail(x, y, lx, ly, a, b, upper, &lf);
}

double ti_stats_beta_cdf(double x, double a, double b)
{
    if (!(a > 0 && b > 0 && a < INFINITY && b < INFINITY) || x != x)
        return NAN;
    if (x <= 0)
        return 0.0;
    if (x >= 1)
        return 1.0;
    return exp(ti_stats__beta_logtail(x, 1.0 - x, log(x), log1p(-x), a, b, 0));
}

/* log(tail(x)) - logq and its derivative in s = log x, at s. x pdf(x) = x^a y^b / (B y), so
 * d log(tail) / ds = +-exp(log_front - log y - log tail). */
static double tail_eq(double s, double logq, double a, double b, int upper, double *deriv)
{
    /* x = e^s and y = 1 - e^s both to full relative precision; log y by log1p(-x) while
     * y is near 1 (log of a rounded y would lose the digits of the small log) */
    double x = exp(s), y = -expm1(s), ly = x < 0.5 ? log1p(-x) : log(y), lf;
    double lt = logtail(x, y, s, ly, a, b, upper, &lf);
    double d = exp(lf - ly - lt);
    *deriv = upper ? -d : d;
    return lt - logq;
}

double ti_stats__beta_tail_inv(double logq, double a, double b, int upper)
{
    if (logq >= 0)
        return upper ? 0.0 : 1.0;
    if (logq == -INFINITY)
        return upper ? 1.0 : 0.0;
    /* g(s) = sign (log tail(e^s) - logq) increases from -inf (s -> -inf) to +inf (s = 0);
     * Newton from the mean, with the root kept in (lo, hi): an iterate that leaves the
     * bracket is replaced by its midpoint (or, before any point below the root is known,
     * by a step of at least 1 to the left). Near x = 0 log tail is close to a log x + c,
     * near x = 1 s is close to -(1 - x): Newton in s is nearly linear in the first case and
     * keeps the digits of 1 - x in the second. */
    double sign = upper ? -1.0 : 1.0, lo = -INFINITY, hi = 0.0;
    double s = log(a) - log(a + b), prev = INFINITY;
    for (int it = 0; it < 200; it++) {
        double d, g = tail_eq(s, logq, a, b, upper, &d) * sign;
        d *= sign;
        if (g != g) /* the continued fraction did not converge */
            return NAN;
        if (g == 0.0)
            break;
        if (g < 0)
            lo = s;
        else
            hi = s;
        double step = g / d;
        /* done when Newton's correction is below the rounding of s, or when it stopped
         * shrinking at the rounding floor of g (quadratic convergence would have halved it) */
        if (fabs(step) <= 4e-16 * fabs(s) ||
            (fabs(step) <= 1e-13 * fabs(s) && fabs(step) >= 0.5 * prev))
            break;
        prev = fabs(step);
        double next = s - step;
        if (!(next > lo && next < hi))
            next = isfinite(lo) ? 0.5 * (lo + hi) : fmin(s, hi) - fmax(1.0, fabs(s));
        s = next;
    }
    return exp(s);
}

double ti_stats_beta_ppf(double p, double a, double b)
{
    if (!(a > 0 && b > 0 && a < INFINITY && b < INFINITY) || !(p >= 0 && p <= 1))
        return NAN;
    /* solve on the smaller tail, where q keeps its relative precision */
    return p <= 0.5 ? ti_stats__beta_tail_inv(log(p), a, b, 0)
                    : ti_stats__beta_tail_inv(log1p(-p), a, b, 1);
}
