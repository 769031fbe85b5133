"""The safeguarding rules in the weekly run: which cells are withheld from every shared output, the
analyst-only ``withheld.csv`` and the rules' record in run.json."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd

from analytics import grid, safeguarding
from analytics.patrol import PatrolParams, rank_cells
from analytics.plan_places import group_places
from analytics.week_change import HOT_NOW
from pipelines.csv_out import write_csv
from pipelines.hotspots_run import SYNTHETIC_LABEL
from pipelines.store import Store

#: Columns of the analyst-only ``withheld.csv`` (cells only: never a placement's location).
WITHHELD_COLUMNS = ["week", "cell", "category", "rank_without_rule", "rule", "reason", "sources", "young_people",
                    "unnamed_events", "near_placements", "min_unlinked_sources"]


def safeguarding_note() -> str:
    """The line the run's choices (and the report) carry when cells were withheld."""
    return ("Safeguarding: cells whose signal is carried by one or two young people, or that lie within "
            f"{safeguarding.PLACEMENT_RADIUS_M:.0f} m of a care placement without {safeguarding.MIN_UNLINKED_SOURCES} "
            "independent sources unlinked to it, are left out of every shared output (for the analyst: withheld.csv).")



def _hot_now(categories: pd.Series) -> np.ndarray:
    """Cells that are hot spots this week (every hot category but ``historical_hot``)."""
    return categories.isin(HOT_NOW).to_numpy()



def _placements(store: Store) -> pd.DataFrame:
    from pipelines.placements import known_and_derived_placements
    return known_and_derived_placements(store)


def _safeguard(store: Store, rank_in: pd.DataFrame, hotspots: pd.DataFrame, previous: pd.DataFrame,
               placements: pd.DataFrame, pparams: PatrolParams, weeks: list[date], scan: pd.DataFrame,
               extra: np.ndarray | None = None, only_extra: bool = False) -> "safeguarding.SafeguardDecision":
    """Apply the safeguarding rules to every cell a shared output could show.

    Candidates: cells the plan could take (``extra``: the forecast's top cells; and a positive
    :func:`rank_cells` score), hot spots this week and last week (report's top list and headline).
    Sources are counted over the last
    :data:`analytics.safeguarding.DEFAULT_SOURCE_WEEKS` weeks of found/report events
    (episode starts are left out, as everywhere in the engine). ``scan``: the scan's clusters
    (:attr:`pipelines.engine_frames.EngineFrames.scan`). ``only_extra``: assess ``extra`` alone
    (the rules judge each cell on its own, so decisions on disjoint sets can be merged).
    """
    from pipelines.placements import person_placements
    cand: set[int] = set()
    if not only_extra:
        ranked = rank_cells(rank_in, pparams, all_cells=True)
        cand = set(ranked.loc[ranked["score"] > 0, "cell"].astype(np.uint64).tolist())
        cand |= set(grid.hex_to_cells(hotspots.loc[_hot_now(hotspots["category"]), "cell"].tolist()).tolist())
        cand |= set(grid.hex_to_cells(previous.loc[_hot_now(previous["category"]), "cell"].tolist()).tolist())
    if extra is not None:
        cand |= set(np.asarray(extra, dtype=np.uint64).tolist())
    cand_arr = np.array(sorted(cand), dtype=np.uint64)
    first = weeks[max(0, len(weeks) - safeguarding.DEFAULT_SOURCE_WEEKS)]
    store.con.register("weekly_guard_cells", pd.DataFrame({"cell": cand_arr}))
    try:
        events = store.con.execute(
            "select cell, person_key, placement_key, kind, source from int_cell_events "
            "where event <> 'episode_started' and week_start between $a and $b "
            "and cell in (select cast(cell as ubigint) from weekly_guard_cells)",
            {"a": first, "b": weeks[-1]}).df()
    finally:
        store.con.unregister("weekly_guard_cells")
    return safeguarding.assess_cells(cand_arr, events, placements, person_placements(store),
                                     _scan_cluster_cells(scan))


def _scan_cluster_cells(scan: pd.DataFrame | None) -> pd.DataFrame | None:
    """The scan's clusters as (``cells``, ``pattern``): each cluster's member cells as the engine found
    them (the cells whose centres its outline in scan_clusters.geojson holds); None without a cluster."""
    if scan is None or not len(scan) or "pattern" not in scan.columns:
        return None
    cells = [tuple(int(c) for c in members) for members in scan["cells"]]
    return pd.DataFrame({"cells": cells, "pattern": scan["pattern"].to_numpy()})


def _write_withheld(guard, rank_in: pd.DataFrame, pparams: PatrolParams, path: Path, week: str,
                    synthetic: bool, forecast: pd.DataFrame | None = None) -> None:
    """The analyst-only list of withheld cells: what the rules kept out of the shared outputs, and why.

    ``rank_without_rule``: the plan entry the cell would have been in without the rules (the forecast's
    places with nothing withheld, first 5 × ``n_cells`` entries); without ``forecast``, its
    :func:`rank_cells` rank.
    """
    table = guard.cells[guard.cells["withheld"]].copy()
    if forecast is not None:
        unruled = group_places(forecast, n=5 * pparams.n_cells)
        rank = {int(c): int(e) for e, cs in zip(unruled["entry"], unruled["cells"]) for c in cs}
        score = {c: 1.0 for c in rank}
    else:
        ranked = rank_cells(rank_in, pparams, all_cells=True)
        rank = dict(zip(ranked["cell"].astype(np.uint64).tolist(), ranked["rank"].tolist()))
        score = dict(zip(ranked["cell"].astype(np.uint64).tolist(), ranked["score"].tolist()))
    category = dict(zip(rank_in["cell"].astype(np.uint64).tolist(), rank_in["category"].tolist()))
    table["rank_without_rule"] = [rank[c] if score.get(c, 0) > 0 else None for c in table["cell"].tolist()]
    table["category"] = [category.get(c, "") for c in table["cell"].tolist()]
    table["reason"] = table["rule"].map(safeguarding.WITHHELD_REASONS)
    table["week"] = week
    table = table.sort_values(["rank_without_rule", "cell"], na_position="last", kind="mergesort")
    table["cell"] = grid.cells_to_hex(table["cell"].to_numpy(dtype=np.uint64))
    table = table[WITHHELD_COLUMNS]
    if synthetic:
        table = table.assign(synthetic=SYNTHETIC_LABEL)
    write_csv(table, path)  # text cells cannot run as spreadsheet formulas


def _safeguard_record(guard, placements: pd.DataFrame) -> dict:
    """The safeguarding rules' figures for run.json (analyst-only): counts, withheld cells, approvals."""
    return {
        "radius_m": safeguarding.PLACEMENT_RADIUS_M, "min_unlinked_sources": safeguarding.MIN_UNLINKED_SOURCES,
        "source_weeks": safeguarding.DEFAULT_SOURCE_WEEKS,
        "placements": {"file": int((placements["source"] == "file").sum()),
                       "derived": int((placements["source"] == "derived").sum())},
        "cells_assessed": int(len(guard.cells)),
        "withheld": grid.cells_to_hex(np.array(sorted(guard.withheld), dtype=np.uint64)),
        "approved": [{"cell": h3n.int_to_str(a.cell), "placements": a.placements,
                      "min_unlinked_sources": a.min_unlinked_sources} for a in guard.approvals],
    }
