"""Sources behind scan clusters: a place signal vs one or two young people's repeat episodes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.cluster_sources import PATTERN_PLACE, PATTERN_REPEAT_MISSING, cluster_sources
from analytics.errors import InvalidInputError

A, B, C, D = (np.uint64(0x89BE0E25303FFFF + i * 0x1000000) for i in range(4))


def _events(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["cell", "week_index", "person_key"]).astype({"cell": np.uint64})


def test_counts_worked_by_hand():
    clusters = pd.DataFrame({"cells": [[A, B], [C]], "window_weeks": [2, 1]})
    events = _events([
        (A, 9, "pk_1"), (A, 9, "pk_1"), (B, 8, "pk_1"), (B, 8, "pk_2"),  # cluster 0: 2 people
        (A, 7, "pk_3"),                                                  # before cluster 0's window
        (C, 9, None), (C, 9, None), (C, 9, "pk_4"),                      # cluster 1: 1 person + 2 unnamed
        (C, 8, "pk_5"),                                                  # before cluster 1's window
        (D, 9, "pk_6"),                                                  # in no cluster
    ])
    out = cluster_sources(clusters, events, last_week=9)
    assert out["young_people"].tolist() == [2, 1]
    assert out["unnamed_events"].tolist() == [0, 2]
    assert out["sources"].tolist() == [2, 3]
    assert out["pattern"].tolist() == [PATTERN_REPEAT_MISSING, PATTERN_PLACE]
    # the input is not modified
    assert "pattern" not in clusters


def test_threshold_is_a_parameter():
    clusters = pd.DataFrame({"cells": [[A]], "window_weeks": [4]})
    events = _events([(A, 9, "pk_1"), (A, 8, "pk_2")])
    assert cluster_sources(clusters, events, 9, min_sources=2)["pattern"].iat[0] == PATTERN_PLACE
    assert cluster_sources(clusters, events, 9, min_sources=3)["pattern"].iat[0] == PATTERN_REPEAT_MISSING


def test_cluster_without_events_and_empty_input():
    clusters = pd.DataFrame({"cells": [[D]], "window_weeks": [1]})
    out = cluster_sources(clusters, _events([(A, 9, "pk_1")]), 9)
    assert out[["young_people", "unnamed_events", "sources"]].iloc[0].tolist() == [0, 0, 0]
    assert out["pattern"].iat[0] == PATTERN_REPEAT_MISSING
    empty = cluster_sources(pd.DataFrame({"cells": [], "window_weeks": []}), _events([]), 9)
    assert empty.empty and {"young_people", "sources", "pattern"} <= set(empty.columns)


def test_bad_arguments():
    clusters = pd.DataFrame({"cells": [[A]], "window_weeks": [1]})
    with pytest.raises(InvalidInputError, match="min_sources"):
        cluster_sources(clusters, _events([]), 9, min_sources=0)
    with pytest.raises(InvalidInputError, match="person_key"):
        cluster_sources(clusters, pd.DataFrame({"cell": [A], "week_index": [9]}), 9)
