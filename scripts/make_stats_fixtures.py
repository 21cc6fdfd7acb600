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
  - normal tail and quantile: mpmath (logsf) and scipy.stats.norm.ppf.

File format: blocks "case NAME" ... "end"; inside, one "key value value ..." per line.
"""
import os
import sys

import mpmath
import numpy as np
import scipy
from scipy import stats
from scipy.stats import _mannwhitneyu as smwu
from sklearn.metrics import roc_auc_score, roc_curve

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


def main():
    if not sys.executable.startswith("/usr/bin/python3"):
        print("warning: not Debian's python3; versions may differ", file=sys.stderr)
    mwu_fixtures()
    auc_fixtures()
    misc_fixtures()
    csv_fixture()


if __name__ == "__main__":
    main()
