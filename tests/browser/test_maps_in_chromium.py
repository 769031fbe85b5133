"""The weekly HTML outputs in a real browser: headless Debian chromium, no network.

For analyst_map.html, patrol_map.html and report.html of a weekly run on the SYNTHETIC
sample, chromium loads the page from disk with every host resolving to nothing
(``--host-resolver-rules="MAP * ~NOTFOUND"``) and a network log (``--log-net-log``), runs
its scripts for 3 s of virtual time and dumps the DOM. The tests assert:

* a silent console — chromium logs every console level as ``INFO:CONSOLE``, so any console
  line (and any "Uncaught" error) fails, which is stricter than "no console errors";
* zero network requests — no ``http(s)://`` text in the page, and no request in the net log
  initiated by the page (browser-internal update checks are told apart by their
  ``initiator: "not an origin"``);
* drawn hexagon ``path`` elements (class ``hs-emerging`` / ``hs-patrol``) = features in the layer;
* the legend and the layer control exist in the DOM;
* a screenshot is saved under ``tests/artifacts/`` (ignored by git via its own ``.gitignore``).

Without chromium the tests skip with a visible reason, unless ``HOTSPOTS_REQUIRE_BROWSER=1``
(set in CI), which turns "chromium not found" into a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from pipelines.layout import file_path
from tests.pipelines.test_weekly import sample_weekly

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
_ADD_RE = re.compile(r"geo_json_\w+_add\(")
_LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome:", "chrome-extension:", "devtools:")


def find_chromium() -> str | None:
    """Debian's ``/usr/bin/chromium``, else whatever chromium is on PATH."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        reason = "chromium not found (looked for /usr/bin/chromium and chromium on PATH)"
        if os.environ.get("HOTSPOTS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}; HOTSPOTS_REQUIRE_BROWSER=1 makes this a failure", pytrace=False)
        pytest.skip(f"{reason}: browser tests skipped; install it with `apt-get install -y chromium`")
    return path


@pytest.fixture(scope="module")
def weekly(tmp_path_factory):
    return sample_weekly(tmp_path_factory)


def _artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ignore = ARTIFACTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# screenshots written by tests/browser; never committed\n*\n")
    return ARTIFACTS


def load_page(chromium: str, page: Path, work: Path) -> dict:
    """Load ``page`` headless with no name resolution; return DOM, console lines and page requests."""
    work.mkdir(parents=True, exist_ok=True)
    netlog = work / "netlog.json"
    cmd = [chromium, *FLAGS, f"--user-data-dir={work / 'profile'}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=3000", f"--log-net-log={netlog}", "--host-resolver-rules=MAP * ~NOTFOUND",
           "--dump-dom", page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return {"dom": proc.stdout, "console": console, "requests": page_requests(netlog)}


def page_requests(netlog: Path) -> list[str]:
    """URLs of requests the page made (browser-internal requests have initiator 'not an origin')."""
    data = json.loads(netlog.read_text(encoding="utf-8"))
    names = {v: k for k, v in data["constants"]["logEventTypes"].items()}
    urls = []
    for event in data["events"]:
        params = event.get("params") or {}
        if names.get(event["type"]) != "URL_REQUEST_START_JOB" or "url" not in params:
            continue
        from_page = params.get("initiator") != "not an origin" or "file://" in str(params.get("network_isolation_key"))
        if from_page and not params["url"].startswith(_LOCAL_SCHEMES):
            urls.append(params["url"])
    return urls


def screenshot(chromium: str, page: Path, work: Path, name: str, size: str = "1400,1000") -> Path:
    out = _artifacts() / name
    cmd = [chromium, *FLAGS, f"--user-data-dir={work / 'profile-shot'}", "--hide-scrollbars",
           f"--window-size={size}", "--virtual-time-budget=3000", "--host-resolver-rules=MAP * ~NOTFOUND",
           f"--screenshot={out}", page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and out.is_file() and out.stat().st_size > 5000, proc.stderr[-2000:]
    return out


def _features(html: str, layer: str) -> int:
    dec = json.JSONDecoder()
    blobs = [dec.raw_decode(html, m.end())[0] for m in _ADD_RE.finditer(html)]
    return sum(1 for b in blobs for f in b["features"] if f["properties"].get("layer") == layer)


def _paths(dom: str, cls: str) -> int:
    return len(re.findall(r"<path\b[^>]*\bclass=\"[^\"]*\b" + re.escape(cls) + r"\b", dom))


def _assert_offline_and_silent(result: dict, html: str) -> None:
    assert "http://" not in html and "https://" not in html
    assert result["console"] == [], "console output:\n" + "\n".join(result["console"])
    assert result["requests"] == [], f"network requests: {result['requests']}"


# ---------------------------------------------------------------- the check works
def test_the_checks_catch_a_request_and_a_console_error(chromium, tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<html><body><img src="https://tiles.example.invalid/1/2/3.png">'
                    '<script>console.error("boom"); undefinedFunction();</script></body></html>')
    result = load_page(chromium, page, tmp_path / "work")
    assert any("boom" in line for line in result["console"])
    assert any("Uncaught" in line for line in result["console"])
    assert result["requests"] == ["https://tiles.example.invalid/1/2/3.png"]


# ---------------------------------------------------------------- the weekly pages
def test_analyst_map_in_chromium(chromium, weekly, tmp_path):
    page = file_path(weekly["out"], "analyst_map.html")
    html = page.read_text(encoding="utf-8")
    result = load_page(chromium, page, tmp_path)
    _assert_offline_and_silent(result, html)
    dom = result["dom"]
    n_features = _features(html, "emerging")
    hot = pd.read_parquet(file_path(weekly["out"], "hotspots.parquet"))
    assert n_features == int((hot["category"] != "no_pattern").sum()) > 0
    assert _paths(dom, "hs-emerging") == n_features
    assert 'id="hs-legend"' in dom and "leaflet-control-layers" in dom and "leaflet-control-scale" in dom
    assert 'id="hs-synthetic"' in dom
    screenshot(chromium, page, tmp_path, "analyst_map.png")


def test_patrol_map_in_chromium(chromium, weekly, tmp_path):
    page = file_path(weekly["out"], "patrol_map.html")
    html = page.read_text(encoding="utf-8")
    result = load_page(chromium, page, tmp_path)
    _assert_offline_and_silent(result, html)
    dom = result["dom"]
    n_features = _features(html, "patrol")
    plan = pd.read_csv(file_path(weekly["out"], "patrol_plan.csv"))
    assert n_features == len(plan) > 0
    assert _paths(dom, "hs-patrol") == n_features
    assert 'id="hs-legend"' in dom and "leaflet-control-layers" in dom and 'id="hs-plan"' in dom
    assert len(re.findall(r"class=\"leaflet-tooltip[^\"]*\bhs-rank\b", dom)) == len(plan)  # rank labels drawn
    screenshot(chromium, page, tmp_path, "patrol_map.png", size="1400,1600")


def test_report_in_chromium(chromium, weekly, tmp_path):
    page = file_path(weekly["out"], "report.html")
    html = page.read_text(encoding="utf-8")
    result = load_page(chromium, page, tmp_path)
    _assert_offline_and_silent(result, html)
    dom = result["dom"]
    for sid in ("summary", "top-hotspots", "patrol", "backtest", "equity", "data-quality", "methods"):
        assert f'id="{sid}"' in dom, sid
    assert 'id="synthetic-banner"' in dom
    assert dom.count('class="spark"') == html.count('class="spark"') > 0
    screenshot(chromium, page, tmp_path, "report_full.png", size="1280,2400")
