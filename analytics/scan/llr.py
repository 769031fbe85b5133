"""The scan's formulas: the Poisson GLR of a cylinder, the recurrence interval, and the
tabulated LLR kernel the Monte Carlo evaluates (Kulldorff et al. 2005)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.errors import InvalidInputError

_TOL = 1e-9                  # relative tolerance when a replicate's max LLR is compared with an observed one



def scan_llr(c, mu, total: float, min_cases: int = 1) -> np.ndarray:
    """Poisson generalised log-likelihood ratio of cylinders (high rates only).

    Parameters
    ----------
    c : array_like
        Observed events in each cylinder, ``c_A``.
    mu : array_like
        Expected events, ``μ_A`` (broadcast against ``c``).
    total : float
        ``C``, all events.
    min_cases : int, default 1
        Cylinders with fewer observed events get LLR 0.

    Returns
    -------
    numpy.ndarray
        ``c ln(c/μ) + (C − c) ln((C − c)/(C − μ))`` where ``c > μ`` and
        ``c >= min_cases``; 0 elsewhere. The second term is 0 when ``c = C``.

    Notes
    -----
    Kulldorff, Heffernan, Hartman, Assunção & Mostashari (2005), "A space-time
    permutation scan statistic for disease outbreak detection", *PLoS Medicine*
    2(3): e59, eq. for the GLR under the Poisson approximation.

    Examples
    --------
    >>> round(float(scan_llr(4, 1.0, 10)), 6)
    3.112387
    """
    c = np.asarray(c, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    total = float(total)
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = total - c
        first = c * np.log(c / mu)
        second = np.where(rest > 0, rest * np.log(rest / (total - mu)), 0.0)
        llr = first + second
    keep = (c > mu) & (c >= min_cases)
    return np.where(keep, llr, 0.0)


def recurrence_interval(p, analyses_per_week: float = 1.0) -> np.ndarray:
    """Recurrence interval in weeks, ``RI = 1 / (1 − (1 − p)^(1/I))``.

    Parameters
    ----------
    p : array_like
        Monte Carlo p-values.
    analyses_per_week : float, default 1
        ``I``, analyses per week. The weekly run does one analysis per week, so
        ``I = 1`` and ``RI = 1/p`` weeks: the expected time between false alarms
        at least this strong if nothing unusual were happening.

    Notes
    -----
    Kulldorff (2001), "Prospective time periodic geographical disease
    surveillance using a scan statistic", *JRSS A* 164: 61–72; SaTScan User
    Guide, "Recurrence interval".

    Examples
    --------
    >>> round(float(recurrence_interval(0.001)), 6)
    1000.0
    """
    if not analyses_per_week > 0:
        raise InvalidInputError(f"analyses_per_week must be positive; received {analyses_per_week!r}.")
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 1.0 / -np.expm1(np.log1p(-p) / analyses_per_week)


@dataclass(frozen=True)
class _LLRKernel:
    """The LLR of every cylinder for integer counts, without a logarithm per cylinder and replicate.

    Why: the Monte Carlo evaluates ``scan_llr`` on zones × windows × replicates (10^8–10^9
    values); its logs and divisions were most of the scan's time. For a cylinder with
    expected ``μ`` and an integer count ``c``,

    ``LLR = c ln(c/μ) + (C−c) ln((C−c)/(C−μ)) = T[c] − c·a − b`` with
    ``T[c] = c ln c + (C−c) ln(1 − c/C)`` (tabulated once for ``c = 0 … k``),
    ``a = ln μ − ln(1 − μ/C)`` and ``b = C ln(1 − μ/C)`` (once per cylinder).

    Using ``log1p`` for ``ln(1 − x/C)`` keeps the second term accurate (it is a small
    difference of large numbers); the result agrees with :func:`scan_llr` to ~1e-11
    relative, far inside the 1e-9 tolerance of the p-value comparison. The candidate mask
    ``c > μ and c >= min_cases`` is ``c > thr`` with ``thr = max(μ, min_cases − 1)``
    because ``c`` is a whole number.
    """

    table: np.ndarray   # T[c], c = 0 … k
    a: np.ndarray       # (n_zones, W)
    b: np.ndarray       # (n_zones, W)
    thr: np.ndarray     # (n_zones, W)

    @classmethod
    def build(cls, mu: np.ndarray, total: int, k: int, min_cases: int) -> "_LLRKernel":
        c = np.arange(k + 1, dtype=np.float64)
        rest = total - c
        with np.errstate(divide="ignore", invalid="ignore"):
            table = (np.where(c > 0, c * np.log(c), 0.0)
                     + np.where(rest > 0, rest * np.log1p(-c / total), 0.0))
            log_out = np.log1p(-mu / total)
            a = np.log(mu) - log_out
        live = mu > 0  # a zone with no events in the whole history can never be a candidate
        return cls(table, np.where(live, a, 0.0), np.where(live, total * log_out, 0.0),
                   np.maximum(mu, min_cases - 1))

    def max_llr(self, cz: np.ndarray) -> np.ndarray:
        """Max LLR per replicate of counts ``cz`` (n_zones, B, W) holding whole numbers."""
        ci = cz.astype(np.intp)
        llr = self.table[ci]
        llr -= ci * self.a[:, None, :]
        llr -= self.b[:, None, :]
        llr[ci <= self.thr[:, None, :]] = 0.0
        return llr.max(axis=0).max(axis=1)

    def min_count(self, level: float) -> np.ndarray:
        """Per cylinder, the smallest whole count whose LLR reaches ``level`` (k + 1 if none does).

        The LLR rises with ``c`` above ``μ``, so a vectorised bisection over ``c`` finds it.
        ``level`` is lowered by a relative 1e-9 so that rounding in the tabulated LLR (~1e-11)
        can never hide a cylinder that reaches ``level`` (see :meth:`max_llr_pruned`).
        """
        target = level - _TOL * max(1.0, abs(level))
        k = self.table.shape[0] - 1
        lo = np.floor(self.thr).astype(np.int64) + 1       # smallest candidate count
        hi = np.full(lo.shape, k + 1, dtype=np.int64)
        lo = np.minimum(lo, hi)
        while np.any(lo < hi):
            mid = (lo + hi) // 2
            ok = self.table[np.minimum(mid, k)] - mid * self.a - self.b >= target
            ok &= mid <= k
            hi = np.where(ok, mid, hi)
            lo = np.where(ok, lo, mid + 1)
        return hi

    def max_llr_pruned(self, cz: np.ndarray, need: np.ndarray, level: float) -> np.ndarray:
        """:meth:`max_llr`, exactly, evaluating the LLR only where ``cz >= need`` (``need = min_count(level)``).

        Why: a replicate's maximum is one of a handful of cylinders; a comparison per cylinder
        is several times cheaper than its LLR. Where the LLR reaches ``level``, ``cz >= need``,
        so a replicate whose pruned maximum reaches ``level`` has its true maximum; the few
        replicates below ``level`` are evaluated in full.
        """
        zi, bi, wi = np.nonzero(cz >= need[:, None, :])
        c = cz[zi, bi, wi].astype(np.float64)
        llr = self.table[c.astype(np.intp)] - c * self.a[zi, wi] - self.b[zi, wi]
        out = np.zeros(cz.shape[1])
        np.maximum.at(out, bi, llr)
        low = out < level
        if low.any():
            out[low] = self.max_llr(cz[:, low, :])
        return out
