"""Privacy primitives: keyed pseudonyms and small-count suppression.

Person and placement references are replaced by keyed HMAC-SHA256 pseudonyms before
anything is stored, so the store never holds a raw reference and the pseudonyms
cannot be reversed or recomputed without the key. Counts of distinct young people
below ``k`` are shown as ``"<k"`` in every shared output.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from typing import Iterable

DEFAULT_K = 5
PSEUDONYM_PREFIX = "pk_"
_PSEUDONYM_HEX = 32  # 128 bits: collision-free at any realistic number of young people


#: Invisible characters removed from identifiers: zero-width space, non-joiner and joiner
#: (U+200B-U+200D), word joiner (U+2060), zero-width no-break space / byte-order mark (U+FEFF),
#: and the other invisible format characters a copy-paste carries: soft hyphen (U+00AD),
#: Mongolian vowel separator (U+180E), left-to-right / right-to-left marks (U+200E, U+200F),
#: bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and the
#: invisible operators (U+2061-U+2064).
ZERO_WIDTH = ("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
              "\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069")
_DROP_ZERO_WIDTH = dict.fromkeys(map(ord, ZERO_WIDTH))


def normalise_ref(value: str) -> str:
    """An identifier as compared and pseudonymised: Unicode NFKC (fullwidth ``ＣＨＩＬＤ１`` -> ``CHILD1``,
    a no-break space -> a space), zero-width characters (``ZERO_WIDTH``) removed, spaces trimmed.

    So one reference typed or exported two ways is one young person, not two. Control
    characters are kept (ingest rejects them as ``bad_id:<col>``).
    """
    text = str(value)
    if text.isascii():  # the usual case: nothing to normalise
        return text.strip(" ")
    return unicodedata.normalize("NFKC", text.translate(_DROP_ZERO_WIDTH)).translate(_DROP_ZERO_WIDTH).strip(" ")


def pseudonymise(values: Iterable[str], key: bytes) -> list[str]:
    """Keyed HMAC-SHA256 pseudonym of each value (``pk_`` + 32 hex characters), taken of the value as
    ``normalise_ref`` gives it (pseudonyms themselves are unchanged by it, so key chains compose)."""
    if len(key) < 16:
        raise ValueError("The pseudonymisation key must be at least 16 bytes.")
    return [
        PSEUDONYM_PREFIX + hmac.new(key, normalise_ref(v).encode("utf-8"), hashlib.sha256).hexdigest()[:_PSEUDONYM_HEX]
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
