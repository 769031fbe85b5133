"""A police force's own export: every report police-sourced, no episodes (issue 13, items 6 and 7).

``hotspots evaluate`` must name the cause and the fix (or choose ``reports`` and say so), never an
internal message; the weekly report leaves out the sections it has no data for, saying why once, and
says "all from one source" once instead of flagging every hot spot.
"""

from __future__ import annotations

import json
import random
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

import h3
import pytest

from analytics.errors import InvalidInputError
from analytics.privacy import key_fingerprint
from pipelines import cli
from pipelines import store as store_mod
from pipelines.evaluate import run_evaluation
from pipelines.ingest import ingest_file
from pipelines.report import NO_EPISODES_LINE
from pipelines.weekly import run_weekly
from tests.conftest import REPORT_HEADER, TEST_KEY, report, write_csv

START = "2025-04-07"
SITES = [(-33.87 + 0.004 * i, 151.20 + 0.004 * j) for i in range(5) for j in range(5)]
TARGET = h3.latlng_to_cell(*SITES[12], 9)


def write_reports(path: Path, source: str | None = "police", weeks: int = 30, seed: int = 1) -> Path:
    """Reports at 25 sites for ``weeks`` weeks from 2025-W02, all from ``source`` (None: mixed sources)."""
    rng = random.Random(seed)
    rows, n = [], 0
    first = datetime(2025, 1, 6, 12)
    for w in range(weeks):
        for lat, lon in SITES:
            for _ in range(rng.randint(0, 3)):
                n += 1
                at = first + timedelta(weeks=w, hours=rng.randint(0, 140))
                rows.append(report(report_id=f"R{n}", observed_at=at.strftime("%Y-%m-%dT%H:%M:%S+11:00"),
                                   lat=f"{lat + rng.uniform(-5e-4, 5e-4):.6f}",
                                   lon=f"{lon + rng.uniform(-5e-4, 5e-4):.6f}", episode_id="", person_ref="",
                                   source=source or rng.choice(["police", "community", "care_provider"])))
    return write_csv(path, REPORT_HEADER, rows)


def make_store(folder: Path, source: str | None = "police") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "store.duckdb"
    store_mod.init_store(db, key_fingerprint=key_fingerprint(TEST_KEY))
    with store_mod.opened(db) as st:
        result = ingest_file(st, "reports", write_reports(folder / "reports.csv", source), TEST_KEY)
        assert result.rejected == 0
    return db


@pytest.fixture(scope="module")
def police_db(tmp_path_factory) -> Path:
    return make_store(tmp_path_factory.mktemp("police_only"))


# ------------------------------------------------------------------------------ evaluate (item 6)
def test_default_outcome_becomes_reports_and_says_so(police_db, tmp_path):
    with store_mod.opened(police_db, read_only=True) as st:
        result = run_evaluation(st, TARGET, START, out_dir=tmp_path / "ev", n_boot=200)
    assert result["outcome"] == "reports"
    choice = [c for c in result["choices"] if c.startswith("Outcome set to 'reports'")]
    assert len(choice) == 1 and "police-sourced" in choice[0] and "reports_non_police" in choice[0]
    assert any("detection-driven" in w and "no 'reports_non_police' outcome to prefer" in w
               for w in result["warnings"])
    saved = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert saved["outcome"] == "reports" and choice[0] in saved["choices"]
    html = (tmp_path / "ev" / "evaluation.html").read_text()
    assert "Outcome set to &#39;reports&#39;" in html or "Outcome set to 'reports'" in html
    assert result["methods"]["did"]["relative_effect"] is not None


def test_explicit_non_police_outcome_names_cause_and_fix(police_db, tmp_path):
    with store_mod.opened(police_db, read_only=True) as st, pytest.raises(InvalidInputError) as info:
        run_evaluation(st, TARGET, START, outcome="reports_non_police", out_dir=tmp_path / "ev")
    message = str(info.value)
    assert message.startswith("Outcome 'reports_non_police' has no events: all ")
    assert "are police-sourced" in message and "--outcome reports" in message and "inflates" in message
    assert "\n" not in message


def test_cli_police_only_is_one_line_error_or_a_stated_choice(police_db, tmp_path, monkeypatch, capsys, key_env):
    args = ["hotspots", "evaluate", "--db", str(police_db), "--target", TARGET, "--start", START]
    monkeypatch.setattr(sys, "argv", [*args, "--outcome", "reports_non_police", "--out", str(tmp_path / "a")])
    with pytest.raises(SystemExit) as info:
        cli.main()
    err = capsys.readouterr().err
    assert info.value.code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[0].startswith("Error: Outcome 'reports_non_police' has no events")
    assert "Traceback" not in err and "--outcome reports" in " ".join(err.split())
    monkeypatch.setattr(sys, "argv", [*args, "--out", str(tmp_path / "b")])
    with pytest.raises(SystemExit) as info:
        cli.main()
    captured = capsys.readouterr()
    assert info.value.code == 0, captured.err
    assert "note: Outcome set to 'reports'" in " ".join(captured.out.split())


# ------------------------------------------------------------------------------ report (item 7)
@pytest.fixture(scope="module")
def police_weekly(police_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("police_weekly")
    with store_mod.opened(police_db, read_only=True) as st:
        run = run_weekly(st, "2025-W30", out, config={"hotspots": {"scan_replicates": 0}})
    return run, (run.out_dir / "report.html").read_text(encoding="utf-8")


def test_report_without_episodes_leaves_out_equity_and_says_why(police_weekly):
    run, html = police_weekly
    assert html.count(NO_EPISODES_LINE) == 1
    assert 'id="equity"' not in html and "Who is affected" not in html
    assert "This week&#39;s episodes" not in html and "This week's episodes" not in html
    headings = re.findall(r"<h2>(\d+)\. ", html)
    assert headings == [str(i) for i in range(1, len(headings) + 1)]  # numbered without a gap
    assert not run.privacy_findings


def test_one_source_is_said_once_not_flagged_per_cell(police_weekly):
    _, html = police_weekly
    assert html.count('id="single-source"') == 1
    assert re.search(r'id="single-source">All [\d,]+ reports in the weeks analysed came from police', html)
    assert "⚑" not in html and "feedback-loop risk" not in html
    assert "Not checked per hot spot: every report came from one source" in html


def test_mixed_sources_keep_the_per_cell_check(tmp_path):
    db = make_store(tmp_path / "mixed", source=None)
    with store_mod.opened(db, read_only=True) as st:
        run = run_weekly(st, "2025-W30", tmp_path / "out", config={"hotspots": {"scan_replicates": 0}})
    html = (run.out_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="single-source"' not in html
    assert "Feedback-loop check" in html and "top hot spots have more" in html
