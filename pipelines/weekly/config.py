"""The weekly run's configuration (``hotspots.toml``): defaults, validation, loading."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

from analytics.engine import HotspotParams
from analytics.errors import InvalidInputError
from analytics.patrol import PatrolParams
from analytics.privacy import DEFAULT_K
from pipelines import column_mapping
from pipelines.render.tiles import check_tiles

_PATROL_KEYS = ("n_cells", "window_hours", "n_windows", "visit_minutes", "revisit_minutes", "w_category",
                "w_excess", "w_convergence", "w_harm", "n_bands", "smoothing_hours")
_HOTSPOT_KEYS = tuple(f.name for f in fields(HotspotParams) if f.init and f.name not in ("week", "resolution"))
#: Top-level keys and their defaults (``patrol`` and ``hotspots`` are tables).
DEFAULT_CONFIG: dict = {
    "tiles": None, "k_suppression": DEFAULT_K, "top_n": 10, "equity_weeks": 8, "harm_weeks": 4,
    "patrol": {}, "hotspots": {}, "ingest": {},
    "forecast_places": None,  # None: the forecast's default (ForecastParams.places); true/false overrides it
}



def _config_error(source: str, problems: list[str]) -> InvalidInputError:
    return InvalidInputError(f"Invalid configuration in {source}: " + "; ".join(problems) + ".")


def validate_config(raw: dict | None, source: str = "config") -> dict:
    """Check a configuration dict (as parsed from ``hotspots.toml``) and fill in defaults.

    Unknown keys, wrong types and out-of-range values raise :class:`InvalidInputError`
    naming the key, the value received and what is allowed.
    """
    raw = dict(raw or {})
    problems: list[str] = []
    unknown = sorted(set(raw) - set(DEFAULT_CONFIG))
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(DEFAULT_CONFIG)})")
    cfg = {**DEFAULT_CONFIG, **{k: v for k, v in raw.items() if k in DEFAULT_CONFIG}}
    tiles = cfg["tiles"]
    if tiles in ("", "none", "None"):
        cfg["tiles"] = tiles = None
    if check_tiles(tiles):
        problems.append(check_tiles(tiles))
    for key, low, high in (("k_suppression", DEFAULT_K, 100), ("top_n", 1, 100), ("equity_weeks", 1, 104),
                           ("harm_weeks", 1, 52)):
        v = cfg[key]
        if key == "k_suppression" and isinstance(v, int) and not isinstance(v, bool) and v < low:
            problems.append(f"k_suppression = {v} is refused: shared outputs need k_suppression of at least {low} "
                            "(counts of young people below it are hidden); --analyst-detail gives analysts exact counts")
        elif isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            problems.append(f"{key} must be an integer from {low} to {high}; received {v!r}")
    if cfg["forecast_places"] is not None and not isinstance(cfg["forecast_places"], bool):
        problems.append(f"forecast_places must be true or false; received {cfg['forecast_places']!r}")
    for table, allowed in (("patrol", _PATROL_KEYS), ("hotspots", _HOTSPOT_KEYS)):
        sub = cfg[table]
        if not isinstance(sub, dict):
            problems.append(f"[{table}] must be a table; received {sub!r}")
            continue
        bad = sorted(set(sub) - set(allowed))
        if bad:
            problems.append(f"unknown key(s) {', '.join(bad)} in [{table}] (allowed: {', '.join(allowed)})")
        cfg[table] = {k: v for k, v in sub.items() if k in allowed}
    problems += column_mapping.validate_config_section(cfg["ingest"])
    if problems:
        raise _config_error(source, problems)
    try:  # the parameter objects validate values and say what is allowed
        PatrolParams(**cfg["patrol"])
        HotspotParams(**cfg["hotspots"])
    except (InvalidInputError, TypeError) as exc:
        raise _config_error(source, [str(exc).replace("\n", " ")]) from exc
    return cfg


def load_config(path: Path | None) -> dict:
    """Read ``hotspots.toml`` (or return the defaults when ``path`` is None) and validate it."""
    if path is None:
        return validate_config({})
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"Config file {path} not found; create it or leave out --config.")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"Config file {path} is not valid TOML: {exc}.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"Config file {path} cannot be read: {exc}.") from exc
    return validate_config(raw, source=str(path))
