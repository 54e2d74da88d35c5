"""A trained model is one safetensors file: generator weights plus JSON metadata.

Loading never unpickles code. The metadata names the encoder and its weights' digest, so a model
is refused by an encoder it was not trained with.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from contracts.modelfile import FORMAT, METADATA_KEY, ModelFileError, read_file_metadata
from models.encoders import Encoder
from models.networks import Generator, GeneratorConfig, build_generator


def atomic_write(path: str | Path, write: Any) -> None:
    """Write via `write(tmp_path)`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; model files are read by other processes
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(path: str | Path, generator: Generator, encoder: Encoder, **info: Any) -> None:
    """Save G's weights with metadata: config, encoder name and digest, plus `info`."""
    metadata = {
        "format": FORMAT,
        "config": generator.config.to_dict(),
        "encoder": {"name": encoder.name, "digest": encoder.digest, "untrained": encoder.untrained},
        **info,
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    atomic_write(
        path, lambda tmp: save_file(tensors, tmp, metadata={METADATA_KEY: json.dumps(metadata)})
    )


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The model's metadata, read from the safetensors header alone (no weights loaded); the
    format and its checks are `contracts.modelfile`'s, shared with the API's upload check."""
    try:
        return read_file_metadata(path)
    except ModelFileError as err:
        raise ModelFileError(f"{path}: {err}") from err.__cause__


def load_model(path: str | Path, encoder: Encoder) -> tuple[Generator, dict[str, Any]]:
    """Rebuild G from the file's config and load its weights; refuse a mismatched encoder."""
    meta = read_metadata(path)
    trained_with = meta["encoder"]
    if trained_with["name"] != encoder.name or trained_with["digest"] != encoder.digest:
        raise ModelFileError(
            f"{path}: model was trained with encoder {trained_with['name']} "
            f"({trained_with['digest']}), not {encoder.name} ({encoder.digest})"
        )
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(f"{path}: corrupt or truncated model file ({err})") from err
    try:
        generator = build_generator(GeneratorConfig.from_dict(meta["config"]), encoder.taps)
    except (TypeError, KeyError, ValueError, AssertionError) as err:
        raise ModelFileError(f"{path}: invalid architecture config ({err})") from err
    try:
        generator.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise ModelFileError(f"{path}: weights do not match the stored architecture") from err
    if not all(torch.isfinite(t).all() for t in tensors.values()):
        raise ModelFileError(f"{path}: weights contain NaN or inf")
    return generator.eval(), meta
