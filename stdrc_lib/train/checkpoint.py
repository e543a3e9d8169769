"""Training checkpoints that survive a crash: safetensors + JSON, written atomically, resumed exactly.

A checkpoint is a folder ``<root>/step-000123/`` holding

* ``model.safetensors`` – every trainable module's state, keys prefixed by the module's name;
* ``optimizer.safetensors`` + ``optimizer.json`` – the optimizer's tensors and its param groups;
* ``rng.safetensors`` – torch's global RNG state and every named ``torch.Generator``;
* ``state.json`` – step, scheduler state and anything else JSON-serialisable (loss history...).

The folder is first written as ``.step-000123.tmp`` and renamed into place only when complete,
then ``<root>/latest`` (written atomically) is pointed at it. A process killed at any moment
therefore leaves the previous checkpoint intact and ``latest`` pointing at a complete folder.
Nothing here uses pickle: ``torch.load`` is never called.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..core.io import atomic_write, load_safetensors

LATEST = "latest"


def _step_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:06d}"


def _optimizer_to_files(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, state in sd["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value.detach().contiguous().clone()
            else:
                scalars[f"{pid}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_from_files(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    root: str | Path,
    step: int,
    modules: Mapping[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    generators: Mapping[str, torch.Generator] | None = None,
    extra: dict | None = None,
    keep: int = 2,
) -> Path:
    """Write checkpoint ``step`` under ``root`` atomically; keep the newest ``keep`` of them.

    ``modules`` maps a name to a module (or anything with ``state_dict()`` returning tensors, such as
    diffusers' ``EMAModel``, whose non-tensor entries go to ``state.json``).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = _step_dir(root, step)
    tmp = root / f".{final.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    weights, module_meta = {}, {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            if torch.is_tensor(value):
                weights[f"{name}.{key}"] = value.detach().contiguous().clone()
            elif isinstance(value, list) and value and all(torch.is_tensor(v) for v in value):
                for i, v in enumerate(value):  # EMAModel's shadow_params
                    weights[f"{name}.{key}.{i}"] = v.detach().contiguous().clone()
                module_meta.setdefault(name, {})[key] = {"__tensor_list__": len(value)}
            else:
                module_meta.setdefault(name, {})[key] = value
    save_file(weights, str(tmp / "model.safetensors"))
    if optimizer is not None:
        tensors, meta = _optimizer_to_files(optimizer)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "optimizer.json").write_text(json.dumps(meta))
    rng = {"torch": torch.get_rng_state()}
    for name, g in (generators or {}).items():
        rng[f"generator.{name}"] = g.get_state()
    save_file(rng, str(tmp / "rng.safetensors"))
    state = {
        "step": int(step),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "module_meta": module_meta,
        "extra": extra or {},
    }
    (tmp / "state.json").write_text(json.dumps(state))
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write(root / LATEST, lambda p: p.write_text(final.name))
    old = sorted(p for p in root.glob("step-*") if p.is_dir() and p != final)
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def latest_checkpoint(root: str | Path) -> Path | None:
    """The folder ``root/latest`` points at, or ``None`` when there is no complete checkpoint yet."""
    root = Path(root)
    pointer = root / LATEST
    if not pointer.is_file():
        return None
    folder = root / pointer.read_text().strip()
    if not (folder / "state.json").is_file():
        raise ValueError(f"`{pointer}` points at {folder.name}, which is not a complete checkpoint.")
    return folder


def load_checkpoint(
    folder: str | Path,
    modules: Mapping[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    generators: Mapping[str, torch.Generator] | None = None,
) -> dict:
    """Restore what :func:`save_checkpoint` wrote into the given objects; returns ``state.json``."""
    folder = Path(folder)
    if not (folder / "state.json").is_file():
        raise FileNotFoundError(f"`folder` {folder} is not a checkpoint (no state.json).")
    state = json.loads((folder / "state.json").read_text())
    weights = load_safetensors(folder / "model.safetensors")
    for name, module in modules.items():
        meta = state["module_meta"].get(name, {})
        prefix = f"{name}."
        sd = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
        for key, value in meta.items():
            if isinstance(value, dict) and "__tensor_list__" in value:
                sd[key] = [sd.pop(f"{key}.{i}") for i in range(value["__tensor_list__"])]
            else:
                sd[key] = value
        if isinstance(module, torch.nn.Module):
            module.load_state_dict(sd, strict=True)
        else:
            module.load_state_dict(sd)
    if optimizer is not None:
        meta = json.loads((folder / "optimizer.json").read_text())
        optimizer.load_state_dict(_optimizer_from_files(load_safetensors(folder / "optimizer.safetensors"), meta))
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    rng = load_safetensors(folder / "rng.safetensors")
    torch.set_rng_state(rng["torch"])
    for name, g in (generators or {}).items():
        g.set_state(rng[f"generator.{name}"])
    return state
