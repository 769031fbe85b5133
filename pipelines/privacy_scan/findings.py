"""One privacy finding (:class:`Finding`) and how a leaked value is shown in it (masked)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Finding:
    """One leak: which file, what kind, where, and a masked description."""

    file: str
    kind: str  # person_ref | placement_coordinate | placement_cell | event_coordinate | small_count
    detail: str
    where: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.file}: {self.kind} — {self.detail}" + (f" ({self.where})" if self.where else "")


def _mask(value: str) -> str:
    value = str(value)
    return value if len(value) <= 6 else f"{value[:6]}… ({len(value)} chars)"
