/* The standard normal's upper tail and quantile. The tail is computed in log space so that
 * p-values far below the smallest double (z of 40 and beyond) keep their digits: erfc where
 * its value is a normal double, Laplace's continued fraction for erfc beyond (Abramowitz &
 * Stegun 7.1.14). The quantile is Acklam's rational approximation refined by Halley steps. */
#include <math.h>

#include "internal.h"

#define SQRT1_2 0.70710678118654752440     /* 1 / sqrt(2) */
#define LOG_SQRT_PI 0.57236494292470008707 /* log(sqrt(pi)) */
#define LN2 0.69314718055994530942
#define SQRT_2PI 2.50662827463100050242

double ti_stats_norm_sf(double z)
{
    /* z / sqrt(2) as z * (1 / sqrt(2)), the same rounding as cephes' ndtr (scipy's norm.sf) */
    return 0.5 * erfc(z * SQRT1_2);
}

/* erfc(x) = exp(-x^2) / sqrt(pi) * 1 / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))):
 * returns the continued fraction's value 1 / (x + ...), evaluated from the back. For x >= 25
 * its terms k / (2 x^2) shrink so fast that 40 levels are far more than double precision
 * needs. */
static double erfc_cf(double x)
{
    double t = x;
    for (int k = 40; k >= 1; k--)
        t = x + 0.5 * k / t;
    return 1.0 / t;
}

double ti_stats_norm_logsf(double z)
{
    if (z != z)
        return z;
    if (z < -1.0) /* sf near 1: log1p of the small lower tail keeps the digits */
        return log1p(-0.5 * erfc(-z * SQRT1_2));
    double x = z * SQRT1_2;
    if (x < 25.0) /* erfc(25) ~ 8e-274: still a normal double, so the log is exact enough */
        return log(0.5 * erfc(x));
    if (isinf(z))
        return -INFINITY;
    /* -x^2 as -z^2 / 2, which avoids the rounding of z / sqrt(2) being squared */
    return -0.5 * z * z - LOG_SQRT_PI + log(erfc_cf(x)) - LN2;
}

/* Acklam's approximation (relative error below 1.2e-9) for 0 < p <= 0.5. */
static double ppf_acklam_lower(double p)
{
    static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                -2.759285104469687e+02, 1.383577518672690e+02,
                                -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                -1.556989798598866e+02, 6.680131188771972e+01,
                                -1.328068155288572e+01};
    static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                -2.400758277161838e+00, -2.549732539343734e+00,
                                4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01,
                                2.445134137142996e+00, 3.754408661907416e+00};
    if (p < 0.02425) {
        double q = sqrt(-2.0 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    }
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
}

double ti_stats_norm_ppf(double p)
{
    if (!(p >= 0.0 && p <= 1.0))
        return NAN;
    if (p == 0.0)
        return -INFINITY;
    if (p == 1.0)
        return INFINITY;
    /* Work in the lower half, where the CDF 0.5 erfc(-x / sqrt 2) has full relative
     * precision; 1 - p is exact for p >= 0.5. */
    if (p > 0.5)
        return -ti_stats_norm_ppf(1.0 - p);
    double x = ppf_acklam_lower(p);
    /* Halley's method on F(x) - p: each step roughly cubes the relative error. */
    for (int it = 0; it < 2; it++) {
        double e = 0.5 * erfc(-x * SQRT1_2) - p;
        double u = e * SQRT_2PI * exp(0.5 * x * x);
        x = x - u / (1.0 + 0.5 * x * u);
    }
    return x;
}
