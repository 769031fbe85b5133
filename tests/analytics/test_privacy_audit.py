"""Small-count suppression that holds against the table's margins (issue 12, item 6).

The audit is the attack: given the published cells and total of a one-way table, the interval
each hidden cell can lie in is the minimum and maximum of that cell over all tables agreeing
with what is published (solved here with scipy's linprog, independently of the closed form in
:func:`analytics.privacy.disclosure_intervals`). Two readers are modelled:

* A (the issue's audit): every hidden cell is only known to be in [0, total]; a hidden cell is
  safe when its maximum is at least k (the total cannot show it is below k);
* B (a reader who also uses the labels): ``"<k"`` is in [1, k−1] and ``"*"`` beside a ``"<k"`` is
  at least k; safe when every ``"<k"`` still ranges over all of [1, k−1] and no hidden cell is pinned.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.optimize import linprog

from analytics.privacy import (SECONDARY_MARK, disclosure_intervals, suppress_count, suppress_table,
                               table_is_protected)


def _hidden(v) -> bool:
    return not (isinstance(v, (int, np.integer)) or (isinstance(v, str) and v.isdigit()))


def _as_published(labels: list[str]) -> list:
    return [int(v) if v.isdigit() else v for v in labels]


def lp_intervals(published: list, total: int, k: int | None) -> dict[int, tuple[float, float]]:
    """(min, max) of each hidden cell by linear programming (reader B with k, reader A without)."""
    hidden = [i for i, v in enumerate(published) if _hidden(v)]
    if not hidden:
        return {}
    rest = total - sum(int(v) for v in published if not _hidden(v))
    has_small = k is not None and any(published[i] == f"<{k}" for i in hidden)
    bounds = []
    for i in hidden:
        if k is None:
            bounds.append((0, total))
        elif published[i] == f"<{k}":
            bounds.append((1, min(k - 1, total)))
        else:
            bounds.append((min(k, total) if has_small else 0, total))
    out = {}
    for j, i in enumerate(hidden):
        c = np.zeros(len(hidden))
        c[j] = 1.0
        lo = linprog(c, A_eq=np.ones((1, len(hidden))), b_eq=[rest], bounds=bounds, method="highs")
        hi = linprog(-c, A_eq=np.ones((1, len(hidden))), b_eq=[rest], bounds=bounds, method="highs")
        assert lo.status == 0 and hi.status == 0, "the published table must be feasible"
        out[i] = (lo.fun, -hi.fun)
    return out


def lp_max_reader_a(published: list, total: int) -> dict[int, float]:
    """Reader A's maximum of each hidden cell (one LP per cell)."""
    hidden = [i for i, v in enumerate(published) if _hidden(v)]
    rest = total - sum(int(v) for v in published if not _hidden(v))
    out = {}
    for j, i in enumerate(hidden):
        c = np.zeros(len(hidden))
        c[j] = -1.0
        r = linprog(c, A_eq=np.ones((1, len(hidden))), b_eq=[rest], bounds=[(0, total)] * len(hidden), method="highs")
        assert r.status == 0
        out[i] = -r.fun
    return out


def assert_holds(labels: list[str], counts: list[int], total: int, k: int, lp_b: bool = True) -> None:
    """The suppressed partition hides every small count, shows the rest exactly, and resists both readers.

    Reader A is always audited by linprog; reader B by the closed form, and by linprog too with ``lp_b``.
    """
    published = _as_published(labels)
    for c, v in zip(counts, labels):
        if 0 < c < k:
            assert v in (f"<{k}", SECONDARY_MARK), (counts, labels)
        elif v.isdigit():
            assert int(v) == c
    if total < k or not any(_hidden(v) for v in published):
        return
    closed = disclosure_intervals(published, total, k)
    for i, hi in lp_max_reader_a(published, total).items():
        assert hi >= k, f"reader A bounds hidden cell {i} below {k}: {counts} -> {labels}"
    if lp_b:
        b = lp_intervals(published, total, k)
        for i, (lo, hi) in b.items():
            assert closed[i] == pytest.approx((lo, hi), abs=1e-7)  # the closed form is the LP's answer
    for i, v in enumerate(published):
        if not _hidden(v):
            continue
        lo, hi = closed[i]
        assert hi - lo >= 1 - 1e-9, f"hidden cell {i} pinned: {counts} -> {labels}"
        if v == f"<{k}":
            assert lo <= 1 + 1e-9 and hi >= k - 1 - 1e-9, f"margin narrows <{k} cell {i}: {counts} -> {labels}"


# ---------------------------------------------------------------- worked examples
def test_issue_example_was_disclosive_and_is_now_protected():
    counts, total, k = [10, 9, 1, 1, 1], 22, 5
    old = ["10", "9", "<5", "<5", "<5"]  # the old rule hid nothing more: three hidden cells
    iv = disclosure_intervals(_as_published(old), total, k)
    assert iv[2:] == [(1.0, 1.0)] * 3  # 22 - 10 - 9 = 3 over three cells of at least 1: each is 1
    assert lp_intervals(_as_published(old), total, k)[2] == pytest.approx((1.0, 1.0))
    assert not table_is_protected(_as_published(old), total, k)
    new = suppress_table(counts, k, total)
    assert new == ["10", "*", "<5", "<5", "<5"]
    # hidden: 22 - 10 = 12 = three cells in [1, 4] plus one of at least 5: each "<5" can be 1..4
    assert disclosure_intervals(_as_published(new), total, k)[2:] == [(1.0, 4.0)] * 3
    assert_holds(new, counts, total, k)


@pytest.mark.parametrize("counts, total, expected", [
    ([12, 3, 7], 22, ["12", "<5", "*"]),             # one hidden cell: subtraction would give it
    ([0, 0, 9], 9, ["0", "0", "9"]),                 # nothing small, nothing hidden
    ([20, 2, 2], 24, ["*", "<5", "<5"]),             # 4 over two "<5": each at most 3, so hide the 20
    ([30, 40, 3, 4], 77, ["*", "40", "<5", "<5"]),   # 7 over two "<5": each at least 3, so hide the 30
    ([6, 1], 7, ["*", "*"]),                         # the 6 cannot cover the 1: the partition is hidden whole
    ([3, 3], 6, ["*", "*"]),                         # two "<5" adding to 6 would each be at least 2
    ([2, 1], 3, ["<5", "<5"]),                       # total itself below k: no margin is published
])
def test_worked_examples(counts, total, expected):
    got = suppress_table(counts, 5, total)
    assert got == expected
    assert_holds(got, counts, total, 5)


def test_no_total_means_primary_suppression_only():
    assert suppress_table([10, 2, 0], 5, None) == ["10", "<5", "0"]
    assert suppress_table([10, 2, 0], 1, 12) == ["10", "2", "0"]  # k = 1: the analyst-only detail


def test_audit_without_labels_is_the_issue_rule():
    # reader A: hidden cells only known to be >= 0; max = total - shown
    assert disclosure_intervals([10, 9, None, None, None], 22) == [None, None, (0.0, 3.0), (0.0, 3.0), (0.0, 3.0)]


# ---------------------------------------------------------------- random tables
def _random_tables(n: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        cells = int(rng.integers(2, 8))
        kind = rng.random()
        if kind < 0.4:  # mostly small: the hard case
            counts = rng.integers(0, 6, size=cells)
        elif kind < 0.8:
            counts = np.where(rng.random(cells) < 0.5, rng.integers(1, 5, size=cells), rng.integers(5, 40, size=cells))
        else:
            counts = rng.poisson(rng.uniform(1, 15), size=cells)
        k = int(rng.choice([5, 5, 5, 10]))
        yield [int(c) for c in counts], int(counts.sum()), k


def test_500_random_tables_hold_against_their_margin():
    n_hidden = n_secondary = 0
    for n, (counts, total, k) in enumerate(_random_tables(500, seed=20251206)):
        labels = suppress_table(counts, k, total)
        assert_holds(labels, counts, total, k, lp_b=n % 5 == 0)
        n_hidden += sum(not v.isdigit() for v in labels)
        n_secondary += labels.count(SECONDARY_MARK)
    assert n_hidden > 300 and n_secondary > 50  # the sample really exercised both rules


def test_primary_suppression_alone_fails_the_audit_often():
    """The audit can fail: with only "<k", many random tables give hidden counts away."""
    failures = 0
    for counts, total, k in _random_tables(200, seed=7):
        primary = [suppress_count(c, k) for c in counts]
        if total >= k and not table_is_protected(_as_published(primary), total, k):
            failures += 1
    assert failures > 20


# ---------------------------------------------------------------- the real report tables
def _equity_partitions(report_html: str) -> list[tuple[str, int, list[str], int]]:
    """(column, total, labels, k) of every age and gender partition of the report's equity table."""
    equity = report_html.split('<section id="equity">')[1].split("</section>")[0]
    k = int(re.search(r"Counts below (\d+) show", equity).group(1))
    head = equity.split("<thead>")[1].split("</thead>")[0]
    columns = re.findall(r'<th class="num">([^<]*)</th>', head)
    rows = {}
    for tr in re.findall(r"<tr[^>]*><td>([^<]*)</td>(.*?)</tr>", equity, re.S):
        rows[tr[0]] = [v.replace("&lt;", "<") for v in re.findall(r'<td class="num yp">([^<]*)</td>', tr[1])]
    out = []
    for j, col in enumerate(columns):
        total_label = rows["All young people"][j]
        if not total_label.isdigit():
            continue
        for prefix in ("Age ", "Gender: "):
            labels = [vals[j] for name, vals in rows.items() if name.startswith(prefix)]
            out.append((f"{col} {prefix.strip()}", int(total_label), labels, k))
    return out


@pytest.mark.slow  # builds and reports the whole sample (~40 s): `make test-slow`, which CI runs
def test_sample_report_equity_tables_hold(tmp_path_factory):
    from tests.pipelines.test_weekly import sample_weekly

    weekly = sample_weekly(tmp_path_factory)
    html = (weekly["out"] / "report.html").read_text(encoding="utf-8")
    parts = _equity_partitions(html)
    assert len(parts) >= 2
    hidden_parts = 0
    for name, total, labels, k in parts:
        published = _as_published(labels)
        if any(_hidden(v) for v in published):
            hidden_parts += 1
            shown = sum(v for v in published if not _hidden(v))
            assert shown <= total, name  # each breakdown is a partition of its column's total
            for i, (lo, hi) in lp_intervals(published, total, k).items():
                assert hi - lo >= 1 - 1e-9, f"{name}: hidden cell {i} pinned ({labels}, total {total})"
                if labels[i] == f"<{k}":
                    assert lo <= 1 + 1e-9 and hi >= k - 1 - 1e-9, f"{name}: {labels}, total {total}"
            for i, hi in lp_max_reader_a(published, total).items():
                assert hi >= k, f"{name}: {labels}, total {total}"
        else:
            assert sum(published) == total, name  # fully shown partitions add up exactly
    assert hidden_parts >= 1, "the sample's report should have suppressed cells to audit"


def test_equity_breakdowns_are_exact_partitions_of_the_total():
    """One profile per young person: two episodes with different ages or genders count once, so the
    margin the suppression is checked against is the true one."""
    import pandas as pd

    from pipelines.report import _equity_counts

    rows = pd.DataFrame({"person_key": ["a", "a", "b", "c"], "age_years": [13, 14, None, 16],
                         "gender": ["female", "male", "male", None], "disability": [False, True, None, "not_stated"],
                         "first_nations": [None] * 4, "cald": ["true", "false", False, True], "lgbtqia": [False] * 4})
    counts = _equity_counts(rows, ["female", "male", "not recorded"])
    total = counts["total"]["All young people"]
    assert total == 3
    assert sum(counts["age"].values()) == total and sum(counts["gender"].values()) == total
    assert counts["age"]["14–15"] == 1 and counts["age"]["12–13"] == 0  # the latest episode's age
    assert counts["flags"]["Disability"] == 1 and counts["flags"]["CALD"] == 2  # any episode's flag
