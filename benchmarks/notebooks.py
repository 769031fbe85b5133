"""The researcher notebooks run end to end: a kernel on this interpreter and a timed run of each.

Used by the ``notebooks`` benchmark figure (wall time against the 90 s budget per notebook) and by
``tests/test_notebooks.py`` (which checks they run, not how fast).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ("01_weekly_hotspots.ipynb", "02_evaluate_disruption.ipynb")
KERNEL_NAME = "hotspots-test"
#: A notebook's wall-time budget (seconds, committed SYNTHETIC sample, 2 cores).
BUDGET_S = 90.0
#: Kernel launcher. DuckDB 2.0 detects Jupyter when it is first imported and then refuses
#: ``set enable_progress_bar = false`` (run by pipelines.store) unless ipywidgets is installed
#: ("required package 'ipywidgets' is missing"). Importing duckdb before the kernel starts keeps
#: it in plain-terminal mode. Users opening the notebooks in Jupyter need ipywidgets.
LAUNCH = "import duckdb; from ipykernel import kernelapp; kernelapp.launch_new_instance()"


def write_kernelspec(root: Path) -> Path:
    """A kernelspec running this interpreter under ``root/kernels/``; point ``JUPYTER_PATH`` at ``root``."""
    spec = root / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", LAUNCH, "-f", "{connection_file}"],
        "display_name": "hotspots (this interpreter)", "language": "python"}))
    return root


def run_notebook(name: str, cwd: Path, timeout: int = 180):
    """Execute notebook ``name`` top to bottom in ``cwd``; return (the executed notebook, wall seconds)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=timeout,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb, time.perf_counter() - t0
