"""The tiny stand-in for the shipped model, a session fixture. In a module of its own (no
sibling imports): tests/client loads it by path and offers its tests the same fixture."""

import os
from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture(scope="session")
def builtin_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny stand-in for the shipped model: 1 step at 32 px with the random encoder, its
    metadata carrying a name and an `evaluation` as the shipped file's does."""
    pytest.importorskip("torch")
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from models.train import TrainConfig, train

    root = tmp_path_factory.mktemp("builtin")
    for folder, color in (("c", (200, 10, 10)), ("s", (0, 0, 250))):
        (root / folder).mkdir()
        for i in range(2):
            Image.new("RGB", (40, 40), tuple(max(0, v - 60 * i) for v in color)).save(
                root / folder / f"{i}.png"
            )
    config = TrainConfig(steps=1, image_size=32, batch_size=2, encoder="random", device="cpu")
    train(config, root / "c", root / "s", root / "trained.safetensors")
    with safe_open(str(root / "trained.safetensors"), "pt") as f:
        meta = json.loads(f.metadata()["atelier"])
    meta["name"] = "atelier-default"
    meta["evaluation"] = {"content": 1.5, "style": 2.5, "ssim": 0.4}
    meta["train_config"]["w_color"] = 0.25
    meta["train_config"]["style_conditioned_d"] = False
    path = root / "atelier-default.safetensors"
    tensors = load_file(root / "trained.safetensors")
    save_file(tensors, path, metadata={"atelier": json.dumps(meta)})
    # Its graphs exported into the session's graph folder now, as the first worker to run it
    # would: that export takes over a minute on a loaded 2-core CPU, longer than a test waits
    # for a job, and which test's worker came first would decide which test failed.
    from models.backends import GraphDirectory
    from models.inference import GANStylizer

    cache = GraphDirectory(Path(os.environ["ATELIER_GRAPH_CACHE"]))
    GANStylizer.from_file(path, device="cpu", backend="onnxruntime", graph_cache=cache)
    return path
