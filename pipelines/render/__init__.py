"""The rendering layer: every HTML page, map and SVG fragment that shows data is made here.

Modules (one job each):

* :mod:`pipelines.render.html` — the ONE Jinja2 environment (autoescape always on), text
  escaping, page templates and constant fragments;
* :mod:`pipelines.render.offline` — a folium map as one self-contained page: Leaflet inlined,
  no CDN, rendered output never compiled again (:class:`~pipelines.render.offline.RawElement`);
* :mod:`pipelines.render.map_parts` — palettes, GeoJSON layers written as script-safe JSON,
  tooltips/popups, the base page of every map;
* :mod:`pipelines.render.tiles` — base tiles: the user's tile server, or an offline MBTiles or
  PMTiles file whose tiles of the study area are embedded in the page (bounded size);
  :mod:`pipelines.render.pmtiles` reads PMTiles v3;
* :mod:`pipelines.render.context` — geographic context on every map: area outlines and names,
  place labels by zoom, the base tiles, what a shared map may draw near care placements;
* :mod:`pipelines.render.map_ui` — the analyst map's interface: legend that follows the layers,
  click popup with a weekly chart, search box, keyboard focus, small screens;
* :mod:`pipelines.render.analyst_map` — the analyst map;
* :mod:`pipelines.render.patrol_map` — the commander's one-page patrol sheet.

Nothing here computes statistics (that is ``analytics/``) or writes files (the jobs in
``pipelines/`` do).
"""
