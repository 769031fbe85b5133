"""Formula injection: every CSV the product writes neutralises text cells and keeps numbers numeric."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.csv_out import FORMULA_PREFIXES, neutralise, write_csv
from tests.security.payloads import LONG, PAYLOADS

ROOT = Path(__file__).resolve().parents[2]


def _expected(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


@pytest.mark.parametrize("text", PAYLOADS + [LONG, "＝1+1", "normal name", ""])
def test_neutralise_cell_rule(text):
    out = neutralise(text)
    assert out == _expected(text)
    assert not out.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_numbers_and_missing_values_are_untouched():
    assert neutralise(-1.5) == -1.5 and neutralise(-3) == -3 and neutralise(None) is None
    assert np.isnan(neutralise(float("nan")))


def test_write_csv_round_trip(tmp_path):
    frame = pd.DataFrame({
        "rank": np.arange(1, len(PAYLOADS) + 1),
        "score": np.linspace(-1.5, 2.5, len(PAYLOADS)),
        "places": PAYLOADS,
        "mixed": [-2 if i % 2 else PAYLOADS[i] for i in range(len(PAYLOADS))],
        "flag": [True, False] * (len(PAYLOADS) // 2) + [True] * (len(PAYLOADS) % 2),
    })
    path = write_csv(frame, tmp_path / "out.csv")
    back = pd.read_csv(path, keep_default_na=False)
    assert back["rank"].dtype.kind == "i" and back["score"].dtype.kind == "f"
    assert back["score"].iloc[0] == -1.5  # a negative number stays a number, not '-1.5
    assert back["places"].tolist() == [_expected(p) for p in PAYLOADS]
    for cell in back["places"]:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    mixed = pd.read_csv(path, dtype=str, keep_default_na=False)["mixed"].tolist()
    assert mixed[1] == "-2" and mixed[0] == _expected(PAYLOADS[0])
    assert len(back) == len(frame)  # a CR or LF inside a name never starts a new row
    with open(path, newline="", encoding="utf-8") as fh:  # every field as a CSV reader (Excel) sees it
        rows = list(csv.reader(fh))
    assert len(rows) == len(frame) + 1
    for row in rows:
        for field in row:
            assert not field.startswith(("=", "+", "@", "\t", "\r")), field
            assert not field.startswith("-") or re.fullmatch(r"-\d+(\.\d+)?", field), field  # only numbers


def test_a_line_break_inside_a_name_stays_inside_its_quoted_cell(tmp_path):
    path = write_csv(pd.DataFrame({"places": ["Park\r=HYPERLINK(1)", "Mall\n@SUM(A1)"], "n": [1, 2]}),
                     tmp_path / "lb.csv")
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == 3 and b'"Park\r=HYPERLINK(1)"' in raw and b'"Mall\n@SUM(A1)"' in raw
    assert pd.read_csv(path)["n"].tolist() == [1, 2]


def test_every_csv_output_goes_through_the_safe_writer():
    """Static guard: no module of the product writes CSV by itself."""
    for py in list((ROOT / "pipelines").rglob("*.py")) + list((ROOT / "analytics").rglob("*.py")):
        if py.name == "csv_out.py":
            continue
        text = py.read_text(encoding="utf-8")
        assert ".to_csv(" not in text, f"{py.name}: use pipelines.csv_out.write_csv"
        assert "csv.writer(" not in text and "csv.DictWriter(" not in text, py.name
