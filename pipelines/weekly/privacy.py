"""The weekly run's privacy scan of its own folder (:mod:`pipelines.privacy_scan`), before anything is published."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines import privacy_scan
from pipelines.store import Store


def scan_folder(store: Store, out_dir: Path, placements: pd.DataFrame, guard, k: int) -> list:
    """The ``privacy_scan`` step: every output against known + derived placements (300 m), the store's
    pseudonyms, ids and raw event points, and the approvals with evidence (``guard.approvals``)."""
    return privacy_scan.scan_outputs(out_dir, placements, privacy_scan.store_forbidden(store),
                                     privacy_scan.store_raw_points(store), k=k, approved=guard.approvals)
