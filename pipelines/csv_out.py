"""The one way the product writes CSV: text cells cannot run as spreadsheet formulas.

Shared CSV files (``patrol_plan.csv`` goes to dispatch and is opened in Excel) carry text
from the data, such as place names. A cell starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return is read by spreadsheet programs as a formula (``=HYPERLINK(...)``,
``@SUM(...)``, DDE payloads). Following the OWASP "CSV injection" rule, every such *text*
cell gets a leading apostrophe, which spreadsheets show as text and never evaluate; the
full-width forms of those four characters are treated the same way. Numeric columns are
written as numbers (a negative number stays ``-1.5``): only text is ever prefixed.

Rows end in CRLF (RFC 4180), so any field holding a CR or LF is quoted: a place name with a
line break inside cannot start a new row whose first cell is a formula.

Use :func:`write_csv` for every CSV output; :func:`neutralise` gives the cell rule alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["write_csv", "neutralise", "neutralise_frame", "FORMULA_PREFIXES"]

#: First characters that make a spreadsheet cell a formula (OWASP), plus their full-width forms.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text starting like a formula; anything else unchanged.

    Examples
    --------
    >>> neutralise('=HYPERLINK("http://x")')
    '\\'=HYPERLINK("http://x")'
    >>> neutralise(-1.5)
    -1.5
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _is_text_column(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series)
                or pd.api.types.is_bool_dtype(series))


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are neutralised; numeric columns untouched."""
    out = frame.copy()
    for col in out.columns:
        if _is_text_column(out[col]):
            out[col] = out[col].map(neutralise, na_action="ignore")
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: Path | str, *, index: bool = False, **kwargs: Any) -> Path:
    """Write ``frame`` as UTF-8 CSV with every text cell neutralised (see module notes); returns the path."""
    path = Path(path)
    kwargs.setdefault("lineterminator", "\r\n")  # fields holding CR or LF are then quoted
    neutralise_frame(frame).to_csv(path, index=index, **kwargs)
    return path
