"""Displacement tests: weighted displacement difference (WDD) and quotient (WDQ)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from analytics.errors import InvalidInputError
from analytics.evaluation.common import _clean, _count_arg, _z


@dataclass(frozen=True)
class WDDResult:
    """Weighted displacement difference; negative = fewer events net of displacement."""

    wdd: float
    variance: float
    se: float
    z: float
    p: float
    ci_low: float
    ci_high: float
    delta_t: float
    delta_c: float
    delta_d: float
    delta_cd: float
    direct: float            # ΔT − ΔC (the treated area alone)
    direct_z: float
    displacement: float      # ΔD − ΔC_D (> 0: displacement to the buffer; < 0: diffusion of benefits)
    displacement_z: float

    def as_dict(self) -> dict:
        return _clean(asdict(self))


def wdd(t_before, t_after, c_before, c_after, d_before=0, d_after=0, cd_before=0, cd_after=0, *,
        control_weight: float = 1.0, buffer_control_weight: float = 1.0, before_scale: float = 1.0,
        alpha: float = 0.05) -> WDDResult:
    """Weighted displacement difference test (Wheeler & Ratcliffe 2018).

    Parameters
    ----------
    t_before, t_after, c_before, c_after, d_before, d_after, cd_before, cd_after : count or counts
        Events in the treated area (T), its control (C), the displacement buffer (D) and
        the buffer's control (C_D), before and after (arrays are summed).
    control_weight, buffer_control_weight : float, default 1
        Multipliers of the control counts (e.g. 1/k when the control is k matched cells per
        treated cell); 1 gives the textbook test.
    before_scale : float, default 1
        Multiplier of every "before" count, ``weeks_after / weeks_before`` when the periods
        differ in length; 1 (equal periods) gives the textbook test.

    Notes
    -----
    Wheeler, A. P. & Ratcliffe, J. H. (2018), *A simple weighted displacement difference
    test to evaluate place based crime interventions*, Crime Science 7:11.

    .. math:: WDD = \\Delta T - \\Delta C + \\Delta D - \\Delta C_D, \\quad
              \\operatorname{Var}(WDD) = \\textstyle\\sum \\text{of the eight counts}

    (Δ = after − before; counts taken as independent Poisson). With weights,
    ``ΔC = w_C (C_a − s C_b)`` and each count enters the variance times its squared
    multiplier. z = WDD / √Var, p two-sided from the normal.

    Examples
    --------
    >>> r = wdd(60, 40, 50, 55, 30, 35, 40, 38)
    >>> r.wdd, r.variance, round(r.z, 4)
    (-18.0, 348.0, -0.9649)
    """
    tb, ta, cb, ca = (_count_arg(n, v) for n, v in (("t_before", t_before), ("t_after", t_after),
                                                     ("c_before", c_before), ("c_after", c_after)))
    db, da, cdb, cda = (_count_arg(n, v) for n, v in (("d_before", d_before), ("d_after", d_after),
                                                       ("cd_before", cd_before), ("cd_after", cd_after)))
    s, wc, wcd = float(before_scale), float(control_weight), float(buffer_control_weight)
    if min(s, wc, wcd) <= 0:
        raise InvalidInputError("before_scale and the control weights must be > 0.")
    z_a = _z(alpha)
    d_t, d_c = ta - s * tb, wc * (ca - s * cb)
    d_d, d_cd = da - s * db, wcd * (cda - s * cdb)
    var_direct = ta + s * s * tb + wc * wc * (ca + s * s * cb)
    var_disp = da + s * s * db + wcd * wcd * (cda + s * s * cdb)
    value = d_t - d_c + d_d - d_cd
    var = var_direct + var_disp
    se = math.sqrt(var) if var > 0 else math.nan
    z = value / se if se > 0 else math.nan
    p = float(2 * stats.norm.sf(abs(z))) if math.isfinite(z) else math.nan

    def _zz(v, vv):
        return v / math.sqrt(vv) if vv > 0 else math.nan

    return WDDResult(value, var, se, z, p, value - z_a * se, value + z_a * se, d_t, d_c, d_d, d_cd,
                     d_t - d_c, _zz(d_t - d_c, var_direct), d_d - d_cd, _zz(d_d - d_cd, var_disp))


# ----------------------------------------------------------------------------------------- WDQ
@dataclass(frozen=True)
class WDQResult:
    """Weighted displacement quotient and its success measure."""

    sm: float               # success measure R_a/C_a − R_b/C_b (< 0: the treated area improved)
    bdm: float              # buffer displacement measure B_a/C_a − B_b/C_b
    wdq: float              # BDM / SM; NaN when not meaningful
    meaningful: bool        # SM < 0 (Bowers & Johnson: only then is WDQ interpretable)
    interpretation: str
    ci_low: float
    ci_high: float
    bootstrap: str          # "weeks" (paired resampling of weeks) or "poisson" (parametric)
    n_boot: int
    share_sm_not_negative: float  # replicates where the treated area did not improve (left out of the interval)

    def as_dict(self) -> dict:
        return _clean(asdict(self))


def _wdq_parts(r_b, r_a, c_b, c_a, b_b, b_a):
    with np.errstate(divide="ignore", invalid="ignore"):
        sm = r_a / c_a - r_b / c_b
        bdm = b_a / c_a - b_b / c_b
        q = np.where(sm < 0, bdm / sm, np.nan)
    return sm, bdm, q


def _wdq_text(sm: float, q: float) -> str:
    if not (sm < 0):
        return ("not meaningful: the treated area did not improve relative to the control (SM >= 0), so there is "
                "no benefit to be displaced or diffused")
    if q > 0:
        return "diffusion of benefits: the buffer also improved relative to the control"
    if q < -1:
        return "displacement larger than the benefit: the buffer worsened by more than the treated area improved"
    if q < 0:
        return "some displacement: the buffer worsened, by less than the treated area improved"
    return "no change in the buffer relative to the control"


def wdq(r_before, r_after, c_before, c_after, b_before, b_after, *, n_boot: int = 2000, alpha: float = 0.05,
        seed: int = 0) -> WDQResult:
    """Weighted displacement quotient (Bowers & Johnson 2003) with a bootstrap interval.

    Parameters
    ----------
    r_before, r_after, c_before, c_after, b_before, b_after : count or 1-d weekly counts
        Treated area (R), control (C) and buffer (B), before and after. Weekly series
        are bootstrapped by resampling weeks within each period (the same weeks for all
        three areas, keeping their correlation); totals alone get a parametric Poisson
        bootstrap.

    Notes
    -----
    Bowers, K. J. & Johnson, S. D. (2003), *Measuring the geographical displacement and
    diffusion of benefit effects of crime prevention activity*, J. Quant. Criminology 19.

    .. math:: SM = R_a/C_a - R_b/C_b, \\quad BDM = B_a/C_a - B_b/C_b, \\quad WDQ = BDM / SM

    WDQ is meaningful only when SM < 0 (the treated area improved). WDQ > 0: diffusion
    of benefits; −1 < WDQ < 0: some displacement; WDQ < −1: displacement exceeding the
    benefit. The interval is the percentile interval of the replicates in which SM < 0.

    Examples
    --------
    >>> r = wdq(100, 60, 1000, 1000, 50, 60, n_boot=0)
    >>> round(r.sm, 4), round(r.bdm, 4), round(r.wdq, 4), r.meaningful
    (-0.04, 0.01, -0.25, True)
    """
    arrays = [np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in
              (r_before, r_after, c_before, c_after, b_before, b_after)]
    for name, a in zip(("r_before", "r_after", "c_before", "c_after", "b_before", "b_after"), arrays):
        if a.ndim != 1 or not np.all(np.isfinite(a)) or (a < 0).any():
            raise InvalidInputError(f"{name} must be a count or a 1-d series of counts >= 0.")
    rb, ra, cb, ca, bb, ba = arrays
    if len(rb) != len(cb) or len(rb) != len(bb) or len(ra) != len(ca) or len(ra) != len(ba):
        raise InvalidInputError("Treated, control and buffer series must cover the same weeks in each period.")
    if cb.sum() <= 0 or ca.sum() <= 0:
        raise InvalidInputError("The control area has no events before or after; WDQ needs C_b > 0 and C_a > 0.")
    sm, bdm, q = (float(x) for x in _wdq_parts(rb.sum(), ra.sum(), cb.sum(), ca.sum(), bb.sum(), ba.sum()))
    meaningful = sm < 0
    z_lo, z_hi = alpha / 2, 1 - alpha / 2
    lo = hi = math.nan
    share_bad = math.nan
    method = "weeks" if len(rb) >= 2 and len(ra) >= 2 else "poisson"
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        if method == "weeks":
            ib = rng.integers(0, len(rb), (n_boot, len(rb)))
            ia = rng.integers(0, len(ra), (n_boot, len(ra)))
            parts = [rb[ib].sum(1), ra[ia].sum(1), cb[ib].sum(1), ca[ia].sum(1), bb[ib].sum(1), ba[ia].sum(1)]
        else:
            parts = [rng.poisson(x.sum(), n_boot).astype(float) for x in (rb, ra, cb, ca, bb, ba)]
        bsm, _, bq = _wdq_parts(*parts)
        ok = bsm < 0
        share_bad = float(1 - ok.mean())
        if meaningful and ok.sum() >= 20:
            lo, hi = (float(x) for x in np.quantile(bq[ok], [z_lo, z_hi]))
    return WDQResult(sm, bdm, q if meaningful else math.nan, bool(meaningful), _wdq_text(sm, q), lo, hi, method,
                     int(n_boot), share_bad)
