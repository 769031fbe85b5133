"""End to end on the committed SYNTHETIC sample: batch accounting, cube checks, engine outputs."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from analytics.engine import HotspotParams
from analytics.errors import InvalidInputError
from analytics.privacy import key_fingerprint
from pipelines import cube as cube_mod, store as store_mod
from pipelines.checks import run_checks
from pipelines.hotspots_run import run_hotspots
from pipelines.layout import file_path
from pipelines.ingest import ingest_file
from pipelines.resources import shipped_dir
from tests.conftest import TEST_KEY, shared_sample_store

SAMPLE = shipped_dir("data_samples")


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    """The session's shared sample store (read-only); yields (db path, batch results, ground truth)."""
    shared = shared_sample_store(tmp_path_factory)
    return shared.db, list(shared.results), shared.truth


def test_batch_accounting_on_the_sample(sample_store):
    db, results, truth = sample_store
    for r in results:
        assert r.read == r.accepted + r.updated + r.duplicate + r.rejected, r
        assert r.synthetic or r.kind == "boundary"
    planted = truth["planted_bad_rows"]
    by_kind = {r.kind: r for r in results}
    for kind, file_kind in (("episodes", "episodes"), ("reports", "location_reports"), ("disruptions", "disruptions")):
        assert by_kind[kind].reasons == planted[file_kind], kind
    assert by_kind["reports"].duplicate == truth["planted_duplicate_rows"]["location_reports"]
    with store_mod.opened(db, read_only=True) as st:
        assert all(c.failures == 0 for c in run_checks(st.con, cube=False))


def test_reingesting_the_sample_changes_nothing(sample_store, tmp_path):
    db, results, _ = sample_store
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(Path(db).read_bytes())
    copy.chmod(0o600)
    with store_mod.opened(copy) as st:
        cube_mod.build_cube(st)
        # the cube (3.6 M cell-weeks) is compared inside DuckDB (a DataFrame of it costs ~4 s of CPU):
        st.con.execute("create temp table cube_before as select * from mart_cell_week_counts")
        again = ingest_file(st, "reports", SAMPLE / "location_reports.csv", TEST_KEY)
        cube_mod.build_cube(st)
        columns = [st.con.execute(f"select column_name, data_type from information_schema.columns "
                                  f"where table_name = '{t}' order by ordinal_position").fetchall()
                   for t in ("cube_before", "mart_cell_week_counts")]
        n_before, n_after, n_keys, n_differ = st.con.execute(
            "select (select count(*) from cube_before), (select count(*) from mart_cell_week_counts), "
            "(select count(distinct (cell, week_start)) from mart_cell_week_counts), "
            "(select count(*) from cube_before b full join mart_cell_week_counts a "
            " on b.cell = a.cell and b.week_start = a.week_start where b is distinct from a)").fetchone()
    first = next(r for r in results if r.kind == "reports")
    assert again.accepted == 0 and again.updated == 0
    assert again.duplicate == first.accepted + first.duplicate
    # the cube is unchanged: same columns and types, and (its keys unique, every row matched by an
    # identical row) the same rows, as DataFrame.equals on both sorted frames would say
    assert columns[0] == columns[1] and len(columns[0]) > 2
    assert n_before == n_after == n_keys > 0 and n_differ == 0


def test_cube_checks_and_real_zeros_on_the_sample(sample_store):
    db, _, _ = sample_store
    with store_mod.opened(db, read_only=True) as st:
        info = cube_mod.build_cube(st)
        assert all(c.failures == 0 for c in run_checks(st.con, cube=True))
        n_rows, n_zero = st.con.execute(
            "select count(*), count(*) filter (where reports = 0) from mart_cell_week_counts").fetchone()
    assert info.study_area == "boundary"
    assert n_rows == info.n_cells * info.n_weeks
    assert n_zero > 0.9 * n_rows  # most cell-weeks are real zeros


def test_engine_outputs_on_the_sample(sample_store, tmp_path):
    db, _, truth = sample_store
    with store_mod.opened(db, read_only=True) as st:
        run = run_hotspots(st, HotspotParams(week=truth["weeks"][1], scan_replicates=99), tmp_path)
    hot = pd.read_parquet(file_path(tmp_path, "hotspots.parquet"))
    assert {"cell", "week", "count", "z", "p", "p_fdr", "gi_class", "category", "reason", "mk_tau", "mk_p"} <= set(hot.columns)
    assert len(hot) == run.summary["cells"] and hot["cell"].is_unique
    assert hot["cell"].str.match(r"^[0-9a-f]{15}$").all()
    cube = pd.read_parquet(file_path(tmp_path, "cube.parquet"))
    assert {"cell", "week", "exposure", "reports", "found_episodes"} <= set(cube.columns)
    persistent = [c for s in truth["sites"] if s["kind"] == "persistent" for c in s["cells"]]
    categories = hot.set_index("cell").loc[persistent, "category"]
    assert (categories == "persistent_hot").all(), categories.to_dict()
    assert gpd.read_file(file_path(tmp_path, "hotspots.geojson")).crs.to_epsg() == 4326
    scan = gpd.read_file(file_path(tmp_path, "scan_clusters.geojson"))
    assert {"pattern", "young_people", "unnamed_events"} <= set(scan.columns) or scan.empty
    assert set(scan.get("pattern", [])) <= {"place", "repeat_missing"}
    assert run.summary["scan_place_clusters"] == int((scan.get("pattern", pd.Series(dtype=object)) == "place").sum())
    meta = json.loads(file_path(tmp_path, "run.json").read_text())
    assert meta["synthetic"] is True and meta["parameters"]["k"] == 1 and meta["inputs"]
    assert str(TEST_KEY.decode()) not in file_path(tmp_path, "run.json").read_text()


def test_parquet_input_gives_the_same_result_as_csv(tmp_path, sample_store):
    """The same SYNTHETIC reports as Parquet are accounted for exactly as the CSV was."""
    from pipelines.synthesize import write_synthetic_city
    _, results, _ = sample_store
    paths = write_synthetic_city(tmp_path / "pq", seed=7, scale="small", fmt="parquet")
    db = tmp_path / "pq.duckdb"
    store_mod.init_store(db, key_fingerprint=key_fingerprint(TEST_KEY))
    with store_mod.opened(db) as st:
        ingest_file(st, "boundary", paths["boundary"], TEST_KEY)
        got = ingest_file(st, "reports", paths["location_reports"], TEST_KEY)
    csv = next(r for r in results if r.kind == "reports")
    assert (got.read, got.accepted, got.duplicate, got.rejected, got.reasons) == (
        csv.read, csv.accepted, csv.duplicate, csv.rejected, csv.reasons)


def test_st_dbscan_input_is_capped_with_a_recorded_choice(sample_store, tmp_path):
    db, _, truth = sample_store
    with store_mod.opened(db, read_only=True) as st:
        run = run_hotspots(st, HotspotParams(week=truth["weeks"][1], scan_replicates=0, st_max_events=500), tmp_path)
    assert any(c.startswith("ST-DBSCAN ran on a fixed-seed sample of 500") for c in run.choices)
    assert json.loads(file_path(tmp_path, "run.json").read_text())["parameters"]["st_max_events"] == 500


@pytest.fixture(scope="module")
def engine_run(sample_store, tmp_path_factory) -> Path:
    """The engine on the sample's last week, default rules, no scan replicates: its output folder (read it only)."""
    db, _, truth = sample_store
    out = tmp_path_factory.mktemp("engine_r0")
    with store_mod.opened(db, read_only=True) as st:
        run_hotspots(st, HotspotParams(week=truth["weeks"][1], scan_replicates=0), out)
    return out


def test_engine_outputs_from_synthetic_data_say_so_in_every_row(engine_run):
    for name in ("hotspots.parquet", "cube.parquet", "convergence.parquet"):
        frame = pd.read_parquet(file_path(engine_run, name))
        assert len(frame) and (frame["synthetic"].str.startswith("SYNTHETIC")).all(), name
    for name in ("hotspots.geojson", "clusters.geojson"):
        frame = gpd.read_file(file_path(engine_run, name))
        assert len(frame) and (frame["synthetic"].str.startswith("SYNTHETIC")).all(), name


def test_share_basis_switches_the_ninety_percent_count(sample_store, engine_run, tmp_path):
    """Default: the share counts each week's own test; ``fdr``: the map's corrected classes (ArcGIS)."""
    db, _, truth = sample_store
    out = {"uncorrected": pd.read_parquet(file_path(engine_run, "hotspots.parquet")).set_index("cell")}  # default
    with store_mod.opened(db, read_only=True) as st:
        for basis in ("fdr",):
            run_hotspots(st, HotspotParams(week=truth["weeks"][1], scan_replicates=0, share_basis=basis),
                         tmp_path / basis)
            out[basis] = pd.read_parquet(file_path(tmp_path / basis, "hotspots.parquet")).set_index("cell")
    ours, arcgis = out["uncorrected"], out["fdr"]
    assert (arcgis["share_hot_weeks"] == arcgis["hot_weeks"]).all()
    assert (ours["share_hot_weeks"] >= ours["hot_weeks"]).all() and (ours["share_hot_weeks"] > ours["hot_weeks"]).any()
    share = {"intensifying_hot", "persistent_hot", "diminishing_hot", "historical_hot"}
    assert ours["category"].isin(share).sum() >= arcgis["category"].isin(share).sum()
    # the map's own classes and the final-week categories do not move
    assert (ours["gi_class"] == arcgis["gi_class"]).all()
    for cat in ("new_hot", "consecutive_hot"):
        assert set(ours.index[ours["category"] == cat]) <= set(arcgis.index[arcgis["category"] == cat])
    meta = json.loads(file_path(tmp_path / "fdr", "run.json").read_text())
    assert meta["parameters"]["share_basis"] == "fdr"
    with pytest.raises(InvalidInputError, match="share_basis must be one of uncorrected, fdr; received 'bh'"):
        HotspotParams(share_basis="bh")
