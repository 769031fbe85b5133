"""Classifying a staged batch (rejected, conflict, duplicate, new, update), quarantining the bad
rows and summing the batch's accounting and hints."""

from __future__ import annotations

from pipelines import date_hints
from pipelines.batches import BatchResult
from pipelines.ingest.kinds import KindSpec
from pipelines.ingest.read import _quote

SYNTHETIC_PREFIX = "SYN-"
#: Characters of each field kept in a quarantined row's row_json (the full length is in the detail).
QUARANTINE_FIELD_CHARS = 2000


def _classify(con, kind: str, spec: KindSpec) -> dict[str, int]:
    """Temp table ``cls_<kind>``, narrow: ``_row``, the id and ``outcome`` of each staged row
    (the wide rows stay in ``stg_<kind>``, which also holds their hash); returns the count of
    each outcome.

    Outcomes: rejected (failed a rule), conflict (same id, different content in this
    file), duplicate (repeat in this file, or identical to the stored row), new, update.
    Only ids given more than once (usually few) are aggregated further and joined back, so
    a file of distinct ids costs one grouping pass and a join with the stored ids.
    """
    idc = spec.contract.id_column
    con.execute(f"""
        create or replace temp table cls_{kind} as
        with repeated as materialized (
            select {idc} as id, min(_row) as first_row
            from stg_{kind} where reject is null group by {idc} having count(*) > 1
        ),
        conflicts as (
            select {idc} as id from stg_{kind}
            where reject is null and {idc} in (select id from repeated)
            group by {idc} having min(row_hash) <> max(row_hash)
        ),
        current as (select {idc} as id, row_hash as current_hash from {spec.table})
        select s._row, s.{idc},
            case
                when s.reject is not null then 'rejected'
                when x.id is not null then 'conflict'
                when s._row <> r.first_row then 'duplicate'
                when c.id is null then 'new'
                when c.current_hash = s.row_hash then 'duplicate'
                else 'update'
            end as outcome
        from stg_{kind} s
        left join repeated r on s.{idc} = r.id
        left join conflicts x on s.{idc} = x.id
        left join current c on s.{idc} = c.id and s._row = coalesce(r.first_row, s._row)
    """)
    return dict(con.execute(f"select outcome, count(*) from cls_{kind} group by outcome").fetchall())


def _count_adjustments(con, kind: str) -> tuple[dict[str, int], dict[str, int]]:
    """(recoded per column, flagged per flag) over the rows this batch stores (new or updated),
    from staging's ``adjust`` list ('recoded:<col>', 'flagged:<flag>'); empty for kinds without it."""
    columns = {r[0] for r in con.execute(f"describe stg_{kind}").fetchall()}
    if "adjust" not in columns:
        return {}, {}
    rows = con.execute(f"""
        with adjusted as (select _row, adjust from stg_{kind} where len(adjust) > 0)
        select a, count(*) from (
            select unnest(s.adjust) as a from adjusted s join cls_{kind} c using (_row)
            where c.outcome in ('new', 'update')
        ) group by a order by 2 desc, 1""").fetchall()
    got: dict[str, dict[str, int]] = {"recoded": {}, "flagged": {}}
    for tag, n in rows:
        what, _, name = tag.partition(":")
        got[what][name] = n
    return got["recoded"], got["flagged"]


def _insert_quarantine(con, kind: str, spec: KindSpec, batch_id: str) -> None:
    """One quarantine row per rejected or conflicting row: reason, detail, and the row as read
    (``row_json``: text, identifiers pseudonymised, each field cut at QUARANTINE_FIELD_CHARS).
    A streamed file is read again here, and only when some row is quarantined."""
    bad = f"select _row, outcome from cls_{kind} where outcome in ('rejected', 'conflict')"
    if not con.execute(f"select exists ({bad})").fetchone()[0]:
        return
    idc = spec.contract.id_column
    n = QUARANTINE_FIELD_CHARS
    raw_cols = ", ".join(
        f"{_quote(c)} := case when length({v}) > {n} then left({v}, {n}) || "
        f"'...[' || cast(length({v}) - {n} as varchar) || ' more characters]' else {v} end"
        for c, v in ((c, f"cast(r.{_quote(c)} as varchar)") for c in spec.contract.columns))
    con.execute(f"""
        insert into quarantine
        select $b, $k, s._row, s.{idc},
            coalesce(s.reject.r, 'conflicting_duplicate_id'),
            coalesce(s.reject.d, case when q.outcome = 'conflict'
                then '{idc} ' || s.{idc} || ' appears with different content in this file' end),
            to_json(struct_pack({raw_cols}))
        from ({bad}) q
        join stg_{kind} s using (_row)
        join raw_{kind} r using (_row)
        order by s._row
    """, {"b": batch_id, "k": kind})


def _count_read(con, kind: str) -> int:
    """Rows in the file (from the raw relation itself, so the accounting check can catch a
    row lost on the way)."""
    return con.execute(f"select count(*) from base_{kind}").fetchone()[0]


def _summarise(con, kind: str, spec: KindSpec, result: BatchResult, counts: dict[str, int], batch_id: str,
               read: int) -> None:
    """Fill ``result`` from the outcome counts and the quarantine rows of this batch."""
    result.read = read
    result.accepted = counts.get("new", 0)
    result.updated = counts.get("update", 0)
    result.duplicate = counts.get("duplicate", 0)
    result.rejected = counts.get("rejected", 0) + counts.get("conflict", 0)
    result.reasons = dict(con.execute(
        "select reason, count(*) from quarantine where batch_id = $b group by reason order by 2 desc, 1",
        {"b": batch_id}).fetchall())
    idc = spec.contract.id_column
    n_ids, n_syn = con.execute(
        f"select count({idc}), count(*) filter (where starts_with({idc}, '{SYNTHETIC_PREFIX}')) from cls_{kind}"
    ).fetchone()
    result.synthetic = n_ids > 0 and n_ids == n_syn


def _hints(result: BatchResult, con=None) -> list[str]:
    """One line per reject reason that a re-run with an option would fix. With ``con``, the
    ambiguous_date hint says what the file's own dates show (``pipelines.date_hints``)."""
    hints = []
    evidence = con is not None and any(result.reasons.get(r) for r in date_hints.DATE_REASONS) and \
        date_hints.date_order_evidence(con, result.batch_id)
    settled = evidence and date_hints.date_order_hint(evidence)
    if settled:
        hints.append(settled)
    elif result.reasons.get("ambiguous_date"):
        hints.append(f"{result.reasons['ambiguous_date']} row(s) have day/month dates such as 03/04/2025 whose "
                     f"order is unknown; re-run with --date-order dmy (day first) or --date-order mdy (month first).")
    if result.reasons.get("excel_serial_date"):
        hints.append(f"{result.reasons['excel_serial_date']} row(s) have spreadsheet day numbers (e.g. 45717.5) "
                     f"as dates; export dates as ISO 8601 text, or re-run with --excel-dates to convert them.")
    return hints
