"""Retention and erasure: ``hotspots purge --before DATE`` and ``--person-ref REF`` (issue 12 §13).

What goes, in one transaction:

* **episodes** -- every version (current and ``episodes_history``) of each episode of which
  *any* version matches: ``missing_from`` before the cut-off, or ``person_key`` equal to the
  pseudonymised reference;
* **location reports** -- likewise by ``observed_at`` or ``person_key``; for ``--person-ref``
  also every report naming one of that young person's purged episodes (``episode_id``);
* **quarantined rows** of episodes and reports (``row_json`` holds the row as read, with the
  references pseudonymised): for ``--before``, rows whose date (``missing_from`` /
  ``observed_at``, read as ISO 8601) is before the cut-off, or -- because a quarantined date may
  be unreadable -- whose batch was ingested before it (no accepted record can be dated after its
  ingest); for ``--person-ref``, rows whose ``person_ref`` matches, whose ``record_id`` is a
  purged episode/report, or (reports) whose ``episode_id`` is a purged episode. The count of
  quarantined rows removed per batch goes to ``purged_quarantine``, so every batch still balances.

``--before DATE`` cuts at midnight at the start of DATE in the store's time zone. A reference is
cleaned (the ingest's ``clean()``) and pseudonymised with the store's key chain before matching,
exactly as ingest does; it is never stored, logged or printed. Batches, places, disruptions
and the boundary are kept. The store is then rewritten into a fresh file and its snapshot
rebuilt (:func:`pipelines.store.rewrite_store`), so nothing removed remains in any byte of the store's files.
The audit row holds counts only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from analytics.errors import InvalidInputError, StoreError
from pipelines import keys as keys_mod
from pipelines import store as store_mod
from pipelines.store import Store

#: (table, id column, date column, has person_key) of the record kinds a purge removes.
RECORDS = (("episodes", "episode_id", "missing_from"), ("location_reports", "report_id", "observed_at"))
#: quarantine ``kind`` and the row_json date field of each record kind.
QUARANTINE_KINDS = {"episodes": ("episodes", "missing_from"), "location_reports": ("reports", "observed_at")}


@dataclass(frozen=True)
class PurgeResult:
    """What a purge removed (counts only: never a reference or an id)."""

    before: str | None
    person_ref_given: bool
    rows: dict[str, int] = field(default_factory=dict)   # table -> rows removed
    dry_run: bool = False
    warning: str | None = None

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def as_json(self) -> dict:
        return {"before": self.before, "person_ref": "given" if self.person_ref_given else None,
                "dry_run": self.dry_run, "rows": self.rows, "total": self.total, "warning": self.warning}


def parse_cutoff(text: str | None, tz: str) -> datetime | None:
    """``YYYY-MM-DD`` as midnight at the start of that day in ``tz``; None for None."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"--before must be a date like 2024-07-01; received {text!r}.") from None
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))


def pseudonymise_ref(store: Store, ref: str, key: bytes) -> str:
    """The stored pseudonym of a raw reference: cleaned as ingest cleans it, then the key chain."""
    cleaned = store.con.execute("select clean($r)", {"r": ref}).fetchone()[0]
    if cleaned is None:
        raise InvalidInputError("--person-ref is empty.")
    return keys_mod.pseudonymise_chain([cleaned], key)[0]


def _matching_ids(con, table: str, idc: str, datec: str, cut, person: str | None) -> str:
    """SQL of the ids of ``table`` of which any version (current or history) matches."""
    conds = []
    if cut is not None:
        conds.append(f"{datec} < $cut")
    if person is not None:
        conds.append("person_key = $person")
        if table == "location_reports":
            conds.append("episode_id in (select id from purge_ids where tbl = 'episodes')")
    where = " or ".join(conds)
    return (f"select distinct {idc} from (select {idc}, {datec}, person_key{', episode_id' if table == 'location_reports' else ''} "
            f"from {table} union all select {idc}, {datec}, person_key"
            f"{', episode_id' if table == 'location_reports' else ''} from {table}_history) where {where}")


def _quarantine_condition(table: str, cut, person: str | None) -> str:
    kind, datef = QUARANTINE_KINDS[table]
    conds = [f"q.record_id in (select id from purge_ids where tbl = '{table}')"]
    if cut is not None:
        conds.append(f"try_cast(json_extract_string(q.row_json, '$.{datef}') as timestamptz) < $cut")
        conds.append("q.batch_id in (select batch_id from batches where finished_at < $cut)")
    if person is not None:
        conds.append("json_extract_string(q.row_json, '$.person_ref') = $person")
        if table == "location_reports":
            conds.append("json_extract_string(q.row_json, '$.episode_id') in "
                         "(select id from purge_ids where tbl = 'episodes')")
    return f"q.kind = '{kind}' and ({' or '.join(conds)})"


def _params(sql: str, cut, person) -> dict:
    got = {}
    if "$cut" in sql:
        got["cut"] = cut
    if "$person" in sql:
        got["person"] = person
    return got


def _run(con, sql: str, cut, person):
    return con.execute(sql, _params(sql, cut, person))


def purge(store: Store, before: datetime | None, person_key: str | None, dry_run: bool = False) -> dict[str, int]:
    """Remove (or, with ``dry_run``, count) what matches, in one transaction; returns rows per table.

    ``before``: an aware cut-off; ``person_key``: an already pseudonymised reference.
    The store is marked ``rewrite_pending`` in the same transaction (unless nothing matched).
    """
    if before is None and person_key is None:
        raise InvalidInputError("Say what to purge: --before DATE and/or --person-ref REF.")
    if store.read_only and not dry_run:
        raise StoreError("purge needs a writable store.")
    con = store.con
    rows: dict[str, int] = {}
    con.execute("begin transaction")
    try:
        con.execute("create or replace temp table purge_ids (tbl varchar, id varchar)")
        for table, idc, datec in RECORDS:  # episodes first: reports may follow their episodes
            sql = (f"insert into purge_ids select '{table}', {idc} from ("
                   f"{_matching_ids(con, table, idc, datec, before, person_key)})")
            _run(con, sql, before, person_key)
        for table, idc, _ in RECORDS:
            for t in (table, f"{table}_history"):
                sql = f"from {t} where {idc} in (select id from purge_ids where tbl = '{table}')"
                rows[t] = con.execute(f"select count(*) {sql}").fetchone()[0]
                if not dry_run and rows[t]:
                    con.execute(f"delete {sql}")
        qcond = " or ".join(f"({_quarantine_condition(t, before, person_key)})" for t, _, _ in RECORDS)
        per_batch = _run(con, f"select q.batch_id, count(*) from quarantine q where {qcond} group by 1 order by 1",
                         before, person_key).fetchall()
        rows["quarantine"] = int(sum(n for _, n in per_batch))
        if not dry_run and per_batch:
            _run(con, f"delete from quarantine q where {qcond}", before, person_key)
            con.register("purged_per_batch", pd.DataFrame(per_batch, columns=["batch_id", "n_rows"]))
            try:
                con.execute("insert into purged_quarantine select batch_id, n_rows, now() from purged_per_batch")
            finally:
                con.unregister("purged_per_batch")
        con.execute("drop table purge_ids")
        if not dry_run and sum(rows.values()):
            store_mod.mark_rewrite_pending(store, "purge")
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("rollback" if dry_run else "commit")
    return rows


def purge_store(db_path: Path, before: str | None, person_ref: str | None, dry_run: bool = False) -> PurgeResult:
    """The ``hotspots purge`` command: purge, rewrite the store into a fresh file, rebuild the snapshot.

    ``person_ref`` is the raw reference as the agency knows it; it is pseudonymised with the
    store's key (chain) -- which must match the store -- and then forgotten.
    """
    if before is None and person_ref is None:
        raise InvalidInputError("Say what to purge: --before DATE and/or --person-ref REF.")
    st = store_mod.open_store(db_path)
    try:
        cut = parse_cutoff(before, st.timezone)
        person = None
        if person_ref is not None:
            key = keys_mod.load_key(db_path)
            keys_mod.check_key(key, st.setting("key_fingerprint"), db_path, st.setting("key_chain"))
            person = pseudonymise_ref(st, person_ref, key)
        rows = purge(st, cut, person, dry_run=dry_run)
        warning = None
        if not dry_run and sum(rows.values()):
            st, warning = store_mod.rewrite_and_snapshot(st)
    finally:
        st.close()
    return PurgeResult(before, person_ref is not None, rows, dry_run, warning)
