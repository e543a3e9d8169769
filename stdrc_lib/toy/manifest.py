"""The manifest of a toy weights folder: the command, machine, file hashes and training record of each part."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import torch

from ..core.io import atomic_write, read_json


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def command_line() -> str:
    """This process's command as a user would type it: ``stdrc …``, ``python -m stdrc_lib.… …``, or as run."""
    prog = Path(sys.argv[0])
    package = Path(__file__).resolve().parents[1]
    if prog.name == "stdrc":
        return " ".join(["stdrc", *sys.argv[1:]])
    if prog.suffix == ".py" and prog.resolve().is_relative_to(package):  # python -m stdrc_lib.x.y
        module = ".".join(prog.resolve().relative_to(package.parent).with_suffix("").parts)
        return " ".join(["python -m", module, *sys.argv[1:]])
    return " ".join(sys.argv)


def write_manifest(out: Path, extra: dict) -> Path:
    files = sorted(p for p in out.rglob("*.safetensors"))
    manifest = {
        "command": command_line(),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "files": {str(p.relative_to(out)): {"sha256": sha256(p), "bytes": p.stat().st_size} for p in files},
        **extra,
    }
    path = out / "manifest.json"
    old = read_json(path, "manifest") if path.exists() else {}
    if isinstance(old.get("training"), dict) and isinstance(manifest.get("training"), dict):
        # retraining only the transformer keeps the VAE's and readout's records
        manifest["training"] = {**old["training"], **manifest["training"]}
    old.update(manifest)
    return atomic_write(path, lambda p: Path(p).write_text(json.dumps(old, indent=2)))


def update_manifest_part(root: Path, part: str, info: dict, keep_commands: bool = False) -> Path | None:
    """After retraining one part (e.g. the readout) on its own: refresh the sha256 of every weight
    file, store the part's metrics under ``training[part]`` and its command in ``commands``
    (replacing the part's earlier command, or after it with ``keep_commands``, for a fine-tune that
    continues from it). Returns None when ``root`` has no manifest (a run outside ``data/``)."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        return None
    m = read_json(path, "manifest")
    m["files"] = {
        str(p.relative_to(root)): {"sha256": sha256(p), "bytes": p.stat().st_size}
        for p in sorted(Path(root).rglob("*.safetensors"))
    }
    record = {**info, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    training = m.setdefault("training", {})
    if keep_commands and part in training:
        earlier = {k: v for k, v in training[part].items() if k != "history"}
        record["history"] = [*training[part].get("history", []), earlier]
    training[part] = record
    prefix = f"python -m stdrc_lib.toy.{part}"
    command = " ".join([prefix, *sys.argv[1:]])
    kept = [c for c in m.get("commands", []) if keep_commands or not c.startswith(prefix)]
    m["commands"] = [c for c in kept if c != command] + [command]
    return atomic_write(path, lambda p: Path(p).write_text(json.dumps(m, indent=2)))
