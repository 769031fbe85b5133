"""The one Jinja2 environment for every page that shows data, and text escaping.

Data reaches a template only as variables; every value is escaped on output by
:func:`escape_text` (autoescape on, ``finalize``). Templates are files in
``pipelines/templates`` or module constants — never text built from data.
Pages that want Jinja's ``trim_blocks``/``lstrip_blocks`` get an *overlay* of the
same environment (same loader, escaping and finalize; only the whitespace rule differs).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from markupsafe import Markup, escape

__all__ = ["environment", "page_template", "fragment", "escape_text", "TEMPLATE_DIR"]

#: Page templates (report, backtest, evaluation).
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def escape_text(value: Any) -> Markup:
    """Text from data as HTML: escaped (``& < > " '``), and holding no URL text.

    ``://`` is written ``:&#47;&#47;``, which a browser shows as ``://``: a place called
    ``=HYPERLINK("http://x")`` reads the same, but the page still contains no ``http(s)://``
    text, so the offline check (:func:`pipelines.render.offline.find_urls`) keeps meaning
    "nothing here can be fetched". Values that are already :class:`~markupsafe.Markup`
    (built by our code) pass unchanged.

    >>> str(escape_text('<b onclick="x">http://a</b>'))
    '&lt;b onclick=&#34;x&#34;&gt;http:&#47;&#47;a&lt;/b&gt;'
    """
    if isinstance(value, Markup):
        return value
    return Markup(str(escape(value)).replace("://", ":&#47;&#47;"))


def _finalize(value: Any) -> Any:
    return escape_text(value) if isinstance(value, str) else value


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the product: autoescaping always on, values finalized by :func:`escape_text`."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True,
                              finalize=_finalize)


@functools.lru_cache(maxsize=1)
def _trimmed() -> jinja2.Environment:
    return environment().overlay(trim_blocks=True, lstrip_blocks=True)


def page_template(name: str, *, trim_blocks: bool = False) -> jinja2.Template:
    """A page template from ``pipelines/templates`` (``trim_blocks``: Jinja's block whitespace rule)."""
    return (_trimmed() if trim_blocks else environment()).get_template(name)


@functools.lru_cache(maxsize=None)
def _fragment_template(source: str) -> tuple[jinja2.Template, frozenset[str]]:
    env = environment()
    return env.from_string(source), frozenset(meta.find_undeclared_variables(env.parse(source)))


def fragment(source: str, **data: Any) -> str:
    """Render a CONSTANT template ``source`` (a module constant, never text built from data).

    Every variable the template names must be given (a missing one is a programming error,
    not an empty string).

    >>> fragment("<b>{{ name }}</b>", name="<script>")
    '<b>&lt;script&gt;</b>'
    """
    template, names = _fragment_template(source)
    missing = names - data.keys()
    if missing:
        raise TypeError(f"fragment needs value(s) for {sorted(missing)}")
    return template.render(**data)
