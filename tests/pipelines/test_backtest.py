"""``run_backtest`` on the committed SYNTHETIC sample (a few origins; the CLI default is 26)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analytics.errors import InvalidInputError
from pipelines import store as store_mod
from pipelines.backtest import METHODS, run_backtest


@pytest.fixture(scope="module")
def sample_db(sample_store):
    return sample_store.db


def test_backtest_outputs(sample_db, tmp_path):
    seen = []
    with store_mod.opened(sample_db, read_only=True) as st:
        r = run_backtest(st, weeks=3, coverage=(1, 5, 10, 20), out_dir=tmp_path, n_boot=200,
                         progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (3, 3)
    on_disk = json.loads((tmp_path / "backtest.json").read_text())
    assert on_disk["origins"]["n"] == 3 and on_disk["synthetic"] is True
    assert len(on_disk["summary"]) == len(METHODS) * 4
    for row in on_disk["summary"]:
        assert 0 <= row["pei_star"] <= 1 and row["pai"] >= 0
        assert row["pei_star_ci_low"] <= row["pei_star"] <= row["pei_star_ci_high"]
    ev = on_disk["engine_vs_last_week"]
    assert ev["coverage"] == 5 and isinstance(ev["engine_beats_last_week"], bool)
    assert ev["verdict"].startswith(("Yes", "No", "Not shown"))
    per = pd.read_csv(tmp_path / "backtest_origins.csv")
    assert len(per) == 3 * len(METHODS) * 4 and (per["synthetic"].str.startswith("SYNTHETIC")).all()
    html = (tmp_path / "backtest.html").read_text()
    assert "SYNTHETIC DATA" in html and "<svg" in html and ev["verdict"].split(":")[0] in html
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_backtest_rejects_bad_options(sample_db, tmp_path):
    with store_mod.opened(sample_db, read_only=True) as st:
        with pytest.raises(InvalidInputError, match="coverage"):
            run_backtest(st, weeks=2, coverage=(0, 5), out_dir=tmp_path)
        with pytest.raises(InvalidInputError, match="history"):
            run_backtest(st, weeks=200, out_dir=tmp_path)
