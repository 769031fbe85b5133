"""Named, timed steps of a run: each step reports progress as it starts and records its seconds."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator


class StepTimer:
    """``with steps("name"):`` times the block into ``timings`` and calls ``progress(name)`` first."""

    def __init__(self, timings: dict[str, float] | None = None,
                 progress: Callable[[str], None] | None = None):
        self.timings = {} if timings is None else timings
        self.progress = progress

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self.progress:
            self.progress(name)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - t0, 4)

    step = __call__
