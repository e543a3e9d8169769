"""Safe file handling: atomic writes, safetensors loading with clear errors, strict configs."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write through a temporary file in the same folder, then ``os.replace`` it into place.

    A crash during ``write`` leaves the previous file untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


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


def read_json_config(path: str | Path, cls):
    """Read a JSON file into dataclass ``cls``, rejecting keys the dataclass does not know."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"`{path}` is not valid JSON: {e}") from e
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"`{path}` has unknown keys {unknown}; expected only {sorted(known)}.")
    return cls(**data)
