"""A model file from a training checkpoint, mid-run: the EMA generator at the checkpoint's step.

A recipe writes model files only when a stage ends, and the second generator's stages last
thousands of steps across sessions. Scoring where a run stands (`atelier evaluate`, the contact
sheet) must not wait for that, nor disturb the run: this reads the checkpoint alone, builds no
data pools and draws from no random stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.checkpoint import CheckpointError, load_checkpoint
from models.encoders import build_encoder
from models.modelfile import save_model
from models.networks import GeneratorConfig, build_generator


def snapshot_model(checkpoint: str | Path, out: str | Path) -> dict[str, Any]:
    """Write the checkpoint's EMA generator to `out` as a model file and return what it records.

    The metadata is what a stage's end would write, less the data digests (the checkpoint does
    not hold the folders' names) and with `snapshot` naming the checkpoint's step, so a scored
    snapshot is never mistaken for a finished stage."""
    state = load_checkpoint(checkpoint)
    if state["config"].get("generator") is None:
        raise CheckpointError(f"{checkpoint}: the checkpoint names no generator configuration")
    generator_config = GeneratorConfig.from_dict(state["config"]["generator"])
    encoder = build_encoder(state["config"]["encoder"], "cpu")
    generator = build_generator(generator_config, encoder.taps)
    generator.load_state_dict(state["G_ema"])
    recent = state["history"][-50:]
    losses = (
        {k: sum(h.get(k, 0.0) for h in recent) / len(recent) for k in recent[-1]} if recent else {}
    )
    info: dict[str, Any] = {
        "steps": int(state["base_steps"]) + int(state["step"]),
        "train_config": state["config"],
        "losses": losses,
        "snapshot": {"checkpoint_step": int(state["step"])},
    }
    if state.get("recipe"):
        info["recipe"] = state["recipe"]
    save_model(out, generator.eval(), encoder, **info)
    return info
