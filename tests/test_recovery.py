"""Recovery of planted hotspots on the committed SYNTHETIC sample (seed 7): the fast slice of
``python -m benchmarks.recovery`` (issue 3, "Evidence required: Recovery").

The sample (the session's shared sample store) is scored exactly as the script scores it
(same parameters: 199 scan replicates, scan seed 0), so the figures here are the script's
seed-7 row. Scoring is defined in the ``benchmarks.recovery`` docstring.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from analytics.engine import HotspotParams
from benchmarks import recovery
from tests.conftest import SAMPLE_ORDER

# Measured on the sample (seed 7, 199 replicates): S3 consecutive_hot at onset+2, S4 new_hot
# at onset+2; 42 flagged cell-weeks over the 8 detection weeks, 39 in/next to a planted site
# (0.93). Before the emerging evidence rule and the repeat-missing label, recall was 1/2 and
# precision 0.385 here.


@pytest.fixture(scope="module")
def sample_score(sample_store):
    """The script's score of the committed sample, on the session's shared sample store
    (:func:`tests.conftest.sample_store`: the same files ingested in the script's order, once for
    every test that needs them). That store's key is the test key, not the script's; the score uses
    pseudonyms only to tell young people and placements apart, so it is the script's (the whole
    SeedScore, timings aside, was compared with a store of the script's own ingest when this changed)."""
    paths = recovery._sample_paths()
    truth = json.loads(paths["ground_truth"].read_text())
    assert truth["seed"] == recovery.SAMPLE_SEED
    assert [kind for kind, _ in SAMPLE_ORDER] == [kind for kind, _ in recovery.INGEST_ORDER]
    score = recovery.score_store(sample_store.db, truth, HotspotParams(scan_replicates=recovery.DEFAULT_REPLICATES),
                                 recovery.SAMPLE_SEED, "committed sample", places_path=paths["places"],
                                 placements_path=paths["placements"])
    return score, recovery.summarise([score]), truth


def test_scoring_covers_every_site(sample_score):
    score, summary, truth = sample_score
    kinds = [s["kind"] for s in truth["sites"]]
    assert len(score.emerging) == kinds.count("emerging") > 0
    assert len(score.persistent) == kinds.count("persistent") > 0
    assert len(score.convergence) == kinds.count("convergence") == 1
    # 4 detection weeks per emerging site (onset .. onset + 3), none shared on the sample.
    assert len(score.analysed_weeks) == 4 * kinds.count("emerging")
    assert score.flagged >= score.flagged_credited >= score.flagged_strict >= 0
    assert sum(score.unplanted_flags.values()) == score.flagged - score.flagged_strict
    assert set(summary["targets"]) == {"recall", "precision_strict", "persistent", "convergence"}
    report = recovery.format_report([score], summary, HotspotParams(scan_replicates=199), 0.0)
    assert "TARGET Recall" in report and "TARGET Precision" in report


def test_sample_recall_meets_target(sample_score):
    _, summary, _ = sample_score
    assert summary["recall"] >= recovery.TARGET_RECALL, summary


def test_sample_precision_meets_target(sample_score):
    _, summary, _ = sample_score
    assert summary["precision_strict"] >= recovery.TARGET_PRECISION, summary


def test_sample_persistent_sites_come_out_persistent(sample_score):
    score, _, _ = sample_score
    assert all(p["ok"] for p in score.persistent), score.persistent


def test_sample_convergence_site_found(sample_score):
    score, _, _ = sample_score
    assert all(c["found"] for c in score.convergence), score.convergence


def test_further_seeds_skip_the_sample():
    assert recovery.further_seeds(3) == [1, 2, 3]
    seeds = recovery.further_seeds(20)
    assert len(seeds) == len(set(seeds)) == 20 and recovery.SAMPLE_SEED not in seeds


def test_persistent_misses_print_the_data_behind_the_call(sample_score):
    score, _, _ = sample_score
    evidence = score.persistent[0]["evidence"][0]
    assert evidence["weeks"] == 26 and 0 <= evidence["hot_weeks"] <= evidence["share_hot_weeks"] <= 26
    assert evidence["final_reports_nearby"] >= 0 and evidence["final_expected"] > 0
    missed = replace(score, persistent=[{**score.persistent[0], "ok": False, "categories": ["sporadic_hot"]}])
    report = recovery.format_report([missed], recovery.summarise([missed]), HotspotParams(), 0.0)
    line = next(x for x in report.splitlines() if x.startswith(f"  seed {recovery.SAMPLE_SEED} "))
    assert "sporadic_hot: final week" in line and "reports nearby" in line and "trend of z" in line
    assert "TARGET Persistent sites come out persistent: 0/1 = 0.000" in report and "NOT MET" in report
