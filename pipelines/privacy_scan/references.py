"""Check 1, person references: the forbidden strings (the store's pseudonyms and record ids) and
pseudonym / synthetic-id patterns, looked for in every file's text as rendered (escapes decoded)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

import pandas as pd

from pipelines.privacy_scan.findings import Finding, _mask

# A pseudonym as rendered: ``pk_`` kept, or turned into a space or hyphen (a label's "_" -> " "),
# or dropped, in either case, next to any punctuation or underscore (issue 12 item 4).
# Escapes in rendered text. Before a token, a JSON \uXXXX or URL %XX escape ends in a letter or
# digit ("\u003epk_…", "%22pk_…") that must not count as part of the token; an escape OF a token
# character ("pk&#95;…", "pk\u005f…", "pk%5F…", "&lowbar;") hides the token until it is decoded.
_AFTER_ESCAPE = r"(?:(?<![A-Za-z0-9])|(?<=\\u[0-9a-fA-F]{4})|(?<=%[0-9A-Fa-f]{2}))"
_PK_RE = re.compile(_AFTER_ESCAPE + r"pk(?:[_\s\-]+[0-9a-f]{8,}|[0-9a-f]{16,})", re.IGNORECASE)
_SYN_RE = re.compile(_AFTER_ESCAPE + r"SYN[-_\s]?[EPHR]\d{3,}")
# where a match of each can start (same case rules: with IGNORECASE "k" also matches the Kelvin sign)
_PK_AT_RE = re.compile(r"pk", re.IGNORECASE)
_SYN_AT_RE = re.compile(r"SYN")
_ESCAPE_END_RE = re.compile(r"(?:\\u[0-9a-fA-F]{4}|%[0-9A-Fa-f]{2})$")
# one pattern per escape kind, each starting with a literal (the regex engine then skips to it fast)
_TOKEN_AFTER_ESCAPE_RES = (re.compile(r"\\u[0-9a-fA-F]{4}([A-Za-z0-9_\-]+)"), re.compile(r"%[0-9A-Fa-f]{2}([A-Za-z0-9_\-]+)"))
_TOKEN_CHAR_HEX = r"(?:2[dD]|3\d|4[1-9a-fA-F]|5[0-9aAfF]|6[1-9a-fA-F]|7[0-9aA])"  # - 0-9 A-Z _ a-z
_TOKEN_CHAR_ESCAPE_RES = (
    re.compile(r"\\u00" + _TOKEN_CHAR_HEX), re.compile(r"%" + _TOKEN_CHAR_HEX),
    re.compile(r"&(?:#[xX]0*" + _TOKEN_CHAR_HEX + r"|#0*(?:45|4[89]|5[0-7]|6[5-9]|[78]\d|90|95|9[7-9]|1[01]\d|12[0-2])"
               r"|lowbar|UnderBar);"))
_JSON_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")
_URL_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_ESCAPE_WINDOW = 120      # characters decoded on each side of an escaped token character ...
_ESCAPE_WIDEN_MAX = 1000  # ... widened to whole tokens, by at most this much
_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-]+")
_WORD_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z_][A-Za-z0-9_\-]*")  # tokens starting with a letter

_MAX_PREFIXES = 64  # above this many distinct 3-character prefixes, every file is tokenised
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SEPARATORS = "_-"
_MAX_PIECES = 8  # a forbidden token glued into a longer one is looked for across at most this many pieces


def _decode_escapes(chunk: str) -> str:
    """JSON ``\\uXXXX``, then HTML character references, then URL ``%XX`` decoded (in the order
    a value is usually wrapped: URL inside HTML inside JSON, peeled from the outside)."""
    chunk = _JSON_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), chunk)
    return _URL_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), html.unescape(chunk))


# texts rendered lately, by id (the text kept alive so the id stays its own): a scan renders each file
# once for its tokens and uses it again for its references; scan_outputs empties it when done
_rendered: dict[int, tuple[str, str]] = {}
_RENDERED_MAX = 64


def forget_rendered() -> None:
    """Drop the texts kept by :func:`rendered_text` (their memory)."""
    _rendered.clear()


def rendered_text(text: str) -> str:
    """``text`` as a reader sees it, for the reference checks: the text itself, then, on new lines,
    each stretch around an escaped token character (JSON ``\\u005f``, HTML ``&#95;``/``&lowbar;``,
    URL ``%5F``, ...) decoded (``_ESCAPE_WINDOW`` characters either side, widened to whole tokens).
    So ``pk&#95;…`` and ``pk%5F…`` are found, at a cost that grows with such escapes (rare outside
    an attack), not with the file. Escapes *before* a token are handled by the tokenisers."""
    kept = _rendered.get(id(text))
    if kept is not None and kept[0] is text:
        return kept[1]
    spans: list[list[int]] = []
    found = sorted((m.start(), m.end()) for rx in _TOKEN_CHAR_ESCAPE_RES for m in rx.finditer(text))
    for start, end in found:
        a, b = max(0, start - _ESCAPE_WINDOW), min(len(text), end + _ESCAPE_WINDOW)
        if spans and a <= spans[-1][1]:
            spans[-1][1] = b
        else:
            spans.append([a, b])
    pieces = [text]
    for a, b in spans:
        lo, hi = max(0, a - _ESCAPE_WIDEN_MAX), min(len(text), b + _ESCAPE_WIDEN_MAX)
        while a > lo and text[a - 1] in _TOKEN_CHARS:
            a -= 1
        while b < hi and text[b] in _TOKEN_CHARS:
            b += 1
        pieces.append(_decode_escapes(text[a:b]))
    out = "\n".join(pieces)
    if len(_rendered) >= _RENDERED_MAX:
        _rendered.pop(next(iter(_rendered)))
    _rendered[id(text)] = (text, out)
    return out


def _glued_pieces(run: str) -> Iterator[str]:
    """Every span of up to ``_MAX_PIECES`` separator-delimited pieces of a token (``a_pk_x_b`` ->
    ``a``, ``a_pk``, ..., ``pk_x``, ``pk_x_b``, ...): a forbidden token with ``_`` or ``-`` kept
    next to it still matches."""
    pieces = re.split(r"([_\-])", run)
    words = pieces[0::2]
    for i in range(len(words)):
        for j in range(i + 1, min(len(words), i + _MAX_PIECES) + 1):
            yield "".join(pieces[2 * i:2 * j - 1])


def _prefixed_tokens(text: str, prefix: str) -> set[str]:
    """Distinct tokens of ``text`` that start with ``prefix``: each maximal run of token
    characters starting there, and its cuts at every ``_``/``-`` inside it. An occurrence counts
    at the start of a run, right after a ``_``/``-`` (``x_pk_…_y`` holds ``pk_…``) or right after
    a JSON/URL escape (``\\u003epk_…``).

    Occurrences are found with ``str.find`` (C speed over tens of MB) and only they are
    tokenised, so a big file costs one fast pass per prefix instead of a regex over every word.
    """
    found: set[str] = set()
    pos = text.find(prefix)
    while pos >= 0:
        before = text[pos - 1] if pos else ""
        if before not in _TOKEN_CHARS or before in _SEPARATORS or _ESCAPE_END_RE.search(text, max(0, pos - 6), pos):
            run = _TOKEN_RE.match(text, pos).group(0)
            found.add(run)
            found.update(run[:i] for i, ch in enumerate(run) if ch in _SEPARATORS and i >= len(prefix))
        pos = text.find(prefix, pos + 1)
    return found


def _candidate_tokens(text: str, prefixes: frozenset[str] | None, rx: re.Pattern) -> set[str]:
    """Distinct tokens of ``text`` as rendered (``rendered_text``) that could be forbidden.

    With known ``prefixes`` (every forbidden token's first three characters) only tokens
    starting with one of them are collected — the others cannot match; with None (too
    many prefixes to search) every token ``rx`` finds, and the pieces of those glued together
    with ``_``/``-``.
    """
    text = rendered_text(text)
    if prefixes is None:
        tokens = set(rx.findall(text)).union(*(r.findall(text) for r in _TOKEN_AFTER_ESCAPE_RES))
        return tokens.union(*(_glued_pieces(t) for t in tokens if "_" in t or "-" in t))
    return set().union(*(_prefixed_tokens(text, pre) for pre in prefixes))


@dataclass(frozen=True)
class _Forbidden:
    """The forbidden strings, prepared once for every file of a scan.

    ``tokens`` are looked up by set intersection with each file's tokens (one regex pass
    per file); ``multi`` (strings with spaces or punctuation) are searched as substrings.
    ``prefixes`` lets a file that holds none of the tokens' first three characters skip
    tokenising; ``rx`` tokenises words only unless some token starts with a digit or dash
    (most of a big GeoJSON is numbers).
    """

    tokens: frozenset[str]
    multi: tuple[str, ...]
    prefixes: frozenset[str] | None
    rx: re.Pattern

    @classmethod
    def build(cls, strings: Iterable[str]) -> "_Forbidden":
        forbidden = set(map(str.strip, map(str, strings)))
        forbidden.discard("")
        # A string is a token when the token pattern finds it whole; one regex pass over all of them.
        tokens = frozenset(set(_TOKEN_RE.findall("\n".join(forbidden))) & forbidden)
        prefixes = frozenset(t[:3] for t in tokens)
        word_only = all(p[0].isalpha() or p[0] == "_" for p in prefixes)
        return cls(tokens, tuple(sorted(forbidden - tokens)), prefixes if len(prefixes) <= _MAX_PREFIXES else None,
                   _WORD_TOKEN_RE if word_only else _TOKEN_RE)

    def tokenise(self, text: str) -> set[str]:
        """The distinct tokens of ``text`` that could be forbidden (none when no token's prefix occurs)."""
        return _candidate_tokens(text, self.prefixes, self.rx) if self.tokens else set()

    def found(self, tokens: set[str]) -> set[str]:
        """Which of ``tokens`` are forbidden."""
        return tokens & self.tokens


#: The store's id columns (table, column) that must never reach an output file.
_ID_COLUMNS = (("episodes", "person_key"), ("episodes", "placement_key"), ("episodes", "episode_id"),
               ("location_reports", "person_key"), ("location_reports", "report_id"))
_IDS_SQL = ("select trim(s) as s from (" + " union ".join(
    f"select {col}{' as s' if i == 0 else ''} from {table}" for i, (table, col) in enumerate(_ID_COLUMNS))
    + ") where s is not null and trim(s) <> ''")
#: The same ids without de-duplication (``union all``): for aggregates and lookups that do not
#: need distinct ids, de-duplicating millions of report ids was most of their cost.
_ALL_IDS_SQL = _IDS_SQL.replace(" union select ", " union all select ")


_ID_TOKEN_RE = "'[A-Za-z0-9_\\-]+'"  # _TOKEN_RE as a DuckDB (RE2) pattern


def _store_id_summary(con) -> tuple[list[str], int, list[str] | None, bool, bool]:
    """What :class:`_Forbidden` derives from the store's ids, in one grouped pass over them: the ids
    that are not single tokens, the number of the tokens' distinct 3-character prefixes, those
    prefixes (None when more than ``_MAX_PREFIXES`` or none), whether every token starts with a
    letter or ``_``, and whether any id is stored with surrounding spaces (then the lookup trims).

    Why grouped: the ids share a handful of prefixes, so one hash aggregate by prefix (with one
    regex test per id) replaces three ``distinct`` aggregates over millions of ids; the non-token ids
    (normally none) are listed by a second query only when there are some.
    """
    raw = " union all ".join(f"select {col} as r from {table}" for table, col in _ID_COLUMNS)
    groups = con.execute(
        f"with ids as (select r, trim(r) as s from ({raw}) where r is not null and trim(r) <> '') "
        "select left(s, 3) as p, bool_or(tok) as any_tok, count(*) filter (where not tok) as n_multi, "
        "bool_or(r <> s) as padded from "
        f"(select r, s, regexp_full_match(s, {_ID_TOKEN_RE}) as tok from ids) group by p").fetchall()
    prefixes = sorted(p for p, any_tok, _, _ in groups if any_tok)
    padded = any(pad for _, _, _, pad in groups)
    multi: list[str] = []
    if any(n for _, _, n, _ in groups):
        multi = [r[0] for r in con.execute(f"with ids as ({_ALL_IDS_SQL}) select distinct s from ids "
                                           f"where not regexp_full_match(s, {_ID_TOKEN_RE})").fetchall()]
    word_only = all(p[0].isascii() and (p[0].isalpha() or p[0] == "_") for p in prefixes)
    kept = prefixes if prefixes and len(prefixes) <= _MAX_PREFIXES else None
    return multi, len(prefixes), kept, word_only, padded


class StoreForbidden:
    """The store's pseudonyms and record ids as forbidden strings, looked up in DuckDB.

    Why: at millions of reports, copying every id into a Python set (and preparing it)
    took longer than the scan itself. The files' distinct tokens are few by comparison:
    they are sent to DuckDB once, in one semi-join. One pass over the ids finds what
    :class:`_Forbidden` finds in memory: the ids that are not single tokens (rare; searched
    as substrings), the tokens' 3-character prefixes and whether any starts with a digit.
    ``extra`` strings (e.g. placement refs) are kept in memory as usual.
    """

    def __init__(self, con, extra: Iterable[str] = ()):
        self.con = con
        self.extra = _Forbidden.build(extra)
        multi, n_prefixes, prefixes, word_only, self.padded = _store_id_summary(con)
        self.has_tokens = bool(n_prefixes) or bool(self.extra.tokens)
        self.multi = tuple(sorted(set(multi or []) | set(self.extra.multi)))
        both = None if prefixes is None or self.extra.prefixes is None else set(prefixes) | self.extra.prefixes
        self.prefixes = frozenset(both) if both is not None and len(both) <= _MAX_PREFIXES else None
        self.rx = _WORD_TOKEN_RE if word_only and self.extra.rx is _WORD_TOKEN_RE else _TOKEN_RE

    def tokenise(self, text: str) -> set[str]:
        """As :meth:`_Forbidden.tokenise`, for the store's ids and the extra strings together."""
        return _candidate_tokens(text, self.prefixes, self.rx) if self.has_tokens else set()

    def found(self, tokens: set[str]) -> set[str]:
        """Which of ``tokens`` are store ids or extra strings (one query for all of them)."""
        if not tokens:
            return set()
        self.con.register("privacy_scan_tokens", pd.DataFrame({"t": list(tokens)}))
        try:
            if self.padded:  # some id has spaces around it: compare trimmed ids (every id scanned)
                sql = (f"select distinct t from privacy_scan_tokens join ({_ALL_IDS_SQL}) ids "
                       "on ids.s = privacy_scan_tokens.t")
            else:  # ids as stored, column by column: DuckDB can skip row groups by their min/max
                sql = " union ".join(f"select t from privacy_scan_tokens where t in (select {col} from {table})"
                                     for table, col in _ID_COLUMNS)
            got = self.con.execute(sql).fetchnumpy()
        finally:
            self.con.unregister("privacy_scan_tokens")
        return set(got["t"].tolist()) | self.extra.found(tokens)


def _matches_at_literal(rx: re.Pattern, at: re.Pattern, text: str) -> Iterator[re.Match]:
    """What ``rx.finditer(text)`` finds, for a pattern whose matches all start with the literal ``at``
    finds and hold no other occurrence of it: ``rx`` is tried only where ``at`` occurs.

    Why: ``_PK_RE``/``_SYN_RE`` start with look-behinds, so the regex engine tried them at every one
    of a big file's characters (seconds for a 40 MB analyst map); the literal is found at C speed.
    ``rx.match(text, pos)`` sees the characters before ``pos``, so the look-behinds still apply.
    """
    end = 0
    for c in at.finditer(text):
        if c.start() < end:
            continue
        m = rx.match(text, c.start())
        if m is not None:
            end = m.end()
            yield m


def _person_refs(name: str, text: str, tokens: set[str], multi: Iterable[str]) -> list[Finding]:
    found: dict[str, str] = {}
    shown = len(text)
    text = rendered_text(text)  # offsets past the file's own length are in a decoded copy
    for rx, at, marker, what in ((_PK_RE, _PK_AT_RE, "pk", "pseudonym"),
                                 (_SYN_RE, _SYN_AT_RE, "SYN", "synthetic person/episode/placement/report id")):
        if marker in text or marker.upper() in text:  # cheap pre-check: most files hold neither
            for m in _matches_at_literal(rx, at, text):
                where = f"offset {m.start()}" if m.start() < shown else "an escaped copy"
                found.setdefault(m.group(0), f"{what} at {where}")
    for tok in tokens:
        found.setdefault(tok, "a person/episode/placement reference from the store")
    for s in multi:
        pos = text.find(s)
        if pos >= 0:
            found.setdefault(s, f"a forbidden string at offset {pos}")
    return [Finding(name, "person_ref", f"{_mask(v)}: {what}") for v, what in sorted(found.items())]
