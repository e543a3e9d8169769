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
    tensors, scalars, subclasses = {}, {}, {}
    for pid, state in sd["state"].items():
        for name, value in state.items():
            key = f"{pid}.{name}"
            if _is_subclass(value):
                # a tensor subclass (torchao's 8-bit optimizer states): its plain inner tensors, exactly
                inner, ctx = value.__tensor_flatten__()
                for part in inner:
                    tensors[f"{key}.{part}"] = getattr(value, part).detach().contiguous().clone()
                cls = type(value)
                subclasses[key] = {"class": f"{cls.__module__}:{cls.__qualname__}", "inner": list(inner),
                                   "ctx": _encode(list(ctx))}  # fmt: skip
            elif torch.is_tensor(value):
                tensors[key] = value.detach().contiguous().clone()
            else:
                scalars[key] = value
    groups, group_tensors = [], []
    for i, group in enumerate(sd["param_groups"]):  # torchao's optimizers keep `lr` as a tensor
        groups.append({k: v for k, v in group.items() if not torch.is_tensor(v)})
        for k, v in group.items():
            if torch.is_tensor(v):
                tensors[f"group.{i}.{k}"] = v.detach().contiguous().clone()
                group_tensors.append([i, k])
    meta = {"param_groups": groups, "scalars": scalars, "subclasses": subclasses, "group_tensors": group_tensors}
    return tensors, meta


def _is_subclass(t) -> bool:
    """A tensor subclass (torchao's quantized weights and 8-bit optimizer states), not a plain tensor."""
    return torch.is_tensor(t) and type(t) not in (torch.Tensor, torch.nn.Parameter) and hasattr(t, "__tensor_flatten__")


def _encode(x):
    """JSON-ready copy of a state: 0-d tensors (torchao keeps learning rates as tensors) are written as their exact
    value and dtype, and dtypes (a tensor subclass's context) by name; :func:`_decode` brings both back."""
    if isinstance(x, torch.dtype):
        return {"__dtype__": str(x).removeprefix("torch.")}
    if torch.is_tensor(x) and x.ndim == 0:
        return {"__scalar_tensor__": x.item(), "dtype": str(x.dtype).removeprefix("torch.")}
    if isinstance(x, dict):
        return {k: _encode(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_encode(v) for v in x]
    return x


def _decode(x):
    if isinstance(x, dict) and "__dtype__" in x:
        return getattr(torch, x["__dtype__"])
    if isinstance(x, dict) and "__scalar_tensor__" in x:
        return torch.tensor(x["__scalar_tensor__"], dtype=getattr(torch, x["dtype"]))
    if isinstance(x, dict):
        return {k: _decode(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode(v) for v in x]
    return x


def _optimizer_from_files(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    import importlib

    tensors = dict(tensors)
    groups = [dict(g) for g in meta["param_groups"]]
    for i, k in meta.get("group_tensors", []):
        groups[i][k] = tensors.pop(f"group.{i}.{k}")
    state: dict[int, dict] = {}
    for key, info in meta.get("subclasses", {}).items():
        module, qualname = info["class"].split(":")
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        inner = {part: tensors.pop(f"{key}.{part}") for part in info["inner"]}
        pid, name = key.split(".", 1)
        ctx = _decode(info["ctx"])
        state.setdefault(int(pid), {})[name] = cls.__tensor_unflatten__(inner, ctx, None, None)
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": groups}


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
            if _is_subclass(value) and not getattr(value, "requires_grad", False):
                # a quantized frozen weight (train/lowmem.py): rebuilt from the base on resume, not stored
                module_meta.setdefault(name, {}).setdefault("__frozen_quantized__", []).append(key)
            elif torch.is_tensor(value):
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
        "scheduler": _encode(scheduler.state_dict()) if scheduler is not None else None,
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
        frozen = set(meta.get("__frozen_quantized__", []))
        for key, value in meta.items():
            if key == "__frozen_quantized__":
                continue
            if isinstance(value, dict) and "__tensor_list__" in value:
                sd[key] = [sd.pop(f"{key}.{i}") for i in range(value["__tensor_list__"])]
            else:
                sd[key] = value
        if isinstance(module, torch.nn.Module):
            missing, unexpected = module.load_state_dict(sd, strict=not frozen)
            if frozen and (set(missing) != frozen or unexpected):
                raise ValueError(
                    f"checkpoint {folder} does not match `{name}`: missing {sorted(set(missing) - frozen)}, "
                    f"unexpected {sorted(unexpected)}; its quantized weights must come from the same base."
                )
        else:
            module.load_state_dict(sd)
    if optimizer is not None:
        meta = json.loads((folder / "optimizer.json").read_text())
        optimizer.load_state_dict(_optimizer_from_files(load_safetensors(folder / "optimizer.safetensors"), meta))
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(_decode(state["scheduler"]))
    rng = load_safetensors(folder / "rng.safetensors")
    torch.set_rng_state(rng["torch"])
    for name, g in (generators or {}).items():
        g.set_state(rng[f"generator.{name}"])
    return state
