"""SYNTHETIC city time: local wall-clock seconds since 2024-07-01 00:00 Australia/Sydney, ISO weeks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from analytics.synth.params import FIRST_MONDAY, HOUR, TIMEZONE


# --------------------------------------------------------------------------- time
def week_label(week: int) -> str:
    """ISO week label (YYYY-Www) of week index ``week`` (0 = 2024-W27)."""
    y, w, _ = (FIRST_MONDAY + timedelta(weeks=int(week))).isocalendar()
    return f"{y}-W{w:02d}"


class LocalClock:
    """Local wall-clock seconds since 2024-07-01 00:00 Australia/Sydney -> ISO 8601 with offset.

    Offsets come from ``zoneinfo`` hour by hour; a time inside the spring-forward gap
    (02:00-03:00 on the first Sunday of October) does not exist on the wall, so
    :meth:`normalise` moves it to 03:00 (monotone, keeps ordering).
    """

    def __init__(self, weeks: int):
        tz = ZoneInfo(TIMEZONE)
        base = datetime(FIRST_MONDAY.year, FIRST_MONDAY.month, FIRST_MONDAY.day)
        n_hours = weeks * 7 * 24 + 24 * 7
        self.offset = np.empty(n_hours, np.int32)
        self.gap = np.zeros(n_hours, bool)
        stamps = []
        for h in range(n_hours):
            naive = base + timedelta(hours=h)
            aware = naive.replace(tzinfo=tz)
            self.offset[h] = int(aware.utcoffset().total_seconds())
            self.gap[h] = aware.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) != naive
            stamps.append(naive.strftime("%Y-%m-%dT%H").encode())
        self._hour_text = np.frombuffer(b"".join(stamps), np.uint8).reshape(n_hours, 13)
        off_text = [(("+" if o >= 0 else "-") + f"{abs(o) // 3600:02d}:{abs(o) % 3600 // 60:02d}").encode()
                    for o in self.offset]
        self._off_text = np.frombuffer(b"".join(off_text), np.uint8).reshape(n_hours, 6)
        mmss = [f":{m:02d}:{s:02d}".encode() for m in range(60) for s in range(60)]
        self._mmss_text = np.frombuffer(b"".join(mmss), np.uint8).reshape(3600, 6)

    def normalise(self, secs: np.ndarray) -> np.ndarray:
        """Move times in the DST gap to the end of the gap (they do not exist locally)."""
        secs = np.asarray(secs, np.int64)
        h = secs // HOUR
        in_gap = self.gap[h]
        return np.where(in_gap, (h + 1) * HOUR, secs)

    def iso(self, secs: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
        """ISO 8601 strings like 2025-03-01T22:15:00+11:00 (null where not ``valid``)."""
        secs = np.asarray(secs, np.int64)
        n = secs.shape[0]
        safe = secs if valid is None else np.where(valid, secs, 0)
        h = safe // HOUR
        out = np.empty((n, 25), np.uint8)
        out[:, :13] = self._hour_text[h]
        out[:, 13:19] = self._mmss_text[safe - h * HOUR]
        out[:, 19:] = self._off_text[h]
        mask = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
        arr = pa.FixedSizeBinaryArray.from_buffers(pa.binary(25), n, [mask, pa.py_buffer(out)])
        return arr.cast(pa.string())
