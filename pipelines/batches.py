"""Batch bookkeeping shared by every ingest path: what happened to one file, its id, its record.

``pipelines.ingest`` (tabular and point files) and ``pipelines.geo_inputs`` (the boundary) both
record one row in ``batches`` per file; the shared pieces live here so neither imports the other.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone


@dataclass
class BatchResult:
    """What happened to one file."""

    file: str
    kind: str
    batch_id: str | None
    read: int = 0
    accepted: int = 0
    updated: int = 0
    duplicate: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    dropped_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    synthetic: bool = False
    hints: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. times that do not fit the store's zone (tz_check)
    #: values outside a closed vocabulary stored as other / not_stated, per column (never the values)
    recoded: dict[str, int] = field(default_factory=dict)
    #: accepted rows carrying a warning, per flag (e.g. ambiguous_local_time)
    flagged: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict:
        return asdict(self)

    def balanced(self) -> bool:
        """read = accepted + updated + duplicate + rejected.

        >>> BatchResult("a.csv", "reports", "B000001", read=5, accepted=3, duplicate=1, rejected=1).balanced()
        True
        >>> BatchResult("a.csv", "reports", "B000001", read=5, accepted=3).balanced()
        False
        """
        return self.read == self.accepted + self.updated + self.duplicate + self.rejected


def batch_id_for(n_recorded: int) -> str:
    """The id of the next batch after ``n_recorded`` batches.

    >>> batch_id_for(0), batch_id_for(41)
    ('B000001', 'B000042')
    """
    return f"B{n_recorded + 1:06d}"


def next_batch_id(con) -> str:
    """The id the next batch recorded in this store gets."""
    return batch_id_for(con.execute("select count(*) from batches").fetchone()[0])


def adjustments_json(result: BatchResult) -> str | None:
    """``batches.adjustments``: the recoded and flagged counts as JSON, or None when there are none.

    >>> adjustments_json(BatchResult("a.csv", "episodes", "B000001", recoded={"gender": 3}))
    '{"recoded": {"gender": 3}}'
    >>> adjustments_json(BatchResult("a.csv", "episodes", "B000001")) is None
    True
    """
    got = {k: v for k, v in (("recoded", result.recoded), ("flagged", result.flagged)) if v}
    return json.dumps(got, sort_keys=True) if got else None


def record_batch(con, result: BatchResult, sha: str, started: datetime) -> None:
    """Insert the ``batches`` row of one file (inside the caller's transaction)."""
    con.execute(
        "insert into batches (batch_id, kind, file_name, file_sha256, started_at, finished_at, n_read, n_accepted, "
        "n_updated, n_duplicate, n_rejected, dropped_columns, ignored_columns, synthetic, adjustments) "
        "values ($b, $k, $f, $sha, $s, $e, $r, $a, $u, $d, $j, $dc, $ic, $syn, $adj)",
        {"b": result.batch_id, "k": result.kind, "f": result.file, "sha": sha, "s": started,
         "e": datetime.now(timezone.utc), "r": result.read, "a": result.accepted, "u": result.updated,
         "d": result.duplicate, "j": result.rejected,
         "dc": ",".join(result.dropped_columns) or None, "ic": ",".join(result.ignored_columns) or None,
         "syn": result.synthetic, "adj": adjustments_json(result)})
