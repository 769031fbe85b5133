"""What a file's own dates say about their day/month order (issue 13, item 8).

Under the default ``--date-order ymd`` every d/m/y date (``03/13/2016``) is quarantined as
``ambiguous_date``, even when the file settles the order itself: a 13th month does not
exist, so ``03/13/2016`` can only be month-first. Nothing is changed automatically (no value
changes silently): this module reads the batch's ``ambiguous_date`` rows, tries both orders
with the same ``parse_ts`` macro staging uses, and words the hint -- naming the flag that
would read them and the rows that prove it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Example rows quoted as evidence in a hint.
EVIDENCE_ROWS = 3
#: Reasons whose rows may hold d/m/y dates that a date order or format would read.
DATE_REASONS = ("ambiguous_date", "bad_timestamp")
#: Time-of-day layouts after a d/m/y date -> strptime codes (first match wins).
_TIME_FORMATS = (
    (r"\d{1,2}:\d{2}:\d{2}\s*[AaPp][Mm]", "%I:%M:%S %p"),
    (r"\d{1,2}:\d{2}\s*[AaPp][Mm]", "%I:%M %p"),
    (r"\d{1,2}:\d{2}:\d{2}", "%H:%M:%S"),
    (r"\d{1,2}:\d{2}", "%H:%M"),
)


@dataclass(frozen=True)
class DateOrderEvidence:
    """How the d/m/y dates among one batch's ``ambiguous_date``/``bad_timestamp`` rows fit the
    two orders (judged on the date part alone, ``03/13/2016``)."""

    rows: int                                  # quarantined rows with a d/m/y date
    only_dmy: int                              # rows whose date is real only day-first
    only_mdy: int                              # ... only month-first
    dmy_examples: tuple[tuple[int, str], ...]  # (row number, "col=value")
    mdy_examples: tuple[tuple[int, str], ...]
    unread_dmy: int = 0                        # rows that day-first still cannot read (the time part)
    unread_mdy: int = 0
    sample: str = ""                           # one value, to suggest a --date-format
    ambiguous: int = 0                         # of them rejected as ambiguous_date

    @property
    def order(self) -> str | None:
        """The one order the file's dates fit (``dmy`` or ``mdy``), or None when they do not say."""
        if self.only_mdy and not self.only_dmy:
            return "mdy"
        if self.only_dmy and not self.only_mdy:
            return "dmy"
        return None


def date_order_evidence(con, batch_id: str) -> DateOrderEvidence | None:
    """Evidence from the quarantined d/m/y dates of ``batch_id`` (None when there are none).

    The value is read from the quarantined row (``row_json``) under the column the detail
    names (``observed_at=...``) and its date part parsed both ways by ``parse_ts``, the macro
    staging uses.
    """
    row = con.execute(r"""
        with quarantined as (
            select row_number, reason, split_part(detail, '=', 1) as col,
                json_extract_string(row_json, '$."' || split_part(detail, '=', 1) || '"') as value
            from quarantine where batch_id = $b and reason in ('ambiguous_date', 'bad_timestamp')
        ),
        dated as (
            select row_number, reason, col, trim(value) as value,
                regexp_extract(trim(value), '^(\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4})', 1) as day
            from quarantined where value is not null
        ),
        judged as (
            select row_number, reason, col, value,
                parse_ts(day, 'dmy', false) is not null as dmy_ok,
                parse_ts(day, 'mdy', false) is not null as mdy_ok,
                parse_ts(value, 'dmy', false) is null as dmy_unread,
                parse_ts(value, 'mdy', false) is null as mdy_unread
            from dated where day <> ''
        )
        -- a date real in neither order (31/02/2025) says nothing about the order
        , settled as (select * from judged where dmy_ok or mdy_ok)
        select count(*),
            count(*) filter (where dmy_ok and not mdy_ok),
            count(*) filter (where mdy_ok and not dmy_ok),
            list(row_number || chr(31) || col || '=' || value order by row_number)
                filter (where dmy_ok and not mdy_ok),
            list(row_number || chr(31) || col || '=' || value order by row_number)
                filter (where mdy_ok and not dmy_ok),
            count(*) filter (where dmy_ok and dmy_unread),
            count(*) filter (where mdy_ok and mdy_unread),
            min(value),
            count(*) filter (where reason = 'ambiguous_date')
        from settled
    """, {"b": batch_id}).fetchone()
    if not row or not row[0]:
        return None

    def examples(items) -> tuple[tuple[int, str], ...]:
        out = []
        for item in (items or [])[:EVIDENCE_ROWS]:
            number, value = item.split(chr(31), 1)
            out.append((int(number), value))
        return tuple(out)

    return DateOrderEvidence(row[0], row[1], row[2], examples(row[3]), examples(row[4]), row[5], row[6],
                             row[7] or "", row[8])


def suggest_date_format(value: str, order: str) -> str:
    """A strptime format for a d/m/y ``value`` read in ``order`` (``03/13/2016 11:45:00 PM`` ->
    ``%m/%d/%Y %I:%M:%S %p``)."""
    match = re.match(r"^\d{1,2}([/.\-])\d{1,2}[/.\-]\d{4}(.*)$", value.strip())
    sep = match.group(1) if match else "/"
    date = sep.join(("%d", "%m", "%Y") if order == "dmy" else ("%m", "%d", "%Y"))
    rest = (match.group(2) if match else "").strip()
    for pattern, codes in _TIME_FORMATS:
        if re.fullmatch(pattern, rest):
            return f"{date} {codes}"
    return date


def _quote_rows(examples: tuple[tuple[int, str], ...]) -> str:
    return ", ".join(f"row {row} {value}" for row, value in examples)


def date_order_hint(evidence: DateOrderEvidence) -> str | None:
    """One line: what the dates say, the option to use, and the rows as evidence; None when
    they do not settle the order (every date fits both). Nothing is changed automatically."""
    head = f"{evidence.rows} row(s) with day/month dates were rejected (nothing was changed); "
    order = evidence.order
    if order:
        name, other = ("month-first", "day-first") if order == "mdy" else ("day-first", "month-first")
        only = evidence.only_mdy if order == "mdy" else evidence.only_dmy
        rows = evidence.mdy_examples if order == "mdy" else evidence.dmy_examples
        unread = evidence.unread_mdy if order == "mdy" else evidence.unread_dmy
        fix = (f"re-run with --date-order {order}" if not unread else
               f"re-run with --date-format \"{suggest_date_format(evidence.sample, order)}\" "
               f"(--date-order {order} alone does not read their time of day)")
        return (head + f"{only} of them can only be {name} ({_quote_rows(rows)}) and none can only be {other}, "
                f"so the file's dates fit only one order: {fix}.")
    if evidence.only_dmy and evidence.only_mdy:
        return (head + f"the file mixes both orders: {evidence.only_mdy} can only be month-first "
                f"({_quote_rows(evidence.mdy_examples)}) and {evidence.only_dmy} only day-first "
                f"({_quote_rows(evidence.dmy_examples)}); no --date-order reads both: fix the export.")
    return None  # every date fits both orders: the general ambiguous_date hint applies
