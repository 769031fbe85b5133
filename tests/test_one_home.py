"""One home per fact (issue 17, item 2): vocabularies, columns, categories, the default time zone,
the version and small helpers are defined once and imported everywhere else."""

from __future__ import annotations

import ast
import importlib.metadata
import tomllib
from pathlib import Path

from analytics import __version__, contracts, emerging, patrol, synth, timezones
from tests import conftest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for pkg in ("analytics", "pipelines", "benchmarks") for p in (ROOT / pkg).rglob("*.py"))


def _string_constants(path: Path) -> list[tuple[str, int]]:
    """String literals in code (docstrings excluded), with their line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.value, n.lineno) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_synthetic_vocabularies_and_columns_are_the_contracts():
    assert synth.PLACEMENT_TYPES is contracts.PLACEMENT_TYPES and synth.RISK_LEVELS is contracts.RISK_LEVELS
    assert synth.SOURCES is contracts.REPORT_SOURCES and synth.REPORT_KINDS is contracts.REPORT_KINDS
    assert synth.DISRUPTION_KINDS is contracts.DISRUPTION_KINDS
    assert synth.PLACE_CATEGORIES is contracts.PLACE_CATEGORIES
    assert set(synth.GENDERS) < set(contracts.GENDERS)
    assert synth.COLUMNS["episodes"] is contracts.EPISODES.columns
    # the SYNTHETIC report files: the contract's columns without the optional late ``reported_at``
    assert synth.COLUMNS["location_reports"] == tuple(c for c in contracts.REPORTS.columns if c != "reported_at")
    assert set(synth.COLUMNS["disruptions"]) < set(contracts.DISRUPTIONS.columns)
    assert set(synth.COLUMNS["placements"]) == set(contracts.PLACEMENTS.columns)


def test_test_headers_are_the_contracts():
    assert conftest.EPISODE_HEADER == list(contracts.EPISODES.columns)
    assert conftest.REPORT_HEADER == [c for c in contracts.REPORTS.columns if c != "reported_at"]


def test_patrol_orders_the_emerging_categories():
    assert sorted(patrol.SEVERITY_ORDER) == sorted(emerging.PATTERNS)
    assert sorted(patrol.CATEGORIES) == sorted(emerging.CATEGORIES)


def test_the_default_time_zone_is_written_once():
    where = [f"{p.relative_to(ROOT)}:{line}" for p in SOURCES for text, line in _string_constants(p)
             if text == timezones.DEFAULT_TIMEZONE]
    # the store's default, and the SYNTHETIC city's own zone (a Sydney outline, whatever the default)
    assert [w.split(":")[0] for w in where] == ["analytics/synth/params.py", "analytics/timezones.py"], where


def test_the_version_is_written_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("safeguard-hotspots") == __version__


def test_small_helpers_have_one_definition():
    defined: dict[str, list[str]] = {}
    for p in SOURCES:
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                defined.setdefault(node.name.lstrip("_"), []).append(str(p.relative_to(ROOT)))
    for name in ("cell_area_km2", "jsonable", "stored_columns", "next_batch_id", "record_batch"):
        assert len(defined.get(name, [])) == 1, (name, defined.get(name))
