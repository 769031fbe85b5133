"""The researcher notebooks run top to bottom on the committed SYNTHETIC sample (nbclient), and are
committed without outputs. The kernel is this interpreter (a kernelspec written to a temp folder), so
the notebooks import the same package as the tests. Their run time is measured by the
``notebooks`` benchmark figure (``python -m benchmarks.run --only notebooks``), never asserted here."""

from __future__ import annotations

import json
import sys

import nbformat
import pytest

from benchmarks.notebooks import KERNEL_NAME, NAMES, NOTEBOOKS, run_notebook, write_kernelspec


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory, monkeypatch_module):
    root = write_kernelspec(tmp_path_factory.mktemp("jupyter"))
    monkeypatch_module.setenv("JUPYTER_PATH", str(root))
    return KERNEL_NAME


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, name
            assert "def " not in cell.source and "class " not in cell.source, "notebooks define no logic"
    assert "SYNTHETIC" in nb.cells[0].source


@pytest.mark.slow  # both notebooks end to end (~45 s); CI runs the slow suite
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, kernel_name, tmp_path):
    # how long it takes is the benchmarks' business (figure "notebooks"), not a unit test's
    nb, _ = run_notebook(name, tmp_path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    text = json.dumps([c.outputs for c in nb.cells if c.cell_type == "code"])
    assert sys.executable.split("/")[-1] and "SYNTHETIC" in text
    # each notebook plots what it computes (matplotlib, Agg, saved and shown as PNG) and says what it means
    assert text.count('"image/png"') >= 2, f"{name}: fewer than two figures"
    sources = " ".join(c.source for c in nb.cells if c.cell_type == "code")
    assert 'matplotlib.use("Agg")' in sources and "SYNTHETIC —" in sources
