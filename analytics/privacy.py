"""Privacy primitives: keyed pseudonyms and small-count suppression.

Person and placement references are replaced by keyed HMAC-SHA256 pseudonyms before
anything is stored, so the store never holds a raw reference and the pseudonyms
cannot be reversed or recomputed without the key. Counts of distinct young people
below ``k`` are shown as ``"<k"`` in every shared output.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Iterable

DEFAULT_K = 5
PSEUDONYM_PREFIX = "pk_"
_PSEUDONYM_HEX = 32  # 128 bits: collision-free at any realistic number of young people


def pseudonymise(values: Iterable[str], key: bytes) -> list[str]:
    """Keyed HMAC-SHA256 pseudonym of each value (``pk_`` + 32 hex characters)."""
    if len(key) < 16:
        raise ValueError("The pseudonymisation key must be at least 16 bytes.")
    return [
        PSEUDONYM_PREFIX + hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest()[:_PSEUDONYM_HEX]
        for v in values
    ]


def key_fingerprint(key: bytes) -> str:
    """A non-reversible fingerprint of the key, stored to detect a wrong key later."""
    return hmac.new(key, b"safeguard-hotspots key fingerprint", hashlib.sha256).hexdigest()[:16]


def suppress_count(n: int | None, k: int = DEFAULT_K) -> str:
    """A count as text for shared outputs: ``"<k"`` when 0 < n < k (zero stays ``"0"``)."""
    if n is None:
        return ""
    n = int(n)
    return f"<{k}" if 0 < n < k else str(n)
