"""Where results go: checked before any work, written whole, with a record of what made them.

* :func:`check_outputs` runs before generation or training starts: the suffix is one we can write, the folder
  can be made and written to, and no file a user owns is overwritten. A file counts as ours when the record
  stdrc writes beside it (``<file>.json``, or a folder's ``<name>.json``) is there; anything else needs
  ``overwrite=True`` (``--overwrite``).
* :func:`provenance` is that record: the command, the git revision (or the package version outside a
  checkout) and the sha256 of the weight files used.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from . import __version__
from .core.io import atomic_write

ROOT = Path(__file__).resolve().parents[1]


def record_path(path: str | Path) -> Path:
    """The record stdrc writes beside an output file: ``clip.mp4`` → ``clip.mp4.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def check_outputs(
    paths: list[str | Path],
    record: str | Path,
    overwrite: bool = False,
    name: str = "--out",
    suffixes: tuple[str, ...] | None = None,
) -> list[Path]:
    """Check that ``paths`` can be written, before the work that makes them; returns them as ``Path``.

    Args:
        record: the record whose presence marks existing ``paths`` as written by stdrc.
        name: the argument the user gave the path with, for the messages.
        suffixes: the file types allowed (e.g. ``(".mp4", ".gif")``), or None for any.
    """
    paths = [Path(p) for p in paths]
    ours = Path(record).is_file()
    for p in paths:
        if suffixes is not None and p.suffix.lower() not in suffixes:
            raise ValueError(f"`{name}` must end in {' or '.join(suffixes)}, got {str(p)!r}.")
        if p.is_dir():
            raise ValueError(f"`{name}` {str(p)!r} is a folder; give a file name ending in {p.suffix or '.mp4'}.")
        if p.exists() and not (ours or overwrite):
            raise FileExistsError(
                f"`{name}`: {str(p)!r} exists and was not written by stdrc (no {Path(record).name} beside it); "
                "choose another path, or pass --overwrite (overwrite=True) to replace it."
            )
        _check_folder(p.parent, name)
    return paths


def _check_folder(folder: Path, name: str) -> None:
    existing = next(a for a in (folder, *folder.parents) if a.exists())
    if not existing.is_dir():
        raise ValueError(f"`{name}`: {str(existing)!r} is a file, so no folder can be made under it.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"`{name}`: the folder {str(existing)!r} is not writable.")


def git_revision(root: str | Path = ROOT) -> str:
    """The checkout's ``git rev-parse HEAD`` (with ``-dirty`` when it has changes), or the package version.

    Only a checkout whose top folder is ``root`` counts: an installed copy inside some other repository (a virtual
    environment in a user's project) names the package version, not that repository's revision.
    """
    root = Path(root).resolve()
    try:
        rev = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10)  # fmt: skip
        lines = rev.stdout.splitlines()  # a folder name may hold spaces
        if rev.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != root:
            raise OSError(rev.stderr or f"{root} is not the top of a git checkout")
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()  # fmt: skip
        return lines[1] + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return f"stdrc {__version__} (not a git checkout)"


# A process runs the code it imported, so its results name the revision as it was then, not when they are written
# (the checkout may move on while a study runs for hours).
REVISION_AT_START = git_revision()


def weight_hashes(folder: str | Path | None) -> dict[str, str]:
    """sha256 of every ``*.safetensors`` under ``folder``, by relative path."""
    if folder is None or not Path(folder).is_dir():
        return {}
    folder = Path(folder)
    out = {}
    for p in sorted(folder.rglob("*.safetensors")):
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        out[str(p.relative_to(folder))] = h.hexdigest()
    return out


def _program() -> str:
    name = Path(sys.argv[0]).name
    return "stdrc" if name in ("stdrc", "__main__.py") else name


def provenance(weights: str | Path | None = None, command: str | None = None, **extra) -> dict:
    """What made a result: the command (default: this process's), the git revision when the process loaded this
    library, the weights' sha256, and ``extra``."""
    return {
        "written_by": "stdrc",
        "command": command or " ".join([_program(), *sys.argv[1:]]),
        "revision": REVISION_AT_START,
        "weights": str(weights) if weights is not None else None,
        "weights_sha256": weight_hashes(weights),
        **extra,
    }


def write_record(path: str | Path, record: dict) -> Path:
    """Write ``record`` as JSON, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(record, indent=2, default=str)))
    return path
