"""The training run's hyper-parameters: one dataclass, stored in every model file
(`train_config`) and checkpoint, and rebuilt from it; a recipe's stages are made of it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from models.encoders import DEFAULT_ENCODER, Encoder
from models.networks import DiscriminatorConfig, GeneratorConfig


@dataclass
class TrainConfig:
    """Training hyper-parameters; stored in every model file (`train_config`)."""

    steps: int = 5000
    image_size: int = 256
    batch_size: int = 8
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    # Hinge by default: the standard pairing with spectral normalisation (SN-GAN, BigGAN); its
    # D loss stops pushing once a sample is past the margin, so a D that wins early on a small
    # style set does not saturate G's gradient as the design note's cross-entropy ("bce") can.
    # "lsgan" is least squares.
    adversarial: str = "hinge"
    w_adv: float = 0.5
    w_content: float = 1.0
    w_style: float = 1.0
    w_identity: float = 1.0
    # Colour-distribution term (sliced Wasserstein of Lab pixels); 0: off.
    w_color: float = 0.0
    # Terms that reward the painting's marks (models.losses): the distribution of the style
    # taps' feature vectors (sliced Wasserstein) and of their statistics over local patches;
    # 0: off.
    w_sliced: float = 0.0
    w_local: float = 0.0
    w_r1: float = 0.0
    # Temporal term (models.motion, Wang et al. 2020): a photo moved as a camera moves between
    # two frames must be painted as its result moved; on half the batch. 0: off.
    w_temporal: float = 0.0
    # Distillation: a trained model file whose results G learns to paint (L1 on the image,
    # models.losses.teacher_loss), e.g. the shipped model teaching a cheaper head
    # (models/subpixel.py). 0 or None: off.
    teacher: str | None = None
    w_teacher: float = 0.0
    # The same teacher's result through the encoder at the style taps: structure and marks'
    # statistics (models.losses.teacher_feature_loss). 0: off.
    w_teacher_features: float = 0.0
    # Encoder taps the style terms compare; None: the encoder's own (Lite0: s2, s4, s8, s16).
    style_taps: tuple[str, ...] | None = None
    # Encoder taps the content loss compares; None: the encoder's own (Lite0: s16 only).
    # Shallower taps hold finer structure: edges, eyes, letters.
    content_taps: tuple[str, ...] | None = None
    # Condition D on the style's statistics (projection discriminator); see DiscriminatorConfig.
    style_conditioned_d: bool = False
    augment: str = "color,translation,cutout"
    ema_decay: float = 0.995
    checkpoint_every: int = 250
    # Guard rails and previews run on a fixed validation batch every `validate_every` steps;
    # collapse and inversion are judged only after `guard_warmup` steps of a run from scratch.
    validate_every: int = 250
    guard_warmup: int = 300
    seed: int = 0
    encoder: str = DEFAULT_ENCODER
    device: str = "auto"
    # torch's CPU threads for the run (0: torch's default). One on a shared CPU: two threads
    # beside other busy processes ran 10x slower here (docs/default_model_log.md).
    threads: int = 0
    # None: the encoder's default (see default_generator_config).
    generator: GeneratorConfig | None = None
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        if d.get("generator") is not None:
            d["generator"] = GeneratorConfig.from_dict(d["generator"])
        d["discriminator"] = DiscriminatorConfig(**d["discriminator"])
        d["betas"] = tuple(d["betas"])
        for key in ("content_taps", "style_taps"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


def default_generator_config(encoder: Encoder) -> GeneratorConfig:
    """Fuse taps for an encoder: Lite0's wide expanded activations at strides 16 and 8 plus its
    stride-4 and stride-2 outputs; VGG19's relu4_1..relu1_1."""
    if encoder.name in ("efficientnet-lite0", "random"):
        return GeneratorConfig()
    return GeneratorConfig(
        fuse_taps=("relu4_1", "relu3_1", "relu2_1", "relu1_1"), widths=(256, 128, 64, 32)
    )
