"""Place-category covariates and exposure for the forecast (issue 14 item 1): built from the store's places
(venues) only, never from placements; the weekly run passes them when ``forecast_places`` is on and says so
in run.json; ``hotspots backtest`` records them in backtest.json."""

from __future__ import annotations

import json
from datetime import date

import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd
import pytest

from analytics.errors import InvalidInputError
from analytics.forecast import ForecastParams
from analytics.forecast_places import place_covariate_names, place_covariates, varying_exposure
from pipelines import layout
from pipelines import store as store_mod
from pipelines.forecast_inputs import forecast_inputs, store_place_covariates
from pipelines.ingest import ingest_file
from pipelines.layout import file_path
from pipelines.weekly import validate_config
from pipelines.weekly.forecast import WEEKLY_FORECAST, forecast_params_for
from tests.conftest import TEST_KEY, write_csv
from tests.pipelines.tiny_store import SPOTS, daily, tiny_store

RES = 9
#: Places for the tiny store: two fast-food outlets at the busy spot, a park at a quiet one, a hotel.
PLACES = [["P1", "Burger 1", "fast_food", SPOTS[0][0], SPOTS[0][1]],
          ["P2", "Burger 2", "fast_food", SPOTS[1][0], SPOTS[1][1]],
          ["P3", "Green", "park", SPOTS[2][0], SPOTS[2][1]],
          ["P4", "Inn", "hotel", -33.8760, 151.2100]]


def _hand_count(cells: np.ndarray, places: list[list]) -> dict[tuple[int, str], float]:
    """In-cell and ring-1 counts per category, one place at a time, straight from h3."""
    out: dict[tuple[int, str], float] = {}
    for _, _, cat, lat, lon in places:
        p = int(h3n.latlng_to_cell(lat, lon, RES))
        for c in cells:
            c = int(c)
            if c == p:
                out[(c, f"place_{cat}")] = out.get((c, f"place_{cat}"), 0) + 1
            elif h3n.grid_distance(c, p) == 1:
                out[(c, f"ring1_place_{cat}")] = out.get((c, f"ring1_place_{cat}"), 0) + 1
    return out


def test_covariates_equal_a_hand_count_on_a_tiny_example():
    a = int(h3n.latlng_to_cell(SPOTS[0][0], SPOTS[0][1], RES))
    cells = np.sort(np.asarray(h3n.grid_disk(a, 2), dtype=np.uint64))
    lat, lon = [h3n.cell_to_latlng(a)[0]] * 2, [h3n.cell_to_latlng(a)[1]] * 2
    b = int(h3n.grid_ring(a, 1)[0])
    blat, blon = h3n.cell_to_latlng(b)
    got = place_covariates(lat + [blat], lon + [blon], ["fast_food", "fast_food", "park"], cells)
    assert list(got.columns) == place_covariate_names(["fast_food", "park"])
    assert list(got.columns) == ["place_fast_food", "place_park", "ring1_place_fast_food", "ring1_place_park"]
    assert got.loc[a, "place_fast_food"] == 2 and got.loc[a, "place_park"] == 0 and got.loc[a, "ring1_place_park"] == 1
    assert got.loc[b, "place_park"] == 1 and got.loc[b, "ring1_place_fast_food"] == 2
    assert got["place_fast_food"].sum() == 2 and got["ring1_place_fast_food"].sum() == 12  # six neighbours × 2
    far = int(h3n.grid_ring(a, 2)[0])
    assert got.loc[far, "ring1_place_fast_food"] == 0 and got.loc[far, "place_fast_food"] == 0


def test_covariates_refuse_unknown_categories_and_say_none_when_no_place_is_near():
    cells = np.asarray(h3n.grid_disk(int(h3n.latlng_to_cell(-33.87, 151.2, RES)), 1), dtype=np.uint64)
    with pytest.raises(InvalidInputError, match="unknown categories"):
        place_covariates([-33.87], [151.2], ["nightclub"], cells)
    assert place_covariates([51.5], [-0.1], ["park"], cells) is None  # London, far from the cells
    assert place_covariates([], [], [], cells) is None


def test_uniform_exposure_is_not_passed():
    assert varying_exposure(np.ones((3, 4))) is None and varying_exposure(None) is None
    e = np.ones((3, 4))
    e[1, 2] = 2.0
    assert np.array_equal(varying_exposure(e), e)


def _places_csv(folder, rows):
    return write_csv(folder / "places.csv", ["place_id", "name", "category", "lat", "lon"],
                     [[str(v) for v in r] for r in rows])


def _placements_csv(folder, rows):
    return write_csv(folder / "placements.csv", ["placement_ref", "placement_type", "lat", "lon"], rows)


@pytest.fixture(scope="module")
def tiny_places(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forecast_places")
    db = tiny_store(folder, daily(date(2025, 1, 6), date(2025, 6, 29)), per_day=2)
    with store_mod.opened(db) as st:
        assert ingest_file(st, "places", _places_csv(folder, PLACES), TEST_KEY).accepted == len(PLACES)
        ingest_file(st, "placements", _placements_csv(folder, [["HOME-1", "residential", "-33.8700", "151.2070"]]),
                    TEST_KEY)
    return folder, db


def _study_cells(st) -> np.ndarray:
    rows = st.con.execute("select cell from study_area_cells").fetchall()
    return np.sort(np.asarray([int(r[0]) for r in rows], dtype=np.uint64))


def test_store_covariates_equal_a_hand_count(tiny_places):
    _, db = tiny_places
    with store_mod.opened(db, read_only=True) as st:
        cells = _study_cells(st)
        got = store_place_covariates(st, cells)
    hand = _hand_count(cells, PLACES)
    assert set(got.columns) == {k for _, k in hand} | {"place_hotel", "place_fast_food", "place_park"}
    for c in cells:
        for col in got.columns:
            assert got.loc[int(c), col] == hand.get((int(c), col), 0), (c, col)
    assert got["place_fast_food"].sum() == 2 and got["place_park"].sum() == 1


def test_changing_placements_does_not_change_the_covariates(tiny_places, tmp_path):
    _, db = tiny_places
    with store_mod.opened(db, read_only=True) as st:
        cells = _study_cells(st)
        before = store_place_covariates(st, cells)
    copy = tmp_path / "store.duckdb"
    copy.write_bytes(db.read_bytes())
    copy.chmod(0o600)
    with store_mod.opened(copy) as st:
        # a new placement in a cell with no place, and one on top of the park
        ingest_file(st, "placements", _placements_csv(tmp_path, [["HOME-2", "foster", "-33.8650", "151.1950"],
                                                                 ["HOME-3", "residential", "-33.8800", "151.2000"]]),
                    TEST_KEY)
        assert st.con.execute("select count(*) from placements").fetchone()[0] >= 3
        after = store_place_covariates(st, cells)
        inputs = forecast_inputs(st, cells, np.ones((len(cells), 5)), ForecastParams(places=True))
    pd.testing.assert_frame_equal(before, after)
    pd.testing.assert_frame_equal(inputs.covariates, before)
    assert inputs.exposure is None  # uniform exposure carries nothing
    assert inputs.record()["covariates"] == list(before.columns)


def test_forecast_places_config_key():
    assert forecast_params_for(validate_config({})) == WEEKLY_FORECAST
    assert forecast_params_for(validate_config({"forecast_places": True})).places is True
    assert forecast_params_for(validate_config({"forecast_places": False})).places is False
    with pytest.raises(InvalidInputError, match="forecast_places must be true or false"):
        validate_config({"forecast_places": "yes"})


def test_weekly_run_passes_place_covariates_and_records_them(tiny_places):
    from pipelines.weekly import run_weekly
    folder, db = tiny_places
    out = {}
    for on in (True, False):
        with store_mod.opened(db, read_only=True) as st:
            run = run_weekly(st, "2025-W26", folder / f"out_{on}",
                             config={"forecast_places": on, "hotspots": {"scan_replicates": 9}})
        out[on] = json.loads(file_path(run.out_dir, "run.json").read_text())["weekly"]["plan"]["forecast"]
    rec = out[True]
    assert rec["params"]["places"] is True
    assert rec["covariates"] and all(n.startswith(("place_", "ring1_place_")) for n in rec["covariates"])
    assert {"place_fast_food", "place_park", "place_hotel"} <= set(rec["covariates"])
    assert rec["exposure"] == "none (uniform)"
    assert {f"cov_{n}" for n in rec["covariates"]} <= set(rec["fitted"]["features"])  # the fitted forecast used them
    assert out[False]["covariates"] == "none" and out[False]["params"]["places"] is False
    assert not any(f.startswith("cov_") for f in out[False]["fitted"]["features"])


def test_backtest_passes_place_covariates_and_records_them(tiny_places, tmp_path):
    from pipelines.backtest import run_backtest
    _, db = tiny_places
    fast = ForecastParams(train_origins=6, min_train_origins=4, validation_origins=2, max_iter=10, places=True)
    with store_mod.opened(db, read_only=True) as st:
        r = run_backtest(st, weeks=2, out_dir=tmp_path / "bt", n_boot=50, forecast_params=fast)
    names = r["forecast_inputs"]["covariates"]
    assert {"place_fast_food", "place_park", "place_hotel"} <= set(names)
    assert all({f"cov_{n}" for n in names} <= set(c["features"]) for c in r["forecast_choices"])
    saved = json.loads(layout.output_path(tmp_path / "bt", "backtest_json").read_text())
    assert saved["forecast_inputs"]["covariates"] == names
    with store_mod.opened(db, read_only=True) as st:
        off = run_backtest(st, weeks=2, out_dir=tmp_path / "bt_off", n_boot=50, forecast_params=ForecastParams(
            train_origins=6, min_train_origins=4, validation_origins=2, max_iter=10))
    assert off["forecast_inputs"]["covariates"] == "none"
