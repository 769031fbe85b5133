"""Privacy primitives: keyed pseudonyms and small-count suppression.

Person and placement references are replaced by keyed HMAC-SHA256 pseudonyms before
anything is stored, so the store never holds a raw reference and the pseudonyms
cannot be reversed or recomputed without the key. Counts of distinct young people
below ``k`` are shown as ``"<k"`` in every shared output.
"""

from __future__ import annotations

import hashlib
import hmac
import numbers
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

    >>> normalise_ref("\uff23\uff28\uff29\uff2c\uff24\uff11")  # fullwidth CHILD1
    'CHILD1'
    >>> normalise_ref(" CHILD\u200b1 ")
    'CHILD1'
    """
    text = str(value)
    if text.isascii():  # the usual case: nothing to normalise
        return text.strip(" ")
    return unicodedata.normalize("NFKC", text.translate(_DROP_ZERO_WIDTH)).translate(_DROP_ZERO_WIDTH).strip(" ")


def pseudonymise(values: Iterable[str], key: bytes) -> list[str]:
    """Keyed HMAC-SHA256 pseudonym of each value (``pk_`` + 32 hex characters), taken of the value as
    ``normalise_ref`` gives it (pseudonyms themselves are unchanged by it, so key chains compose).

    >>> a, b = pseudonymise(["CHILD-1", " CHILD-1"], b"0123456789abcdef")
    >>> a == b, a.startswith("pk_"), len(a), "CHILD" in a
    (True, True, 35, False)
    >>> pseudonymise(["CHILD-1"], b"short")
    Traceback (most recent call last):
    ...
    ValueError: The pseudonymisation key must be at least 16 bytes.
    """
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
    """A count as text for shared outputs: ``"<k"`` when 0 < n < k (zero stays ``"0"``).

    >>> [suppress_count(n) for n in (0, 1, 4, 5, None)]
    ['0', '<5', '<5', '5', '']
    >>> suppress_count(9, k=10)
    '<10'
    """
    if n is None:
        return ""
    n = int(n)
    return f"<{k}" if 0 < n < k else str(n)


# --------------------------------------------------------------------------- suppression that holds
#: Marker of a count hidden by secondary suppression (a count of at least k, hidden so that
#: the small counts beside it cannot be worked out from the table's total).
SECONDARY_MARK = "*"


def _label_bounds(value: int | str | None, k: int | None, total: int, has_small: bool) -> tuple[float, float]:
    """What a reader knows of one hidden cell from its label alone (a-priori bounds)."""
    if k is None:
        return 0.0, float(total)
    if isinstance(value, str) and value == f"<{k}":
        return 1.0, float(min(k - 1, total))
    # "*" beside a "<k" is (by the rule) a count of at least k; a partition hidden whole may hold anything
    return (float(min(k, total)) if has_small else 0.0), float(total)


def _is_hidden(value: int | str | None) -> bool:
    """A cell is shown when its published value is an integer (numpy integers too); anything else is hidden."""
    return not (isinstance(value, numbers.Integral) and not isinstance(value, bool))


def disclosure_intervals(published: list[int | str | None], total: int, k: int | None = None
                         ) -> list[tuple[float, float] | None]:
    """The interval each hidden cell of a one-way table is known to lie in, given what is published.

    Parameters
    ----------
    published : list
        One entry per cell of a partition of ``total`` (the cells add up to it): an ``int``
        for a shown count, anything else (``"<5"``, ``"*"``, ``None``) for a hidden one.
    total : int
        The published margin.
    k : int, optional
        With ``k`` the reader also uses the labels: ``"<k"`` lies in [1, k−1] and a ``"*"``
        beside a ``"<k"`` in [k, total] (how :func:`suppress_table` labels them). Without
        ``k`` every hidden cell lies in [0, total].

    Returns
    -------
    list
        ``(lo, hi)`` for each hidden cell (``None`` for shown cells): the minimum and maximum
        of that cell over every table with the published values (the linear-programming
        relaxation of the attack; for a one-way table it has this closed form: the hidden
        cells add up to ``total`` minus the shown ones, each within its bounds).

    Examples
    --------
    >>> disclosure_intervals([10, 9, "<5", "<5", "<5"], 22, k=5)[2:]
    [(1.0, 1.0), (1.0, 1.0), (1.0, 1.0)]
    """
    hidden = [i for i, v in enumerate(published) if _is_hidden(v)]
    rest = float(total) - float(sum(v for v in published if not _is_hidden(v)))
    has_small = k is not None and any(published[i] == f"<{k}" for i in hidden)
    bounds = {i: _label_bounds(published[i], k, total, has_small) for i in hidden}
    lo_sum = sum(b[0] for b in bounds.values())
    hi_sum = sum(b[1] for b in bounds.values())
    out: list[tuple[float, float] | None] = [None] * len(published)
    for i in hidden:
        a, b = bounds[i]
        out[i] = (max(a, rest - (hi_sum - b)), min(b, rest - (lo_sum - a)))
    return out


def table_is_protected(published: list[int | str | None], total: int | None, k: int) -> bool:
    """True when the published margin narrows no hidden small count beyond what its label says.

    Every ``"<k"`` cell must still range over all of [1, k−1], and no hidden cell may be
    pinned to one value. A table whose total is itself hidden (or absent) publishes no
    margin and is protected by primary suppression alone.

    >>> table_is_protected([10, 9, "<5", "<5", "<5"], 22, 5)  # the three hidden counts must be 1 each
    False
    >>> table_is_protected([10, "*", "<5", "<5", "<5"], 22, 5)
    True
    >>> table_is_protected(["<5", 7], None, 5)  # no margin published
    True
    """
    if total is None or 0 < total < k:
        return True
    small = f"<{k}"
    for value, iv in zip(published, disclosure_intervals(published, total, k)):
        if iv is None:
            continue
        lo, hi = iv
        if hi - lo < 1e-9:
            return False
        if value == small and (lo > 1 + 1e-9 or hi < k - 1 - 1e-9):
            return False
    return True


def suppress_table(counts: list[int], k: int, total: int | None) -> list[str]:
    """Display values of one partition of ``total`` (e.g. the age bands of one column), suppressed to hold.

    Primary suppression: 0 < n < k shows as ``"<k"`` (zero stays ``"0"``). Secondary
    suppression: while the published ``total`` would narrow a hidden count (see
    :func:`table_is_protected`), the smallest shown count of at least ``k`` is hidden as
    ``"*"``. If every such count is hidden and the margin still pins a small count, every
    cell of the partition (zeros too) shows ``"*"``: nothing then bounds a cell below the
    total. With no total shown there is no margin and primary suppression is enough.

    Examples
    --------
    >>> suppress_table([10, 9, 1, 1, 1], 5, 22)
    ['10', '*', '<5', '<5', '<5']
    >>> suppress_table([0, 0, 9], 5, 9)
    ['0', '0', '9']
    >>> suppress_table([6, 1], 5, 7)
    ['*', '*']
    """
    if k < 2:
        return [str(int(c)) for c in counts]
    counts = [int(c) for c in counts]
    out: list[int | str] = [f"<{k}" if 0 < c < k else c for c in counts]
    if total is None or 0 < total < k or not any(isinstance(v, str) for v in out):
        return [str(v) for v in out]
    while not table_is_protected(out, total, k):
        shown = [i for i, v in enumerate(out) if not isinstance(v, str) and v >= k]
        if not shown:
            return [SECONDARY_MARK] * len(out)
        j = min(shown, key=lambda i: (counts[i], i))
        out[j] = SECONDARY_MARK
    return [str(v) for v in out]
