"""Write a week's outputs into a temporary folder; publish it whole, only after its privacy check passed.

Why: a weekly run that fails, is killed, or whose privacy check finds a leak must not leave
an unscanned (or leaking) shared file where commanders pick them up. So
:func:`staged_folder` creates an owner-only (0700) folder ``<out>/.weekly-<pid>-<random>``
beside the destination -- same file system, so publishing is a rename -- and

* :meth:`Stage.publish` seals the ``analyst/`` files (0600), gives the folder the mode of a
  folder of shared files (it follows the umask), fixes the paths in ``run.json`` and renames it
  to ``<out>/<week>``. An existing folder of that week is first renamed aside and removed only
  once the new one is in place (restored if the rename fails). Other weeks are never touched.
* :meth:`Stage.withhold` (the privacy check failed) keeps the folder owner-only as
  ``<out>/.<week>.withheld`` for the analyst to inspect; ``<out>/<week>`` is left as it was.
* Any exception removes the temporary folder: nothing half-done is left. A killed run leaves
  only its hidden owner-only temporary folder, which the next run removes.

``--out`` that is a file, or a folder that cannot be written, is a one-line error before any
work is done; a write that fails mid-run (a full disk) is a one-line error too.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from analytics.errors import HotspotError, InvalidInputError
from pipelines import layout, private_files

STAGE_PREFIX = ".weekly-"


def withheld_path(out_root: Path, week: str) -> Path:
    """Where a run whose privacy check failed is kept (owner-only): ``<out>/.<week>.withheld``."""
    return Path(out_root) / f".{week}.withheld"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_stages(out_root: Path) -> None:
    """Remove temporary folders left by killed runs (their process is gone)."""
    for path in out_root.glob(f"{STAGE_PREFIX}*"):
        try:
            pid = int(path.name[len(STAGE_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if path.is_dir() and pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)


def _check_out_root(out_root: Path) -> Path:
    out_root = Path(out_root)
    if out_root.exists() and not out_root.is_dir():
        raise InvalidInputError(f"--out {out_root} is a file, not a folder; give a folder for the week's outputs.")
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"Cannot create the output folder {out_root}: {exc.strerror}.") from exc
    return out_root


def _rel_swap(value: str, old: Path, new: Path) -> str:
    old_s = str(old)
    return str(new) + value[len(old_s):] if value.startswith(old_s) else value


@dataclass
class Stage:
    """A run's temporary folder and where it publishes to."""

    out_root: Path
    folder: Path
    done: bool = False

    def _relocate(self, run, final: Path) -> None:
        """Point the run's paths (and run.json's ``outputs``) at ``final`` instead of the temporary folder."""
        run.outputs = {k: _rel_swap(v, self.folder, final) for k, v in run.outputs.items()}
        run.out_dir = final
        meta_path = layout.output_path(self.folder, "run")
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if isinstance(meta.get("outputs"), dict):
                meta["outputs"] = {k: _rel_swap(str(v), self.folder, final) for k, v in meta["outputs"].items()}
            meta_path.write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")

    def publish(self, week: str, run) -> Path:
        """Make the staged folder ``<out>/<week>`` (see the module docstring); returns it."""
        final = self.out_root / week
        self._relocate(run, final)
        layout.seal_analyst_files(self.folder)
        for path in self.folder.iterdir():  # shared files follow the umask, whoever wrote them (GDAL: 0644)
            if path.is_file() and layout.is_shared(path.name):
                os.chmod(path, private_files.shared_file_mode())
        os.chmod(self.folder, private_files.shared_dir_mode())
        aside = None
        if final.exists() or final.is_symlink():
            if not final.is_dir() or final.is_symlink():
                raise InvalidInputError(f"{final} exists and is not a folder; move it away and run again.")
            aside = self.out_root / f".{week}.replaced-{os.getpid()}"
            if aside.exists():
                shutil.rmtree(aside)
            os.replace(final, aside)
        try:
            os.replace(self.folder, final)
        except BaseException:
            if aside is not None:
                os.replace(aside, final)
            raise
        self.done = True
        private_files.fsync_dir(self.out_root)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        return final

    def publish_record(self, week: str) -> Path:
        """Publish a run that stopped early (too little data): its folder holds only ``analyst/run.json``."""
        final = self.publish(week, _NoOutputs(self.folder))
        return layout.output_path(final, "run")

    def withhold(self, week: str, run) -> Path:
        """Keep a run whose privacy check failed, owner-only, as ``<out>/.<week>.withheld``; returns it."""
        target = withheld_path(self.out_root, week)
        self._relocate(run, target)
        layout.seal_analyst_files(self.folder)
        for path in self.folder.rglob("*"):
            private_files.make_private(path)
        if target.exists():
            shutil.rmtree(target)
        os.replace(self.folder, target)
        self.done = True
        return target


@dataclass
class _NoOutputs:
    """Stands for a run that wrote nothing but its run.json (for :meth:`Stage.publish_record`)."""

    out_dir: Path
    outputs: dict = field(default_factory=dict)


@contextmanager
def staged_folder(out_root: Path) -> Iterator[Stage]:
    """A temporary owner-only folder in ``out_root`` for one run; removed unless published or withheld."""
    out_root = _check_out_root(out_root)
    _remove_stale_stages(out_root)
    try:
        folder = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-", dir=out_root))
    except OSError as exc:
        raise InvalidInputError(f"Cannot write to the output folder {out_root}: {exc.strerror}.") from exc
    stage = Stage(out_root, folder)
    try:
        yield stage
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        raise HotspotError(f"Writing the weekly outputs failed: {exc.strerror or exc}{where}; nothing was "
                           f"published to {out_root}.") from exc
    finally:
        if not stage.done:
            shutil.rmtree(folder, ignore_errors=True)
