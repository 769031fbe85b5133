"""The sdist holds what ``make test`` needs: every repository folder the tests import or read."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _sdist_include() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(config["tool"]["hatch"]["build"]["targets"]["sdist"]["include"])


def _folders_the_tests_need() -> set[str]:
    """Top-level repository folders imported by a test module, or named in one as a path
    (``ROOT / "notebooks"``, ``parent.parent / "notebooks"``)."""
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    need = set()
    for path in (ROOT / "tests").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                need.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                need.add(node.module.split(".")[0])
        need.update(re.findall(r"""/ ["']([a-z_]+)["']""", text))
    return need & folders


def test_the_sdist_includes_every_folder_the_tests_need():
    need = _folders_the_tests_need()
    assert {"analytics", "pipelines", "tests", "benchmarks", "notebooks"} <= need  # the scan works
    assert need <= _sdist_include(), f"add to [tool.hatch.build.targets.sdist] include: {sorted(need - _sdist_include())}"
    assert {"sql", "data_samples", "Makefile", "requirements.lock"} <= _sdist_include()
