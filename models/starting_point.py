"""Which generator a training run starts from, and at which step count.

Three cases, one rule each: a checkpoint's run goes on with the generator the checkpoint holds,
whatever the recipe's defaults say (its weights come with the checkpoint); a recipe with an
`init` model starts from that model's weights, turned into the generator the recipe asks for
where they differ (the modulated architecture, a sub-pixel head, summed merges); anything else
starts fresh.
"""

from __future__ import annotations

from pathlib import Path

from models.checkpoint import checkpoint_info
from models.encoders import Encoder
from models.modelfile import load_model
from models.modulated import ModulatedGenerator, promote
from models.networks import Generator, GeneratorConfig, build_generator
from models.slimming import slimmed
from models.subpixel import with_subpixel_head
from models.train_config import TrainConfig, default_generator_config


def starting_generator(
    config: TrainConfig,
    encoder: Encoder,
    init_model: str | Path | None,
    resume: str | Path | None,
) -> tuple[Generator, int]:
    """(G, the steps behind it). Sets `config.generator` to G's configuration."""
    if resume is not None:
        saved = checkpoint_info(resume)["config"].get("generator")
        if saved is not None:
            config.generator = GeneratorConfig.from_dict(saved)
        config.generator = config.generator or default_generator_config(encoder)
        return build_generator(config.generator, encoder.taps), 0  # steps: the checkpoint's
    if init_model is None:
        config.generator = config.generator or default_generator_config(encoder)
        return build_generator(config.generator, encoder.taps), 0
    generator, meta = load_model(init_model, encoder)
    wanted = config.generator
    if wanted is not None and wanted.architecture != generator.config.architecture:
        # E.g. the shipped first-architecture model into the modulated one: the new layers
        # start at zero, so the run starts from the init model's very output.
        generator = promote(generator, wanted.code_dim)
    if wanted is not None and wanted.head != generator.config.head:
        if wanted.head != "subpixel":
            raise ValueError(f"a {generator.config.head} head cannot become {wanted.head}")
        # Every weight but the head's is the init model's; the head starts fresh.
        generator = with_subpixel_head(generator, wanted.subpixel_width)
    if wanted is not None and wanted.merge != generator.config.merge:
        if wanted.merge != "sum" or not isinstance(generator, ModulatedGenerator):
            raise ValueError(f"a {generator.config.merge} merge cannot become {wanted.merge}")
        # The summed merges and the head's width fitted to the init model's (models/slimming.py).
        generator = slimmed(generator, wanted.subpixel_width)
    config.generator = generator.config
    return generator, int(meta.get("steps", 0))
