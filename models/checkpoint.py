"""A training checkpoint: all a run needs to go on exactly where it stopped, in one safetensors
file: tensors, and JSON for the rest, so loading one never unpickles anything.

Tensors: ``G.*``, ``G_ema.*``, ``D.*`` (state dicts), ``opt_G.<param index>.<key>`` and
``opt_D...`` (Adam's moments and step counts), ``rng`` (the trainer's data and augmentation
stream), ``torch_rng`` (torch's global stream) and ``history`` (float64, one row per recent
step). Metadata key ``atelier-checkpoint``: the format, step, training config, recipe (name and
sha256, with every earlier sha256 the run went through), the steps of the model it started from
and the optimisers' parameter groups.

A checkpoint written before this format (torch.save of the same dict) still loads, through
torch's tensors-only unpickler, so that a training job begun before an upgrade resumes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from models.modelfile import atomic_write

FORMAT = "atelier-checkpoint/1"
METADATA_KEY = "atelier-checkpoint"
MODULES = ("G", "G_ema", "D")
OPTIMISERS = ("opt_G", "opt_D")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read: truncated, corrupt, or not a training checkpoint."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` (models.train.Trainer.state_dict's keys) atomically to one file."""
    tensors: dict[str, torch.Tensor] = {}
    for name in MODULES:
        for key, value in state[name].items():
            tensors[f"{name}.{key}"] = value
    groups = {}
    for name in OPTIMISERS:
        for index, slots in state[name]["state"].items():
            for key, value in slots.items():
                tensors[f"{name}.{index}.{key}"] = torch.as_tensor(value)
        groups[name] = state[name]["param_groups"]
    history = state["history"]
    # Every key any kept step has: a run resumed under a recipe stage with a new term has steps
    # from before the term, which count it as 0 (as a step records a term that is off).
    keys = list(dict.fromkeys(k for h in history for k in h))
    tensors["history"] = torch.tensor(
        [[h.get(k, 0.0) for k in keys] for h in history], dtype=torch.float64
    ).reshape(len(history), len(keys))
    tensors["rng"], tensors["torch_rng"] = state["rng"], state["torch_rng"]
    metadata = {
        "format": FORMAT,
        "step": state["step"],
        "base_steps": state.get("base_steps", 0),
        "config": state["config"],
        "recipe": state.get("recipe"),
        "param_groups": groups,
        "history_keys": keys,
    }
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(
        path, lambda tmp: save_file(flat, tmp, metadata={METADATA_KEY: json.dumps(metadata)})
    )


def checkpoint_info(path: str | Path) -> dict[str, Any]:
    """The checkpoint's metadata (step, config, recipe...) from its header alone; {} when there is
    no file."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(METADATA_KEY)
    except (SafetensorError, OSError) as err:
        legacy = _legacy(path, err)
        return {"step": int(legacy["step"]), "config": legacy["config"]}
    if raw is None:
        raise CheckpointError(f"{path}: not a training checkpoint")
    info: dict[str, Any] = json.loads(raw)
    if info.get("format") != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {info.get('format')!r}, not {FORMAT}")
    return info


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The state `save_checkpoint` wrote (tensors on the CPU)."""
    info = checkpoint_info(path)
    if not info:
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as err:
        return _legacy(Path(path), err)
    state: dict[str, Any] = {
        "step": int(info["step"]),
        "base_steps": int(info.get("base_steps", 0)),
        "config": info["config"],
        "recipe": info.get("recipe"),
        "rng": tensors.pop("rng"),
        "torch_rng": tensors.pop("torch_rng"),
    }
    rows = tensors.pop("history").tolist()
    state["history"] = [dict(zip(info["history_keys"], row, strict=True)) for row in rows]
    for name in MODULES:
        state[name] = _take(tensors, name)
    for name in OPTIMISERS:
        slots: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in _take(tensors, name).items():
            index, slot = key.split(".", 1)
            slots.setdefault(int(index), {})[slot] = value
        state[name] = {"state": slots, "param_groups": info["param_groups"][name]}
    return state


def _take(tensors: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    prefix = name + "."
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _legacy(path: Path, err: Exception) -> dict[str, Any]:
    """A checkpoint of the earlier torch.save format, read by the tensors-only unpickler."""
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as legacy_err:  # any unpickling failure means the same: unreadable
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({err})") from legacy_err
    state["history"] = [dict(h) for h in state["history"]]
    return state
