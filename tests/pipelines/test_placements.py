"""The placements input and the known + derived placements (issue 12, item 2).

Placements are optional, pseudonymised with the same key as episodes' placement_ref (so the two
join), never shown; a placement the file lacks is derived from the modal last-seen cell of its
episodes, with its radius widened by that cell's circumradius.
"""

from __future__ import annotations

import json
import sys

import h3
import pytest

from analytics.safeguarding import PLACEMENT_RADIUS_M, cell_circumradius_m
from pipelines import cli
from pipelines import rekey as rekey_mod
from pipelines.ingest import ingest_file
from pipelines.placements import known_and_derived_placements, person_placements
from tests.conftest import EPISODE_HEADER, TEST_KEY, episode, write_csv

HEADER = ["placement_ref", "placement_type", "lat", "lon"]


def _placements_csv(tmp_path, rows):
    return write_csv(tmp_path / "placements.csv", HEADER, rows)


def test_ingest_accounts_for_every_row_with_reasons(store, tmp_path):
    path = _placements_csv(tmp_path, [
        ["HOME-REF-0042", "residential", "-33.8800", "151.2000"],
        ["HOME-REF-0043", "Foster", "-33.8810", "151.2010"],   # enum normalised
        ["HOME-REF-0044", "hostel", "-33.8820", "151.2020"],    # unknown enum
        ["HOME-REF-0045", "residential", "", "151.2"],           # lat missing
        ["", "residential", "-33.88", "151.2"],                   # ref missing
        ["HOME-REF-0046", "residential", "95", "151.2"],          # lat out of range
        ["HOME-REF-0047", "", "0", "0"],                          # null island
    ])
    r = ingest_file(store, "placements", path, TEST_KEY)
    assert (r.read, r.accepted, r.rejected) == (7, 2, 5) and r.balanced()
    assert r.reasons == {"unknown_enum:placement_type": 1, "missing_required:lat": 1,
                         "missing_required:placement_ref": 1, "lat_out_of_range": 1, "null_island": 1}
    rows = store.con.execute("select placement_key, placement_type from placements order by placement_type").fetchall()
    assert [t for _, t in rows] == ["foster", "residential"]
    assert all(k.startswith("pk_") for k, _ in rows)
    again = ingest_file(store, "placements", path, TEST_KEY)
    assert (again.accepted, again.duplicate, again.rejected) == (0, 2, 5)


def test_a_moved_home_is_an_update_with_history(store, tmp_path):
    ingest_file(store, "placements", _placements_csv(tmp_path, [["H1", "residential", "-33.88", "151.2"]]), TEST_KEY)
    moved = write_csv(tmp_path / "moved.csv", HEADER, [["H1", "residential", "-33.89", "151.2"]])
    r = ingest_file(store, "placements", moved, TEST_KEY)
    assert r.updated == 1
    assert store.con.execute("select lat from placements").fetchall() == [(-33.89,)]
    assert store.con.execute("select lat from placements_history").fetchall() == [(-33.88,)]


def test_refs_are_pseudonymised_like_episodes_and_never_stored_raw(store, tmp_path):
    ingest_file(store, "episodes", write_csv(tmp_path / "e.csv", EPISODE_HEADER, [episode()]), TEST_KEY)
    ingest_file(store, "placements", _placements_csv(tmp_path, [["HOME-REF-0042", "residential", "-33.88", "151.2"]]),
                TEST_KEY)
    joined = store.con.execute(
        "select count(*) from placements p join episodes e on e.placement_key = p.placement_key").fetchone()[0]
    assert joined == 1
    for table in ("placements", "quarantine", "batches"):
        text = json.dumps(store.con.execute(f"select * from {table}").fetchall(), default=str)
        assert "HOME-REF-0042" not in text


def test_known_and_derived_placements(store, tmp_path):
    a, b = (-33.8800, 151.2000), (-33.9000, 151.1000)
    rows = [episode(episode_id=f"E{i}", placement_ref="DERIVED-1", last_seen_lat=str(a[0] + 0.00001 * i),
                    last_seen_lon=str(a[1])) for i in range(3)]
    rows.append(episode(episode_id="E9", placement_ref="DERIVED-1", last_seen_lat=str(b[0]), last_seen_lon=str(b[1])))
    rows.append(episode(episode_id="E10", placement_ref="KNOWN-1", person_ref="CHILD-2"))
    ingest_file(store, "episodes", write_csv(tmp_path / "e.csv", EPISODE_HEADER, rows), TEST_KEY)
    ingest_file(store, "placements", _placements_csv(tmp_path, [["KNOWN-1", "foster", "-33.70", "151.00"]]), TEST_KEY)
    got = known_and_derived_placements(store).set_index("source")
    assert sorted(got.index) == ["derived", "file"]
    known, derived = got.loc["file"], got.loc["derived"]
    assert (known["lat"], known["lon"], known["radius_m"]) == (-33.70, 151.00, PLACEMENT_RADIUS_M)
    cell = h3.latlng_to_cell(*a, store.resolution)  # the usual last-seen cell (3 of 4 episodes), not b's
    assert h3.latlng_to_cell(derived["lat"], derived["lon"], store.resolution) == cell
    assert derived["radius_m"] == pytest.approx(PLACEMENT_RADIUS_M + cell_circumradius_m(h3.str_to_int(cell)))
    assert set(person_placements(store)["placement_key"]) == set(got["placement_key"])


def test_rekey_rewrites_placements_and_keeps_the_join(store, tmp_path):
    ingest_file(store, "episodes", write_csv(tmp_path / "e.csv", EPISODE_HEADER, [episode()]), TEST_KEY)
    ingest_file(store, "placements", _placements_csv(tmp_path, [["HOME-REF-0042", "residential", "-33.88", "151.2"]]),
                TEST_KEY)
    before = store.con.execute("select placement_key from placements").fetchone()[0]
    rekey_mod.rekey(store, TEST_KEY, b"new-key-9876543210fedcba9876543210fedcba")
    after = store.con.execute("select placement_key from placements").fetchone()[0]
    assert after != before
    assert store.con.execute(
        "select count(*) from placements p join episodes e using (placement_key)").fetchone()[0] == 1


def test_cli_ingests_placements_and_lists_the_kind(monkeypatch, capsys, tmp_path, key_env):
    def run(*args):
        monkeypatch.setattr(sys, "argv", ["hotspots", *args])
        with pytest.raises(SystemExit) as info:
            cli.main()
        out = capsys.readouterr()
        return info.value.code, out.out, out.err

    db = tmp_path / "s.duckdb"
    assert run("init", "--db", str(db))[0] == 0
    path = _placements_csv(tmp_path, [["H1", "residential", "-33.88", "151.2"]])
    code, out, err = run("ingest", "placements", str(path), "--db", str(db), "--json")
    assert code == 0, err
    assert json.loads(out)[0]["accepted"] == 1
    assert "H1" not in out
    code, out, _ = run("ingest", "--help")
    assert code == 0 and "placements" in out
    code, _, err = run("ingest", "homes", str(path), "--db", str(db))
    assert code == 1 and "placements" in err


def test_an_episode_naming_no_placement_derives_its_young_persons_home(store, tmp_path):
    rows = [episode(episode_id=f"E{i}", placement_ref="", placement_type="") for i in range(3)]
    ingest_file(store, "episodes", write_csv(tmp_path / "e.csv", EPISODE_HEADER, rows), TEST_KEY)
    person = store.con.execute("select distinct person_key from episodes").fetchone()[0]
    got = known_and_derived_placements(store)
    assert got["placement_key"].tolist() == [person] and got["source"].tolist() == ["derived"]
    assert h3.latlng_to_cell(got["lat"].iat[0], got["lon"].iat[0], store.resolution) == \
        h3.latlng_to_cell(-33.88, 151.20, store.resolution)
    links = person_placements(store)
    assert links.values.tolist() == [[person, person]]  # the young person is linked to their own home
