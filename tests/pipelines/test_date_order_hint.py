"""Issue 13 item 8: when a file's d/m/y dates fit only one order, the hint says so, names the
flag and quotes the rows as evidence; nothing is applied automatically."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines import column_mapping
from pipelines.date_hints import DateOrderEvidence, date_order_hint, suggest_date_format
from pipelines.ingest import ingest_file
from tests.conftest import REPORT_HEADER, TEST_KEY, report, write_csv

EXCERPT = Path(__file__).resolve().parents[1] / "data" / "real_excerpt"


def _file(tmp_path: Path, dates: list[str]) -> Path:
    rows = [report(report_id=f"R{i}", observed_at=d) for i, d in enumerate(dates, start=1)]
    return write_csv(tmp_path / "r.csv", REPORT_HEADER, rows)


def test_month_first_file_names_mdy_with_rows_and_changes_nothing(tmp_path, store):
    path = _file(tmp_path, ["03/13/2016 10:00", "04/03/2016 11:00", "12/25/2016", "2016-03-01T10:00:00+11:00"])
    result = ingest_file(store, "reports", path, TEST_KEY)
    assert (result.accepted, result.reasons) == (1, {"ambiguous_date": 3})  # not applied automatically
    [hint] = result.hints
    assert "2 of them can only be month-first (row 1 observed_at=03/13/2016 10:00, row 3 observed_at=12/25/2016)" in hint
    assert hint.endswith("fit only one order: re-run with --date-order mdy.")
    again = ingest_file(store, "reports", path, TEST_KEY, date_order="mdy")
    assert again.rejected == 0 and again.hints == []


def test_day_first_file_names_dmy(tmp_path, store):
    result = ingest_file(store, "reports", _file(tmp_path, ["13/03/2016", "01/02/2016", "31/12/2016 23:00"]),
                         TEST_KEY)
    [hint] = result.hints
    assert "2 of them can only be day-first (row 1 observed_at=13/03/2016, row 3 observed_at=31/12/2016 23:00)" in hint
    assert "--date-order dmy" in hint and "--date-order mdy" not in hint


def test_mixed_orders_name_no_flag(tmp_path, store):
    result = ingest_file(store, "reports", _file(tmp_path, ["13/03/2016", "03/13/2016"]), TEST_KEY)
    [hint] = result.hints
    assert "mixes both orders" in hint and "row 1 observed_at=13/03/2016" in hint and "row 2" in hint
    assert "re-run with --date-order" not in hint


def test_dates_that_fit_both_orders_keep_the_general_hint(tmp_path, store):
    result = ingest_file(store, "reports", _file(tmp_path, ["03/04/2016", "05/06/2016 10:00"]), TEST_KEY)
    assert result.hints == ["2 row(s) have day/month dates such as 03/04/2025 whose order is unknown; re-run "
                            "with --date-order dmy (day first) or --date-order mdy (month first)."]


def test_wrong_order_given_points_to_the_other(tmp_path, store):
    result = ingest_file(store, "reports", _file(tmp_path, ["03/13/2016", "04/03/2016"]), TEST_KEY, date_order="dmy")
    assert result.reasons == {"bad_timestamp": 1}
    assert result.hints[0].endswith("re-run with --date-order mdy.")


def test_real_chicago_times_need_a_format_and_the_hint_gives_one(tmp_path, store):
    mapping = column_mapping.from_options("report_id=ID,observed_at=Date", None, None, None)
    path = EXCERPT / "chicago_carjackings_excerpt.geojson"
    result = ingest_file(store, "reports", path, TEST_KEY, mapping=mapping)
    assert result.accepted == 0 and result.reasons == {"bad_timestamp": result.read}  # AM/PM: no order reads it
    [hint] = result.hints
    assert 're-run with --date-format "%m/%d/%Y %I:%M:%S %p"' in hint
    rows = [int(n) for n in re.findall(r"row (\d+) observed_at=", hint)]
    assert rows and all(int(re.search(r"/(\d+)/", v).group(1)) > 12
                        for v in re.findall(r"observed_at=([\d/]+)", hint))
    # the suggested format reads every row
    fmt = re.search(r'--date-format "([^"]+)"', hint).group(1)
    ok = ingest_file(store, "reports", path, TEST_KEY,
                     mapping=column_mapping.from_options("report_id=ID,observed_at=Date", fmt, None, None))
    assert ok.accepted == ok.read


@pytest.mark.parametrize("value, order, fmt", [
    ("03/13/2016 11:45:00 PM", "mdy", "%m/%d/%Y %I:%M:%S %p"),
    ("13.03.2016 23:45", "dmy", "%d.%m.%Y %H:%M"),
    ("13-03-2016", "dmy", "%d-%m-%Y"),
])
def test_suggest_date_format(value, order, fmt):
    assert suggest_date_format(value, order) == fmt


def test_evidence_order():
    assert DateOrderEvidence(3, 0, 2, (), ()).order == "mdy"
    assert DateOrderEvidence(3, 1, 2, (), ()).order is None
    assert date_order_hint(DateOrderEvidence(3, 0, 0, (), (), ambiguous=3)) is None
