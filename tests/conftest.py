"""Shared fixtures: a fresh store with a known key, small CSV writers, and the committed SYNTHETIC
sample ingested once per test session (:func:`sample_store`) and its weekly runs
(:func:`shared_sample_weekly`), each built once and shared by every pytest-xdist worker."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from analytics import contracts
from analytics.privacy import key_fingerprint
from pipelines import store as store_mod

TEST_KEY = b"test-key-0123456789abcdef0123456789abcdef"

#: the test files' report header: every contract column except the optional ``reported_at`` (late-report tests add it)
REPORT_HEADER = [c for c in contracts.REPORTS.columns if c != "reported_at"]
EPISODE_HEADER = list(contracts.EPISODES.columns)


def write_csv(path: Path, header: list[str], rows: list[dict | list]) -> Path:
    """Write rows (dicts keyed by header, or lists) to a CSV file."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(h, "") for h in header] if isinstance(row, dict) else row)
    return path


def report(**overrides) -> dict:
    """A valid location report row (Sydney CBD), with overrides."""
    row = {"report_id": "R1", "observed_at": "2025-03-01T22:15:00+11:00", "lat": "-33.8700",
           "lon": "151.2070", "source": "police", "kind": "sighting", "episode_id": "E1",
           "person_ref": "CHILD-REF-0001", "grading": "B2"}
    row.update(overrides)
    return row


def episode(**overrides) -> dict:
    """A valid episode row, with overrides."""
    row = {"episode_id": "E1", "person_ref": "CHILD-REF-0001", "missing_from": "2025-03-01T21:00:00+11:00",
           "returned_at": "2025-03-02T09:00:00+11:00", "reported_at": "2025-03-01T23:00:00+11:00",
           "placement_ref": "HOME-REF-0042", "placement_type": "residential", "last_seen_lat": "-33.8800",
           "last_seen_lon": "151.2000", "found_lat": "-33.8700", "found_lon": "151.2070",
           "risk_level": "high", "cse_concern": "true", "rhi_completed": "false", "age_years": "14",
           "gender": "female", "disability": "false", "first_nations": "false", "cald": "false", "lgbtqia": ""}
    row.update(overrides)
    return row


@pytest.fixture
def key() -> bytes:
    return TEST_KEY


def _build_empty_store(folder: Path) -> None:
    """``folder/store.duckdb``: a new store made by ``init_store`` with the test key's fingerprint."""
    store_mod.init_store(folder / "store.duckdb", key_fingerprint=key_fingerprint(TEST_KEY))


_ROOT: dict = {}


@pytest.fixture(scope="session", autouse=True)
def _session_shared_root(tmp_path_factory):
    """Remember the session's :func:`shared_root` for :func:`new_store`."""
    _ROOT["shared"] = shared_root(tmp_path_factory)


def new_store(path: Path) -> Path:
    """A new store at ``path``, as ``init_store(path, key_fingerprint=<test key's>)`` makes it (file 0600,
    spill folder 0700): a copy of one made once per session (:func:`build_once`), since hundreds of tests
    start from one. Outside a session (no shared folder known) it calls ``init_store``."""
    if "shared" not in _ROOT:
        store_mod.init_store(path, key_fingerprint=key_fingerprint(TEST_KEY))
        return path
    empty = build_once(_ROOT["shared"], "empty_store", _build_empty_store) / "store.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(empty, path)
    path.chmod(0o600)
    store_mod.spill_dir(path).mkdir(mode=0o700)
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A new store with the test key at ``tmp_path/store.duckdb`` (:func:`new_store`)."""
    return new_store(tmp_path / "store.duckdb")


@pytest.fixture
def store(db_path: Path):
    st = store_mod.open_store(db_path)
    yield st
    st.close()


@pytest.fixture
def key_env(monkeypatch):
    """Use the test key through $HOTSPOTS_KEY (as the CLI reads it)."""
    monkeypatch.setenv("HOTSPOTS_KEY", TEST_KEY.decode())
    return TEST_KEY


# ------------------------------------------------------------------ the SYNTHETIC sample, ingested once
#: The committed sample's files in ingest order (kind, file name under data_samples/). The
#: placements file goes into a second store (:attr:`SampleStore.db_with_placements`).
SAMPLE_ORDER = (("boundary", "boundary.geojson"), ("places", "places.geojson"), ("episodes", "episodes.csv"),
                ("reports", "location_reports.csv"), ("disruptions", "disruptions.csv"))
PLACEMENTS_FILE = "placements.csv"


@dataclass(frozen=True)
class SampleStore:
    """The committed SYNTHETIC sample ingested with the test key: ``db`` (read-only: open it with
    ``read_only=True``, or copy the file to write), the same store with the
    sample's placements file ingested too, the ingest's batch results per kind and the ground truth."""

    db: Path
    db_with_placements: Path
    results: tuple  # BatchResult per SAMPLE_ORDER entry
    truth: dict

    def result(self, kind: str):
        return next(r for r in self.results if r.kind == kind)


def shared_root(tmp_path_factory) -> Path:
    """A folder shared by every xdist worker of this session (the workers' base temps' parent);
    the session's own base temp without xdist (its parent is shared with other sessions)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def _file_lock(path: Path):
    """An exclusive advisory lock on ``path`` (flock), released on exit or when the process dies."""
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_once(root: Path, name: str, build) -> Path:
    """``root/name``, built by ``build(folder)`` by the first process to ask, exactly once.

    The build runs under an exclusive lock on ``root/name.lock``, in ``root/name`` itself (so paths
    the build records stay true), and marks the folder complete (``.complete``) only when it returns;
    every other process waits on the lock and then finds the finished folder. A build that fails is
    removed; one killed mid-build leaves a folder without the mark, which the next ask rebuilds.
    """
    ready = root / name
    with _file_lock(root / f"{name}.lock"):
        if not (ready / ".complete").exists():
            shutil.rmtree(ready, ignore_errors=True)
            ready.mkdir()
            try:
                build(ready)
            except BaseException:
                shutil.rmtree(ready, ignore_errors=True)
                raise
            (ready / ".complete").touch()
    return ready


def _build_sample_store(folder: Path) -> None:
    """Ingest the sample into ``folder/sample.duckdb`` (batch results next to it in results.json) and,
    with its placements too, into ``folder/sample_placements.duckdb``."""
    from pipelines.ingest import ingest_file
    from pipelines.resources import shipped_dir

    sample = shipped_dir("data_samples")
    db = folder / "sample.duckdb"
    store_mod.init_store(db, key_fingerprint=key_fingerprint(TEST_KEY))
    with store_mod.opened(db) as st:
        results = [ingest_file(st, kind, sample / name, TEST_KEY) for kind, name in SAMPLE_ORDER]
    (folder / "results.json").write_text(json.dumps([r.as_json() for r in results]))
    shutil.copyfile(db, folder / "sample_placements.duckdb")
    with store_mod.opened(folder / "sample_placements.duckdb") as st:
        ingest_file(st, "placements", sample / PLACEMENTS_FILE, TEST_KEY)
    for p in folder.iterdir():  # nothing in the shared copy can be written by a test
        p.chmod(0o400)


_SAMPLE: dict = {}


def shared_sample_store(tmp_path_factory) -> SampleStore:
    """The committed SYNTHETIC sample ingested ONCE per session, whatever the number of xdist workers.

    The first worker to get here builds it (:func:`build_once`) in a folder every worker shares; the
    others wait on the lock, then read it.
    The files are read-only (mode 0400): tests open the store ``read_only=True`` or copy the
    file to write. Memoised per process; the :func:`sample_store` fixture wraps it.
    """
    return _sample_store_at(shared_root(tmp_path_factory))


def _sample_store_at(root: Path) -> SampleStore:
    """:func:`shared_sample_store` in the shared folder ``root``."""
    if "store" in _SAMPLE:
        return _SAMPLE["store"]
    from pipelines.batches import BatchResult
    from pipelines.resources import shipped_dir

    ready = build_once(root, "sample_store", _build_sample_store)
    results = tuple(BatchResult(**r) for r in json.loads((ready / "results.json").read_text()))
    truth = json.loads((shipped_dir("data_samples") / "ground_truth.json").read_text())
    _SAMPLE["store"] = SampleStore(ready / "sample.duckdb", ready / "sample_placements.duckdb", results, truth)
    return _SAMPLE["store"]


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory) -> SampleStore:
    """See :func:`shared_sample_store`."""
    return shared_sample_store(tmp_path_factory)


# ------------------------------------------------------------------ the sample's weekly runs, run once
#: Fast engine settings for weekly runs in tests (the scan's Monte Carlo is the slow part).
FAST = {"hotspots": {"scan_replicates": 49}}


def _manifest(root: Path) -> dict[str, list[int]]:
    """Every file under ``root``: relative path -> [size, mtime_ns]."""
    return {str(p.relative_to(root)): [p.stat().st_size, p.stat().st_mtime_ns]
            for p in sorted(root.rglob("*")) if p.is_file()}


def _build_sample_weekly(folder: Path, sample: SampleStore) -> None:
    """Run the weekly job on the sample (with placements) into ``folder/weekly``: the week before the
    sample's last week, then its last week (so its backtest reads a saved plan) with every optional
    output; the two WeeklyRun records go to ``runs.pickle``, the outputs' sizes and times to ``manifest.json``."""
    import pickle
    import time
    from datetime import timedelta

    from analytics.weeks import parse_week, week_label
    from pipelines.weekly import run_weekly

    week = sample.truth["weeks"][1]
    prev_week = week_label(parse_week(week) - timedelta(weeks=1))
    root = folder / "weekly"
    steps: list[str] = []
    t0 = time.perf_counter()
    with store_mod.opened(sample.db_with_placements, read_only=True) as st:
        prev_run = run_weekly(st, prev_week, root, config=FAST)
        run = run_weekly(st, week, root, config=FAST, progress=steps.append, analyst_detail=True,
                         formats=("gpkg",))  # every optional output, so each is checked
    record = {"week": week, "run": run, "prev_run": prev_run, "seconds": time.perf_counter() - t0, "steps": steps}
    (folder / "runs.pickle").write_bytes(pickle.dumps(record))
    (folder / "manifest.json").write_text(json.dumps(_manifest(root)))


def shared_sample_weekly(tmp_path_factory) -> dict:
    """The weekly job run on the shared sample store for its last two weeks, ONCE per session whatever
    the number of xdist workers (:func:`build_once`), memoised per process.

    Returns a dict: ``db`` (the read-only sample store with placements), ``root`` (output root),
    ``week``, ``out`` (the last week's folder), ``run`` (its WeeklyRun), ``prev_run``, ``truth``,
    ``seconds`` (the build's time) and ``steps``. The outputs are shared: a test that modifies a file
    copies it first (:func:`_shared_outputs_unchanged` fails the session if one was changed in place).
    """
    return _sample_weekly_at(shared_root(tmp_path_factory))


def _sample_weekly_at(root: Path) -> dict:
    """:func:`shared_sample_weekly` in the shared folder ``root``."""
    if "weekly" in _SAMPLE:
        return _SAMPLE["weekly"]
    import pickle

    sample = _sample_store_at(root)
    ready = build_once(root, "sample_weekly", lambda folder: _build_sample_weekly(folder, sample))
    record = pickle.loads((ready / "runs.pickle").read_bytes())
    root = ready / "weekly"
    _SAMPLE["weekly"] = {"db": sample.db_with_placements, "root": root, "out": root / record["week"],
                         "truth": sample.truth, "manifest": ready / "manifest.json", **record}
    return _SAMPLE["weekly"]


@pytest.fixture(scope="session", autouse=True)
def _shared_outputs_unchanged():
    """After the session: the shared weekly outputs, if this process used them, are as built."""
    yield
    if "weekly" in _SAMPLE:
        weekly = _SAMPLE["weekly"]
        built = json.loads(weekly["manifest"].read_text())
        now = _manifest(weekly["root"])
        changed = sorted(k for k in built.keys() | now.keys() if built.get(k) != now.get(k))
        assert not changed, f"a test changed the shared sample weekly outputs in place (copy them first): {changed}"


# ------------------------------------------------------------------ prebuilt while the xdist workers start
_PREBUILD: dict = {}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """On the xdist controller, once the first worker has collected: if a collected test module uses the
    sample's weekly runs, build them (with the sample store) in a background process, so no worker sits
    waiting on the lock of :func:`build_once` while the other builds. Only a head start: a worker that
    needs them first takes its turn at the lock as usual."""
    if _PREBUILD:
        return
    _PREBUILD["done"] = True
    files = {Path(node.config.rootpath, i.split("::")[0]) for i in ids}
    if not any(f.name.startswith("test_") and "sample_weekly" in f.read_text(encoding="utf-8")
               for f in files if f.suffix == ".py" and f.is_file()):
        return
    import subprocess
    import sys

    root = node.config._tmp_path_factory.getbasetemp()  # the workers' base temps' parent: shared_root()
    log = open(root / "prebuild.log", "w")
    _PREBUILD["proc"] = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from tests.conftest import _sample_weekly_at; "
                               "_sample_weekly_at(Path(sys.argv[1]))", str(root)],
        cwd=node.config.rootpath, stdout=log, stderr=subprocess.STDOUT)
    log.close()


#: Modules holding the default run's longest single steps (a module fixture or test of 7-20 s of CPU),
#: longest first. They run first so that, with ``-n 2``, the last minute is many short tests that
#: pytest-xdist spreads evenly, not one worker alone in a long build. Only an order: a stale entry costs
#: balance, never correctness (each module still runs whole, in its own order).
RUN_FIRST = ("tests/security/test_weekly_payloads.py", "tests/pipelines/test_repeat_home.py", "tests/test_recovery.py",
             "tests/pipelines/test_sample_pipeline.py", "tests/pipelines/test_concurrency.py",
             "tests/pipelines/test_wheel.py")


def pytest_collection_modifyitems(config, items):
    """The modules of :data:`RUN_FIRST` first (in that order), then the rest in collection order."""
    rank = {name: i for i, name in enumerate(RUN_FIRST)}
    root = config.rootpath

    def key(item) -> int:
        try:
            return rank.get(Path(item.path).relative_to(root).as_posix(), len(RUN_FIRST))
        except ValueError:
            return len(RUN_FIRST)

    items[:] = sorted(items, key=key)  # stable: each module keeps its own order


def pytest_unconfigure(config):
    """Stop a background build the tests did not wait for (its partial folder is never marked complete)."""
    proc = _PREBUILD.pop("proc", None)
    if proc is not None and proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=60)


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run ``hotspots ARGS`` in-process; return (exit code, stdout, stderr)."""
    import sys

    from pipelines import cli

    monkeypatch.setattr(sys, "argv", ["hotspots", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


@contextlib.contextmanager
def duckdb_one_thread():
    """Within it, every store connection (``pipelines.store._connect``) runs DuckDB on one thread: the
    same results as with more threads, but no thread pool's spin and merge CPU -- for module fixtures
    whose weekly runs share two cores with another xdist worker."""
    real = store_mod._connect

    def one_thread(*args, **kwargs):
        con = real(*args, **kwargs)
        con.execute("set threads = 1")
        return con

    store_mod._connect = one_thread
    try:
        yield
    finally:
        store_mod._connect = real


@pytest.fixture(scope="session", autouse=True)
def _duckdb_one_thread_per_worker():
    """Under ``-n 2`` each xdist worker's store connections use one DuckDB thread (as ``make test`` gives each
    worker one BLAS thread): two workers' thread pools on two cores only spin against each other."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    with duckdb_one_thread():
        yield


@pytest.fixture(scope="session", autouse=True)
def _shared_stores_stay_read_only(tmp_path_factory):
    """A test that opens a finished shared store (a ``build_once`` folder) for writing fails at once: every
    xdist worker reads those stores, and a write (an audit row of a CLI run, say) both changes them and
    locks out the other worker's readers. Copy the file first (``cli_sample_db`` shows how)."""
    root = shared_root(tmp_path_factory).resolve()
    real = store_mod._connect

    def guarded(path, read_only, *args, **kwargs):
        where = Path(path).resolve()
        if not read_only and where.is_relative_to(root) and (where.parent / ".complete").exists():
            raise AssertionError(f"a test opened the shared store {where} for writing; copy it first")
        return real(path, read_only, *args, **kwargs)

    store_mod._connect = guarded
    try:
        yield
    finally:
        store_mod._connect = real
