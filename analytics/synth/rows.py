"""SYNTHETIC output rows: contract dtypes, ids, planted bad rows and duplicates, source mixes."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from analytics.contracts import EQUITY_FLAG_COLUMNS
from analytics.synth.params import FOUND_SOURCES, SIGHTING_SOURCES, VENUE_SOURCES, _pick


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integer split of ``total`` proportional to ``weights`` (deterministic)."""
    share = total * weights / weights.sum()
    base = np.floor(share).astype(np.int64)
    rest = total - base.sum()
    base[np.argsort(-(share - base), kind="stable")[:rest]] += 1
    return base


def _fill_sources(rng, df: pd.DataFrame) -> np.ndarray:
    """Source by kind: found -> police/carers; disclosures -> return interviews; else mixed."""
    kind = df["kind"].to_numpy()
    n = len(df)
    src = _pick(rng, VENUE_SOURCES, n)
    sight = _pick(rng, SIGHTING_SOURCES, n)
    found = _pick(rng, FOUND_SOURCES, n)
    src = np.where(kind == "sighting", sight, src)
    src = np.where(kind == "found", found, src)
    return np.where(kind == "rhi_disclosure", "return_interview", src)


_DTYPES = {
    "episodes": {"cse_concern": "boolean", "rhi_completed": "boolean", "age_years": "Int64",
                 **dict.fromkeys(EQUITY_FLAG_COLUMNS, "boolean"),
                 "last_seen_lat": "float64", "last_seen_lon": "float64",
                 "found_lat": "float64", "found_lon": "float64"},
    "location_reports": {"lat": "float64", "lon": "float64"},
    "disruptions": {"lat": "float64", "lon": "float64"},
}


def _with_contract_dtypes(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Nullable dtypes per the contract; every other column is a string column."""
    types = _DTYPES[kind]
    for col in df.columns:
        df[col] = df[col].astype(types.get(col, "string"))
    return df


def _bad_value(reason: str, col: str, rng) -> object:
    """The corrupted value for one planted bad row."""
    if reason == "lat_out_of_range":
        return float(rng.choice([-95.123456, 91.5, -123.4]))
    if reason == "null_island":
        return 0.0
    if reason == "bad_timestamp":
        return str(rng.choice(["2025-13-45T25:61:00+10:00", "31/02/2025 25:61", "yesterday evening"]))
    if reason == "outside_study_area":
        return (float(rng.uniform(-33.95, -33.75)), float(rng.uniform(151.45, 151.6)))  # at sea, east of the coast
    if reason.startswith("unknown_enum"):
        return {"kind": "rumour", "source": "social_media", "placement_type": "hostel"}.get(col, "unknown")
    if reason == "age_out_of_range":
        return 19
    return None  # missing_required / returned_before_missing are computed from the row


def _ids(prefix: str, numbers: np.ndarray, width: int, valid: np.ndarray | None = None) -> pd.Series:
    """Zero-padded ids like SYN-R0000001, built as bytes (fast for millions of rows)."""
    numbers = np.asarray(numbers, np.int64)
    n = numbers.size
    head = prefix.encode()
    out = np.empty((n, len(head) + width), np.uint8)
    out[:, :len(head)] = np.frombuffer(head, np.uint8)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    out[:, len(head):] = (numbers[:, None] // powers[None, :]) % 10 + 48
    mask = None if valid is None else pa.py_buffer(np.packbits(np.asarray(valid, bool), bitorder="little"))
    arr = pa.FixedSizeBinaryArray.from_buffers(pa.binary(out.shape[1]), n, [mask, pa.py_buffer(out)])
    return arr.cast(pa.string()).to_pandas()


def _insert_bad_rows(df: pd.DataFrame, plan: list[tuple[str, str, object]], src: np.ndarray) -> pd.DataFrame:
    """Copy rows ``src``, corrupt exactly one thing in each copy, insert each right after its source."""
    df = df.copy()
    df["_bad"] = pd.Series([None] * len(df), dtype="string")
    copies = []
    for (reason, col, value), i in zip(plan, src):
        row = df.iloc[[i]].copy()
        _corrupt(row, reason, col, value)
        row["_bad"] = reason
        row["_pos"] = i + 0.5
        copies.append(row)
    df["_pos"] = np.arange(len(df), dtype=float)
    out = pd.concat([df, *copies], ignore_index=True).sort_values("_pos", kind="stable")
    return out.drop(columns=["_pos"]).reset_index(drop=True)


def _corrupt(row: pd.DataFrame, reason: str, col: str, value: object) -> None:
    if reason == "null_island":
        a, b = col.split(",")
        row[a], row[b] = 0.0, 0.0
    elif reason == "outside_study_area":
        row["lat"], row["lon"] = round(value[0], 6), round(value[1], 6)
    elif reason == "returned_before_missing":
        text = row["missing_from"].iat[0]
        stamp = datetime.fromisoformat(text) - timedelta(hours=3)
        row["returned_at"] = stamp.isoformat()
    elif reason.startswith("missing_required"):
        row[col] = pd.NA
    else:
        row[col] = value


def _bad_row_records(df: pd.DataFrame, id_col: str) -> list[dict]:
    bad = df[df["_bad"].notna()]
    return [{"id": i, "reason": r} for i, r in zip(bad[id_col].tolist(), bad["_bad"].tolist())]


def _count_reasons(records: list[dict]) -> dict:
    out: dict[str, int] = {}
    for r in records:
        out[r["reason"]] = out.get(r["reason"], 0) + 1
    return dict(sorted(out.items()))


def _insert_duplicates(df: pd.DataFrame, rng, n: int, within: int) -> pd.DataFrame:
    """Repeat ``n`` valid rows (among the first ``within``) exactly, each right after the original."""
    ok = np.flatnonzero(df["_bad"].isna().to_numpy()[:within])
    src = np.sort(rng.choice(ok, size=n, replace=False))
    order = np.concatenate([np.arange(len(df)), src]).astype(float)
    order[len(df):] += 0.5
    out = pd.concat([df, df.iloc[src]], ignore_index=True)
    return out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
