"""Safe file handling: atomic writes, safetensors loading with clear errors, strict configs."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write through a temporary file in the same folder, then ``os.replace`` it into place.

    A crash during ``write`` leaves the previous file untouched. The temporary name ends in the target's own
    suffix (``.tmp.mp4``), so writers that go by the suffix (ffmpeg, PIL) pick the right format.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it the mode a plain open() would
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_safetensors(path: str | Path) -> dict:
    """Load a safetensors file, turning truncation or corruption into a message that names it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(
            f"`{path}` is not a readable safetensors file ({e}). It may be truncated or corrupt: "
            "delete it and download or re-create it."
        ) from e


def atomic_folder(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write a whole folder (e.g. ``save_pretrained``) beside ``path``, then swap it into place.

    A crash while ``write`` runs leaves the previous folder as it was. The swap is two renames (old out of the
    way, new in); a crash between them, microseconds apart, leaves the previous folder at ``.NAME.old-*``,
    which the next call puts back before it starts; it also removes what a killed earlier call left half-written
    (one writer per folder at a time).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in sorted(path.parent.glob(f".{path.name}.old-*")):
        if not path.exists():
            os.rename(old, path)  # an earlier swap was cut between its two renames
        else:
            shutil.rmtree(old, ignore_errors=True)
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        write(tmp)
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.rmdir(old)
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def read_json(path: str | Path, what: str = "file"):
    """``json.loads`` of a file, with an error that names it when it is missing or not valid JSON."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"`{path}` is not valid JSON ({e}); fix or delete it.") from e


def read_json_config(path: str | Path, cls):
    """Read a JSON file into dataclass ``cls``, rejecting keys the dataclass does not know."""
    data = read_json(path, "config file")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"`{path}` has unknown keys {unknown}; expected only {sorted(known)}.")
    return cls(**data)
