#!/usr/bin/python3
"""Reference values for tests/check_stats.c (the "stats" suite), written to
tests/fixtures/stats_*.txt. Run with Debian's /usr/bin/python3 (scipy 1.10, sklearn 1.2,
mpmath 1.2):

    /usr/bin/python3 scripts/make_stats_fixtures.py

Sources of truth:
  - U, p: scipy.stats.mannwhitneyu (use_continuity=True) for each alternative and method;
  - log10 p: where scipy's p is a normal double, log10 of it; in the far tail (scipy gives 0 or
    a subnormal) the z statistic is taken from scipy's own _get_mwu_z (the exact formula
    mannwhitneyu uses) and log10(f * 0.5 * erfc(z / sqrt 2)) is evaluated with mpmath at 60
    digits (f = 2 for two-sided);
  - the exact distribution is checked here against an independent integer recurrence;
  - AUC and ROC: sklearn.metrics.roc_auc_score and roc_curve(drop_intermediate=False);
  - DeLong: the textbook formula with numpy (pairwise kernel psi, structural components V10,
    V01, variances with ddof=1), not the fast midrank algorithm the C code uses;
  - ranks: scipy.stats.rankdata; descriptive: numpy mean, var(ddof=1), percentile (linear);
  - normal tail and quantile: mpmath (logsf) and scipy.stats.norm.ppf;
  - beta CDF and quantile: scipy.stats.beta.cdf / ppf; Clopper-Pearson and Wilson intervals:
    statsmodels proportion_confint(method='beta' / 'wilson'), each Clopper-Pearson bound
    checked here against exact binomial tails (mpmath sums where n is small enough);
  - exact McNemar: statsmodels mcnemar(exact=True) for p, and log10 p from the exact integer
    sum of binomial coefficients (mpmath log10), which stays finite where p underflows;
  - paired difference: Newcombe's (1998) method 10, written here from the paper's formulas on
    statsmodels' Wilson intervals;
  - security curves and AttackBench optimality: numpy, from the definitions (breakpoints by
    np.unique, areas as sums of rectangles of the step functions) - a different route from the
    C code's sum of min(d_i, eps).

File format: blocks "case NAME" ... "end"; inside, one "key value value ..." per line.
"""
import os
import sys
import warnings

import mpmath
import numpy as np
import scipy
import statsmodels
from scipy import stats
from scipy.stats import _mannwhitneyu as smwu
from sklearn.metrics import roc_auc_score, roc_curve
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

mpmath.mp.dps = 60
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def fmt(v):
    if isinstance(v, str):
        return v
    return repr(float(v))


class Writer:
    def __init__(self, name, header):
        self.path = os.path.join(OUT, name)
        self.lines = ["# " + h for h in header]

    def case(self, name, **kv):
        self.lines.append("case " + name)
        for k, v in kv.items():
            if isinstance(v, (list, tuple, np.ndarray)):
                self.lines.append(k + " " + str(len(v)) + " " + " ".join(fmt(a) for a in v))
            else:
                self.lines.append(k + " " + fmt(v))
        self.lines.append("end")

    def save(self):
        with open(self.path, "w") as f:
            f.write("\n".join(self.lines) + "\n")
        print("wrote", self.path, len(self.lines), "lines")


def exact_counts(m, n):
    """Number of orderings with U = k, by the integer recurrence f(m,n,k) = f(m-1,n,k-n) +
    f(m,n-1,k) (independent of both scipy and the C code's Gaussian-binomial product)."""
    f = {}
    for mm in range(m + 1):
        for nn in range(n + 1):
            row = [0] * (mm * nn + 1)
            if mm == 0 or nn == 0:
                row[0] = 1
            else:
                a, b = f[(mm - 1, nn)], f[(mm, nn - 1)]
                for k in range(mm * nn + 1):
                    v = 0
                    if 0 <= k - nn < len(a):
                        v += a[k - nn]
                    if k < len(b):
                        v += b[k]
                    row[k] = v
            f[(mm, nn)] = row
    return f[(m, n)]


def mwu_reference(x, y, alt, method):
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    res = stats.mannwhitneyu(x, y, alternative=alt, method=method)
    n1, n2 = len(x), len(y)
    xy = np.concatenate([x, y])
    ranks = stats.rankdata(xy)
    U1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    U2 = n1 * n2 - U1
    used = method
    if method == "auto":
        used = smwu._mwu_choose_method(n1, n2, xy[None, :], method)
    U = {"greater": U1, "less": U2}.get(alt, max(U1, U2))
    f = 2 if alt == "two-sided" else 1
    z = float("nan")
    if used == "asymptotic":
        z = float(smwu._get_mwu_z(np.array([U]), n1, n2, ranks[None, :])[0])
        lp = mpmath.log10(f * mpmath.erfc(mpmath.mpf(z) / mpmath.sqrt(2)) / 2)
        log10p = min(0.0, float(lp))
    else:
        counts = exact_counts(n1, n2)
        total = sum(counts)
        k = n1 * n2 - int(U)
        pe = mpmath.mpf(f * sum(counts[: k + 1])) / total
        pe = min(pe, mpmath.mpf(1))
        assert abs(float(pe) - res.pvalue) <= 1e-12 * max(float(pe), 1e-300), (pe, res.pvalue)
        log10p = float(mpmath.log10(pe))
    if res.pvalue > 1e-300:
        assert abs(log10p - np.log10(res.pvalue)) < 1e-9 * max(1, abs(log10p)), (log10p, res.pvalue)
    assert res.statistic == U1, (res.statistic, U1, n1, n2)
    return dict(u1=res.statistic, p=res.pvalue, log10p=log10p, z=z, method_used=used)


def mwu_fixtures():
    rng = np.random.default_rng(20240601)
    w = Writer("stats_mwu.txt", [
        "Mann-Whitney U references from scipy %s (mannwhitneyu, use_continuity=True);" % scipy.__version__,
        "log10p in the far tail from mpmath on scipy's own z. Made by scripts/make_stats_fixtures.py."])
    cases = []
    # small samples without ties: the exact method, all alternatives
    males = [19, 22, 16, 29, 24]
    females = [20, 11, 17, 12]
    cases.append(("docstring", males, females))
    cases.append(("small_3_7", list(rng.normal(size=3)), list(rng.normal(0.8, 1, size=7))))
    cases.append(("exact_8_40", list(rng.normal(1.0, 1, size=8)), list(rng.normal(size=40))))
    cases.append(("exact_12_6", list(rng.normal(size=12)), list(rng.normal(-0.5, 1, size=6))))
    cases.append(("one_each", [1.0], [2.0]))
    cases.append(("separated_6_5", [10, 11, 12, 13, 14, 15], [1, 2, 3, 4, 5]))
    # heavy ties (asymptotic with tie correction), small and large
    cases.append(("ties_small", [1, 1, 2, 2, 2, 3], [1, 2, 3, 3, 3, 3, 4]))
    cases.append(("ties_heavy", list(rng.integers(0, 4, size=60)), list(rng.integers(1, 5, size=45))))
    cases.append(("all_tied", [2.0] * 10, [2.0] * 12))
    # unequal sizes, asymptotic
    cases.append(("unequal_30_200", list(rng.normal(0.3, 1, size=30)), list(rng.normal(size=200))))
    cases.append(("infinities", [float("inf"), 1.0, 2.5, float("inf"), 3.0, 0.5, 7.0, 8.0, 9.0],
                  [0.1, 0.2, 4.0, 5.0, 6.0, -1.0, 2.0, 11.0, 12.0, 13.0]))
    # far tails: p around 1e-248 and below 1e-400 (scipy returns 0 there)
    a = np.round(rng.normal(0.0, 1.0, size=1500), 4)
    b = np.round(rng.normal(1.72, 1.0, size=1500), 4)
    cases.append(("tail_1500", list(a), list(b)))
    a = np.round(rng.uniform(0, 1, size=1300), 4)
    b = np.round(rng.uniform(2, 3, size=1700), 4)
    cases.append(("tail_separated", list(b), list(a)))
    for name, x, y in cases:
        for alt in ("two-sided", "less", "greater"):
            methods = ["auto"]
            if name in ("small_3_7", "exact_12_6"):
                methods += ["asymptotic"]
            if name == "ties_small":
                methods += ["exact"]
            for method in methods:
                r = mwu_reference(x, y, alt, method)
                w.case("%s/%s/%s" % (name, alt, method), alt=alt, method=method, x=x, y=y,
                       u1=r["u1"], p=r["p"], log10p=r["log10p"], z=r["z"],
                       method_used=r["method_used"])
    # forced exact on larger samples (scipy method='exact'), only two-sided
    x = list(rng.normal(0.9, 1, size=20))
    y = list(rng.normal(size=25))
    r = mwu_reference(x, y, "two-sided", "exact")
    w.case("exact_20_25/two-sided/exact", alt="two-sided", method="exact", x=x, y=y, u1=r["u1"],
           p=r["p"], log10p=r["log10p"], z=r["z"], method_used="exact")
    w.save()


def delong_reference(x, y, level):
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    auc = psi.mean()
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    var = v10.var(ddof=1) / len(x) + v01.var(ddof=1) / len(y)
    zc = stats.norm.ppf(0.5 + level / 2)
    se = np.sqrt(var)
    return auc, var, max(0.0, auc - zc * se), min(1.0, auc + zc * se)


def auc_fixtures():
    rng = np.random.default_rng(7)
    w = Writer("stats_auc.txt", [
        "ROC AUC and roc_curve(drop_intermediate=False) from sklearn, DeLong from the textbook",
        "formula with numpy. Made by scripts/make_stats_fixtures.py."])
    cases = [
        ("tiny", [0.9, 0.8, 0.4], [0.3, 0.5, 0.1, 0.8]),
        ("normal_50_70", list(rng.normal(0.7, 1, 50)), list(rng.normal(0, 1, 70))),
        ("ties", list(rng.integers(0, 5, 80).astype(float)), list(rng.integers(0, 4, 40).astype(float))),
        ("unequal_5_300", list(rng.normal(1, 1, 5)), list(rng.normal(0, 1, 300))),
        ("perfect", [5.0, 6.0, 7.0], [1.0, 2.0]),
        ("reversed", [1.0, 2.0], [5.0, 6.0, 7.0]),
        ("large_ties", list(np.round(rng.normal(0.2, 1, 800), 1)), list(np.round(rng.normal(0, 1, 900), 1))),
    ]
    for name, x, y in cases:
        yt = np.r_[np.ones(len(x)), np.zeros(len(y))]
        ys = np.r_[x, y]
        auc = roc_auc_score(yt, ys)
        fpr, tpr, thr = roc_curve(yt, ys, drop_intermediate=False)
        for level in (0.95, 0.9):
            dauc, var, lo, hi = delong_reference(x, y, level)
            assert abs(dauc - auc) < 1e-12
            w.case("%s/%g" % (name, level), x=x, y=y, auc=auc, level=level, var=var, lo=lo,
                   hi=hi, fpr=fpr, tpr=tpr, thr=thr)
    w.save()


def misc_fixtures():
    rng = np.random.default_rng(11)
    w = Writer("stats_misc.txt", [
        "rankdata (scipy), descriptive statistics (numpy: mean, var ddof=1, percentile linear),",
        "normal log-tail (mpmath) and quantile (scipy.stats.norm.ppf).",
        "Made by scripts/make_stats_fixtures.py."])
    for name, x in [("ties", [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]),
                    ("floats", list(rng.normal(size=37))),
                    ("one", [42.0]),
                    ("two", [1.0, 3.0]),
                    ("shifted", list(1e6 + rng.normal(size=25)))]:
        xa = np.asarray(x, float)
        ranks = stats.rankdata(xa)
        _, t = np.unique(xa, return_counts=True)
        q1, med, q3 = np.percentile(xa, [25, 50, 75])
        w.case("describe/" + name, x=x, ranks=ranks, tie_term=float((t ** 3 - t).sum()),
               mean=xa.mean(), var=xa.var(ddof=1) if len(x) > 1 else float("nan"),
               min=xa.min(), q1=q1, median=med, q3=q3, max=xa.max())
    zs = [-30, -5, -1.5, -1, -0.3, 0, 0.5, 1, 3, 5, 8.2, 10, 20, 30, 35.3, 36, 37.5, 40, 50, 100,
          1000, 1e5]
    def logsf(z):
        z = mpmath.mpf(z)
        if z < 0:  # log(1 - lower tail): log1p keeps the digits a 60-digit log would lose
            return float(mpmath.log1p(-mpmath.erfc(-z / mpmath.sqrt(2)) / 2))
        return float(mpmath.log(mpmath.erfc(z / mpmath.sqrt(2)) / 2))
    lsf = [logsf(z) for z in zs]
    w.case("normal/logsf", z=zs, logsf=lsf)
    ps = [1e-300, 1e-20, 1e-5, 0.001, 0.01, 0.02425, 0.025, 0.1, 0.3, 0.5, 0.6, 0.9, 0.95, 0.975,
          0.99, 0.999999]
    w.case("normal/ppf", prob=ps, ppf=[float(stats.norm.ppf(p)) for p in ps])
    w.save()


def csv_fixture():
    """A small per-sample CSV like the study's: sample id, population, epsilon."""
    rng = np.random.default_rng(3)
    path = os.path.join(OUT, "stats_groups.csv")
    with open(path, "w") as f:
        f.write('sample,population,"epsilon, linf"\n')
        for i in range(20):
            pop = "10" if i % 3 == 0 else "11"
            eps = rng.uniform(0.0, 0.02) if pop == "10" else rng.uniform(0.01, 0.05)
            f.write("%d,%s,%.6f\n" % (i, pop, eps))
    print("wrote", path)


def binom_tail_exact(k, n, x, upper):
    """P(Bin(n, x) >= k) (upper=False: the lower tail of Beta(k, n-k+1) at x) or
    P(Bin(n, x) <= k - 1), as an mpmath sum of the smaller number of terms."""
    x = mpmath.mpf(x)
    if not upper:
        return mpmath.fsum(mpmath.binomial(n, j) * x**j * (1 - x)**(n - j) for j in range(k, n + 1))
    return mpmath.fsum(mpmath.binomial(n, j) * x**j * (1 - x)**(n - j) for j in range(0, k))


def beta_pdf(x, a, b):
    x = mpmath.mpf(x)
    return mpmath.exp((a - 1) * mpmath.log(x) + (b - 1) * mpmath.log(1 - x) - mpmath.log(mpmath.beta(a, b)))


def newcombe_paired(n11, b, c, n00, level):
    """Newcombe (1998), Stat. Med. 17, 2635-2650, method 10 (hybrid score, no continuity
    correction), from the paper's formulas; Wilson limits from statsmodels."""
    n = n11 + b + c + n00
    alpha = 1 - level
    p1, p2 = (n11 + b) / n, (n11 + c) / n
    l1, u1 = proportion_confint(n11 + b, n, alpha=alpha, method="wilson")
    l2, u2 = proportion_confint(n11 + c, n, alpha=alpha, method="wilson")
    den = (n11 + b) * (c + n00) * (n11 + c) * (b + n00)
    phi = (n11 * n00 - b * c) / np.sqrt(float(den)) if den > 0 else 0.0
    dl = np.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    du = np.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    d = (b - c) / n
    return d, max(-1.0, d - dl), min(1.0, d + du)


def binom_fixtures():
    w = Writer("stats_binom.txt", [
        "Beta CDF/quantile (scipy %s), Clopper-Pearson and Wilson intervals (statsmodels %s" % (
            scipy.__version__, statsmodels.__version__),
        "proportion_confint), exact McNemar (statsmodels mcnemar(exact=True); log10p exact),",
        "Newcombe's paired-difference interval (method 10, from the paper's formulas).",
        "Made by scripts/make_stats_fixtures.py."])
    # the beta distribution at real-valued shapes
    for a, b in [(0.5, 0.5), (1.0, 1.0), (2.5, 7.3), (0.3, 40.0), (60.0, 0.7), (12.0, 15.5),
                 (350.0, 20000.0), (4.0, 99997.0)]:
        xs = sorted(set(float(v) for v in stats.beta.ppf([1e-12, 1e-6, 0.01, 0.3, 0.5, 0.77, 0.99, 1 - 1e-9], a, b)))
        ps, qs = [], []
        for p in [1e-300, 1e-30, 1e-8, 0.001, 0.025, 0.2, 0.5, 0.8, 0.975, 0.999999]:
            with warnings.catch_warnings():  # boost's root finder gives up on some far tails
                warnings.simplefilter("error")
                try:
                    qs.append(float(stats.beta.ppf(p, a, b)))
                    ps.append(p)
                except RuntimeWarning:
                    pass
        w.case("beta/%g/%g" % (a, b), a=a, b=b, x=xs, cdf=[float(stats.beta.cdf(x, a, b)) for x in xs],
               prob=ps, ppf=qs)
    # Clopper-Pearson and Wilson: n up to 1e5, k at the extremes and inside
    worst = 0.0
    for n in [1, 2, 7, 50, 1000, 10000, 100000]:
        ks = sorted(set(k for k in [0, 1, 2, 5, n // 3, n // 2, n - 5, n - 2, n - 1, n] if 0 <= k <= n))
        for level in (0.95, 0.99, 0.999999):
            lo_b, hi_b, lo_w, hi_w = [], [], [], []
            for k in ks:
                lo, hi = proportion_confint(k, n, alpha=1 - level, method="beta")
                lo, hi = float(lo), float(hi)
                if n <= 1000:  # the defining equations, exactly: the error in x they imply
                    q = mpmath.mpf(1 - level) / 2
                    if k > 0:
                        dx = (binom_tail_exact(k, n, lo, False) - q) / beta_pdf(lo, k, n - k + 1)
                        worst = max(worst, abs(float(dx / lo)))
                    if k < n:
                        dx = (binom_tail_exact(k + 1, n, hi, True) - q) / beta_pdf(hi, k + 1, n - k)
                        worst = max(worst, abs(float(dx / hi)))
                lo_b.append(lo)
                hi_b.append(hi)
                lw, hw = proportion_confint(k, n, alpha=1 - level, method="wilson")
                lo_w.append(float(lw))
                hi_w.append(float(hw))
            w.case("proportion/%d/%g" % (n, level), n=n, level=level, k=ks, cp_lo=lo_b, cp_hi=hi_b,
                   wilson_lo=lo_w, wilson_hi=hi_w)
    print("Clopper-Pearson (statsmodels): worst relative error in x by the exact tails", worst)
    assert worst < 1e-12
    # exact McNemar
    pairs = [(0, 0), (0, 1), (1, 1), (3, 10), (10, 3), (25, 40), (7, 7), (100, 140), (0, 2000),
             (1, 3000), (400, 600), (5000, 5100), (49000, 50000), (12, 0)]
    bs, cs, ps, l10 = [], [], [], []
    for b, c in pairs:
        r = mcnemar([[0, b], [c, 0]], exact=True)
        n, k = b + c, min(b, c)
        s_ = 0
        term = 1
        for i in range(0, k + 1):  # sum_{i <= k} C(n, i), exactly
            if i > 0:
                term = term * (n - i + 1) // i
            s_ += term
        exact = min(mpmath.mpf(1), 2 * mpmath.mpf(s_) / mpmath.mpf(2) ** n)
        lp = float(mpmath.log10(exact))
        if r.pvalue > 1e-300:
            assert abs(float(exact) - r.pvalue) <= 1e-9 * r.pvalue, (b, c, exact, r.pvalue)
        bs.append(b)
        cs.append(c)
        ps.append(float(r.pvalue))
        l10.append(lp)
    w.case("mcnemar", b=bs, c=cs, p=ps, log10p=l10)
    # Newcombe's interval for paired differences
    tables = [(40, 5, 1, 4), (1, 1, 7, 12), (0, 3, 0, 0), (50, 0, 0, 50), (10, 0, 0, 0),
              (0, 0, 0, 9), (700, 80, 30, 190), (8000, 900, 250, 850), (3, 1, 1, 3), (0, 5, 5, 0)]
    for level in (0.95, 0.9):
        d, lo, hi = zip(*(newcombe_paired(*t, level) for t in tables))
        w.case("paired/%g" % level, level=level, n11=[t[0] for t in tables],
               b=[t[1] for t in tables], c=[t[2] for t in tables], n00=[t[3] for t in tables],
               diff=d, lo=lo, hi=hi)
    w.save()


def step_area(d, e):
    """Integral over [0, e] of acc(t) = mean(d > t), from the breakpoints of the step function."""
    d = np.asarray(d, float)
    xs = [0.0] + [float(v) for v in np.unique(d) if 0 < v < np.inf]
    area = 0.0
    for j, x0 in enumerate(xs):
        x1 = xs[j + 1] if j + 1 < len(xs) else np.inf
        lo, hi = min(x0, e), min(x1, e)
        area += np.mean(d > x0) * (hi - lo)
    return area


def optimality_paper(dist, best):
    """Local optimality (Cina et al., AttackBench, AAAI 2025): 1 - (A - A*) / (c eps* - A*),
    areas of the step security curves over [0, eps*], eps* the largest finite envelope
    distance, c the envelope's clean accuracy."""
    best = np.asarray(best, float)
    emax = float(np.max(best[np.isfinite(best)]))
    c = np.mean(best > 0)
    a, astar = step_area(dist, emax), step_area(best, emax)
    return emax, c, a, astar, 1 - (a - astar) / (c * emax - astar)


def optimality_attackbench_code(dist, best):
    """What attackbench/AttackBench analysis/utils.py computes (np.trapz through the unique
    distances, clipped at the largest envelope distance), for comparison only."""
    best = np.asarray(best, float)
    dist = np.asarray(dist, float)
    u, cnt = np.unique(best, return_counts=True)
    ra = 1 - cnt.cumsum() / len(best)
    c = np.count_nonzero(best) / len(best)
    emax = np.amax(u)
    best_area = np.trapz(ra, u)
    u2, cnt2 = np.unique(dist.clip(max=emax), return_counts=True)
    area = np.trapz(1 - cnt2.cumsum() / len(dist), u2)
    return 1 - (area - best_area) / (c * emax - best_area)


def security_fixtures():
    rng = np.random.default_rng(29)
    w = Writer("stats_security.txt", [
        "Security curves (breakpoints, grid values, median, normalised area) and AttackBench",
        "optimality, from the definitions with numpy. Made by scripts/make_stats_fixtures.py."])
    sets = {
        "tiny": [0.3, 0.0, np.inf, 0.1, 0.3],
        "all_zero": [0.0, 0.0, 0.0],
        "all_inf": [np.inf, np.inf],
        "one": [0.25],
        "ties": list(np.round(rng.uniform(0, 0.1, 60), 2)) + [0.0] * 7 + [np.inf] * 3,
        "lognormal": list(np.where(rng.uniform(size=300) < 0.15, 0.0,
                                   np.round(np.exp(rng.normal(np.log(0.03), 0.5, 300)), 6))),
        "median_inf": [0.1, np.inf, np.inf, 0.2],
    }
    for name, d in sets.items():
        d = np.asarray(d, float)
        xs = np.array([0.0] + [v for v in np.unique(d) if 0 < v < np.inf])
        ys = np.array([np.mean(d > x) for x in xs])
        grid = [-1.0, 0.0, 0.05, 0.1, 0.1 + 1e-12, 0.2, 0.3, 1e9, float(np.inf)]
        acc = [float(np.mean(d > e)) for e in grid]
        emaxs = [0.05, 0.3]
        w.case("security/" + name, d=d, eps=xs, acc=ys, grid=grid, grid_acc=acc,
               median=float(np.median(d)), eps_max=emaxs,
               auc=[step_area(d, e) / e for e in emaxs], n_zero=int(np.sum(d == 0)),
               n_inf=int(np.sum(np.isinf(d))))
    # AttackBench: 4 attacks of different strength on 200 samples, some failures
    n = 200
    true_d = np.where(rng.uniform(size=n) < 0.12, 0.0, np.exp(rng.normal(np.log(0.03), 0.4, n)))
    attacks = []
    for over, fail in [(1.0, 0.0), (1.15, 0.02), (1.6, 0.1), (3.0, 0.4)]:
        a = np.round(true_d * (over + np.abs(rng.normal(0, 0.08, n))), 6)
        a[(rng.uniform(size=n) < fail) & (true_d > 0)] = np.inf
        attacks.append(a)
    best = np.minimum.reduce(attacks)
    kv = {"n": n, "best": best}
    for j, a in enumerate(attacks):
        kv["a%d" % j] = a
    opts = [optimality_paper(a, best) for a in attacks]
    kv["eps_max"] = opts[0][0]
    kv["clean_acc"] = opts[0][1]
    kv["area"] = [o[2] for o in opts]
    kv["area_best"] = opts[0][3]
    kv["optimality"] = [o[4] for o in opts]
    print("AttackBench optimality, paper (exact areas) vs reference code (trapezoids):",
          [(round(o[4], 6), round(float(optimality_attackbench_code(a, best)), 6))
           for o, a in zip(opts, attacks)])
    w.case("optimality/four_attacks", **kv)
    w.save()


def main():
    if not sys.executable.startswith("/usr/bin/python3"):
        print("warning: not Debian's python3; versions may differ", file=sys.stderr)
    mwu_fixtures()
    auc_fixtures()
    misc_fixtures()
    csv_fixture()
    binom_fixtures()
    security_fixtures()


if __name__ == "__main__":
    main()
