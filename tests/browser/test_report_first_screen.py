"""The report's first screen in a real browser (headless chromium, 1280 × 800, no network).

On the weekly run of the SYNTHETIC sample, ``report.html`` is loaded as written (silent console,
no request) and then as a copy with a small checker script appended, which measures, in a
1280 × 800 window, the three sentences, the overview map, the plan's first entries and the
links to both maps: each must be drawn (non-zero size) and lie wholly inside the first screen.
The screenshot of that first screen is kept as ``tests/artifacts/report.png``.
"""

from __future__ import annotations

import json
import re
import subprocess

import pandas as pd
import pytest

from pipelines.layout import file_path
from tests.browser.test_maps_in_chromium import (FLAGS, _assert_offline_and_silent, chromium, load_page,  # noqa: F401
                                                 screenshot, weekly)

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1280, 800
_CHECK = """<script>
(function () {
  function box(el) {
    var r = el.getBoundingClientRect();
    return {w: r.width, h: r.height, top: r.top, bottom: r.bottom, left: r.left, right: r.right};
  }
  function all(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)).map(box); }
  var out = document.createElement('pre');
  out.id = 'fold-check';
  out.textContent = JSON.stringify({
    viewport: [window.innerWidth, window.innerHeight],
    sentences: all('#first-screen p.sentence'), map: all('#overview-map svg.overview'),
    entries: all('#plan-top tr.plan-entry'), links: all('#map-links a'),
    markers: all('#overview-map .ov-marker'), cells: all('#overview-map .ov-cell')});
  document.body.appendChild(out);
})();
</script>"""


def _first_screen(chromium: str, page, work) -> dict:
    probe = work / "report_probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _CHECK + "</body>"), encoding="utf-8")
    cmd = [chromium, *FLAGS, f"--user-data-dir={work / 'profile-fold'}", f"--window-size={WIDTH},{HEIGHT}",
           "--hide-scrollbars", "--virtual-time-budget=2000", "--host-resolver-rules=MAP * ~NOTFOUND", "--dump-dom",
           probe.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="fold-check">(.*?)</pre>', proc.stdout, re.S)
    assert found, "checker script did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _on_first_screen(boxes: list[dict], viewport: list[int]) -> bool:
    return all(b["w"] > 0 and b["h"] > 0 and b["top"] >= 0 and b["left"] >= 0 and b["bottom"] <= viewport[1]
               and b["right"] <= viewport[0] for b in boxes)


def test_report_first_screen_in_chromium(chromium, weekly, tmp_path):
    page = file_path(weekly["out"], "report.html")
    html = page.read_text(encoding="utf-8")
    result = load_page(chromium, page, tmp_path)
    _assert_offline_and_silent(result, html)
    dom = result["dom"]
    assert dom.count('<p class="sentence">') == 3 and 'class="overview"' in dom
    assert 'href="patrol_map.html"' in dom and 'href="analyst_map.html"' in dom

    got = _first_screen(chromium, page, tmp_path)
    vp = got["viewport"]
    assert vp[1] <= HEIGHT and vp[0] <= WIDTH, vp
    plan = pd.read_csv(file_path(weekly["out"], "patrol_plan.csv"))
    assert len(got["sentences"]) == 3 and _on_first_screen(got["sentences"], vp), got["sentences"]
    assert len(got["map"]) == 1 and _on_first_screen(got["map"], vp), got["map"]
    assert len(got["entries"]) == min(5, len(plan)) > 0 and _on_first_screen(got["entries"], vp), got["entries"]
    assert len(got["links"]) == 2 and _on_first_screen(got["links"], vp), got["links"]
    assert len(got["markers"]) == len(got["entries"]) and len(got["cells"]) > 0
    screenshot(chromium, page, tmp_path, "report.png", size=f"{WIDTH},{HEIGHT}")
