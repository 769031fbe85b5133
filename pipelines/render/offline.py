"""Render a folium map as one self-contained HTML page that needs no network.

Folium's default page loads Leaflet, jQuery, Bootstrap, Font Awesome and
awesome-markers from CDNs; offline the page is blank ("L is not defined").
:func:`offline_html` renders the map with every external ``<script src>`` and
``<link href>`` removed and inlines the official Leaflet 1.9.3 files shipped by
the PyPI package ``xstatic-leaflet`` (``xstatic.pkg.leaflet.BASE_DIR``). The
layer control, scale bar, tooltips and popups are plain Leaflet and need
nothing else; our legend and title blocks are plain HTML/CSS.

The output contains no ``http://`` or ``https://`` text at all, except tile URL
templates the caller configured (``allowed_urls``). To get there the inlined
Leaflet is edited in four documented places, none of which changes behaviour:

* the licence comment keeps the copyright and names ``leafletjs.com`` without a scheme;
* the attribution prefix link to leafletjs.com keeps its text but loses the ``href``;
* the flag SVG inside the attribution prefix loses its ``xmlns`` (inline SVG in
  HTML needs none);
* the SVG namespace URI (an identifier, never fetched) is written as
  ``"http:"+"//www.w3.org/2000/svg"`` so that a plain-text scan for URLs stays
  meaningful: any ``http(s)://`` left in a page is something that could be fetched.

Image references in ``leaflet.css`` (layer-control and default marker icons)
are replaced by ``data:`` URIs; the ``sourceMappingURL`` comment is removed so
developer tools do not try to fetch a source map.

No text is compiled twice. branca wraps the *rendered* output of every folium object
(``MacroElement``/``Div``) in a new ``Element(text)``, which compiles that text as a Jinja
template: a ``{{ 7*7 }}`` that reached a layer name or a feature property would be
evaluated (and could reach ``os``). :func:`offline_html` renders with those wrappers
replaced by :class:`RawElement` (written verbatim), so rendered output is never compiled
again. The map builders in :mod:`pipelines.render` also keep data out of folium objects
altogether; this is the second line of defence.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import os
import re
import threading
from typing import Iterable, Iterator

import branca.element as _branca_element
import folium
from branca.element import Element, Figure

from analytics.errors import InvalidInputError

__all__ = ["offline_html", "leaflet_assets", "find_urls", "RawElement", "LEAFLET_VERSION", "verbatim_wrappers"]

_URL_RE = re.compile(r"https?://[^\s\"'<>()]*", re.IGNORECASE)

#: (pattern, replacement) pairs applied to leaflet.js; each must match at least once.
_JS_EDITS = [
    ("https://leafletjs.com", "leafletjs.com"),
    ('<a href="leafletjs.com" title=', "<a title="),  # attribution prefix, after the edit above
    (' xmlns="http://www.w3.org/2000/svg"', ""),
    ('"http://www.w3.org/2000/svg"', '("http:"+"//www.w3.org/2000/svg")'),
]
_CSS_COMMENT_URL = re.compile(r"https?://bugzilla\.mozilla\.org/show_bug\.cgi\?id=(\d+)")


def _leaflet_dir() -> str:
    try:
        from xstatic.pkg import leaflet as xs_leaflet
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise InvalidInputError(
            "Offline maps need the PyPI package 'xstatic-leaflet' (official Leaflet files); install it."
        ) from exc
    return xs_leaflet.BASE_DIR


def _leaflet_version() -> str:
    from xstatic.pkg import leaflet as xs_leaflet

    return str(xs_leaflet.VERSION)


LEAFLET_VERSION = _leaflet_version()


@functools.lru_cache(maxsize=1)
def leaflet_assets() -> tuple[str, str]:
    """Leaflet's JS and CSS as strings, edited to contain no URL (see module notes).

    Returns
    -------
    (js, css) : tuple of str

    Raises
    ------
    InvalidInputError
        When the installed Leaflet no longer matches an expected edit (a new
        version): better to fail loudly than to ship a page that calls out.
    """
    base = _leaflet_dir()
    with open(os.path.join(base, "leaflet.js"), encoding="utf-8") as fh:
        js = fh.read()
    with open(os.path.join(base, "leaflet.css"), encoding="utf-8") as fh:
        css = fh.read()
    js = re.sub(r"//# sourceMappingURL=\S+\s*$", "", js)
    for old, new in _JS_EDITS:
        if old not in js:
            raise InvalidInputError(
                f"Inlining Leaflet {LEAFLET_VERSION}: expected text {old!r} not found in leaflet.js; "
                "the xstatic-leaflet version changed — update pipelines/render/offline.py."
            )
        js = js.replace(old, new)

    def data_uri(match: re.Match) -> str:
        path = os.path.join(base, match.group(1))
        with open(path, "rb") as fh:
            payload = base64.b64encode(fh.read()).decode("ascii")
        return f"url(data:image/png;base64,{payload})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", data_uri, css)
    css = _CSS_COMMENT_URL.sub(r"Mozilla bug \1", css)
    for text, what in ((js, "leaflet.js"), (css, "leaflet.css")):
        left = _URL_RE.findall(text)
        if left:
            raise InvalidInputError(f"Inlined {what} still contains URL(s) {left[:3]}; update pipelines/render/offline.py.")
    return js, css


def find_urls(html: str, allowed_urls: Iterable[str] = ()) -> list[str]:
    """Every ``http(s)://`` URL in ``html`` after removing the allowed templates."""
    for url in allowed_urls:
        if url:
            html = html.replace(url, "")
    return _URL_RE.findall(html)


class RawElement(Element):
    """A page fragment written out verbatim: never compiled or rendered as a Jinja template.

    Why: a branca ``Element(text)`` compiles ``text`` as a template, which for Leaflet's
    150 kB script (and any large embedded data) costs far more than writing it, and would
    misread any ``{{`` in the data.
    """

    def __init__(self, text: str):
        super().__init__()
        self._text = text

    def render(self, **kwargs) -> str:
        """The text as given."""
        return self._text


_RENDER_LOCK = threading.RLock()


@contextlib.contextmanager
def verbatim_wrappers() -> Iterator[None]:
    """While active, branca's render-time ``Element(text)`` wrappers write ``text`` verbatim.

    branca's ``MacroElement.render`` and ``Div.render`` turn each object's rendered
    header/html/script into ``Element(rendered)``, i.e. compile already-rendered output
    (which may hold data) as a new template. Inside this context that name resolves to
    :class:`RawElement`, which is never compiled. Renders are serialised by a lock because
    the name is module-global.
    """
    with _RENDER_LOCK:
        original = _branca_element.Element

        def verbatim(template: str | None = None, template_name: str | None = None) -> Element:
            if template_name is not None:  # a packaged template file, not rendered output
                return original(template, template_name)
            return RawElement("" if template is None else str(template))

        _branca_element.Element = verbatim
        try:
            yield
        finally:
            _branca_element.Element = original


def _walk(element) -> Iterable:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def offline_html(fig: folium.Map | Figure, allowed_urls: Iterable[str] = ()) -> str:
    """Render ``fig`` as a self-contained HTML page (no CDN, no network).

    Parameters
    ----------
    fig : folium.Map or branca Figure
        The map (or its root figure). Every element's ``default_js`` /
        ``default_css`` links are dropped for this render (set to empty lists on
        the instances, never on the shared folium classes).
    allowed_urls : iterable of str
        URL templates that may remain, e.g. a configured internal tile server
        ``"https://tiles.example/{z}/{x}/{y}.png"``.

    Returns
    -------
    str
        HTML with Leaflet's CSS and JS inlined in ``<head>``.

    Raises
    ------
    InvalidInputError
        If any other ``http(s)://`` URL is left in the page (for example from a
        folium plugin that needs a CDN library we do not ship).

    Notes
    -----
    Elements that need jQuery/Bootstrap (folium's ``$.ajax`` for non-embedded
    GeoJSON, awesome-marker icons, Vega charts) will not work offline; our
    builders use only embedded GeoJSON, circle markers, plain Leaflet controls
    and HTML elements.
    """
    allowed_urls = [u for u in allowed_urls if u]
    root = fig.get_root() if not isinstance(fig, Figure) else fig
    for el in _walk(root):
        if getattr(el, "default_js", None):
            el.default_js = []
        if getattr(el, "default_css", None):
            el.default_css = []
    js, css = leaflet_assets()
    header = root.header
    # Leaflet must come first: every later script calls L.*; add at the front of the header.
    assets = [
        ("hs_leaflet_css", RawElement(f"<style>\n{css}\n</style>")),
        ("hs_leaflet_js", RawElement(f"<script>\n{js}\n</script>")),
    ]
    for name, _ in assets:
        header._children.pop(name, None)
    old = list(header._children.items())
    header._children.clear()
    for name, el in assets:
        header.add_child(el, name=name)
    for name, el in old:
        header._children[name] = el
    with verbatim_wrappers():
        html = root.render()
    left = find_urls(html, allowed_urls)
    if left:
        raise InvalidInputError(
            "The offline map still references external URL(s): "
            + ", ".join(sorted(set(left))[:5])
            + ". Remove the element that needs them or pass the URL in allowed_urls if it is a configured tile server."
        )
    return html
