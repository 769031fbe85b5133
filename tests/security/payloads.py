"""Adversarial text used by every security test: it must appear literally (escaped) and never run.

Each payload is what a hostile or careless data supplier could put in a place, area or category
name, a reason, a title or any other free text. The Jinja payloads carry a marker around the
expression (``Hotel {{ 7*7 }} end``) so that a test can tell "evaluated" (``Hotel 49 end``) from
"shown literally" without being fooled by a ``49`` elsewhere in the page.
"""

from __future__ import annotations

import html
import json

#: (payload, text that would appear only if the payload had been executed or evaluated)
EVALUATED = {
    "Hotel {{ 7*7 }} end": "Hotel 49 end",
    "{{ 7*7 }}": None,  # bare form: checked by its literal appearance only
    "Loop {% for x in range(3) %}X{% endfor %} end": "Loop XXX end",
    "{{ cycler.__init__.__globals__.os.system('touch PWNED') }}": None,
    "Tmpl {{ '%s-%s' % ('a', 'b') }} end": "Tmpl a-b end",
    "Dollar ${7*7} end": "Dollar 49 end",
    "Back `${7*7}` tick": "Back `49` tick",
    "{# comment #}Hidden": None,
}

PAYLOADS: list[str] = [
    *EVALUATED,
    "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    '"',
    "'",
    "\\",
    "Line\u2028separator\u2029para",
    '=HYPERLINK("http://x")',
    "+1",
    "-1",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    "%(name)s",
    "{0}",
    "<!-- comment",
    "&amp; &lt;b&gt;",
]

#: Very long text (over the ingest field limit: for the builders directly).
LONG = "L" + "x{{ 7*7 }}<" * 500
#: Long text that ingest still accepts (fields are limited to 1,000 characters).
LONG_INGESTIBLE = "Long " + "y" * 980 + " end"

#: Text whose presence in a page can only mean a payload ran or was evaluated.
NEVER = [v for v in EVALUATED.values() if v] + ["<script>alert(1)", "<img src=x", "<svg onload", "<!-- comment"]

#: Payloads distinctive enough that finding one of their spellings in a page means it is shown.
DISTINCTIVE = [p for p in PAYLOADS if len(p) >= 6]


def spellings(text: str) -> list[str]:
    """Every form in which ``text`` may safely appear in our outputs.

    HTML-escaped (Jinja's escaping or :func:`html.escape`; ``://`` possibly as ``:&#47;&#47;``, so that
    pages hold no URL text), and that again inside JSON made
    script-safe (``< > & '`` and U+2028/9 as ``\\uXXXX``), with or without ASCII escaping.
    """
    plain = not any(c in text for c in "<>&\"'")
    forms = {text} if plain else set()
    escaped = {html.escape(text, quote=True), html.escape(text, quote=False),
               str(__import__("markupsafe").escape(text))}
    escaped |= {e.replace("://", ":&#47;&#47;") for e in escaped}  # pages hold no URL text (escape_text)
    forms |= escaped
    for e in list(escaped) + ([text] if plain else []):
        for ascii_only in (True, False):
            j = json.dumps(e, ensure_ascii=ascii_only)[1:-1]
            forms.add(j)
            forms.add(_script_safe(j))
    return sorted(forms, key=len)


def _script_safe(s: str) -> str:
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("'", "\\u0027")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def shown(text: str, page: str) -> bool:
    """True when ``text`` appears in ``page`` in one of its safe spellings."""
    return any(form in page for form in spellings(text) if form)
