"""Adversarial training of the style-transfer GAN.

Each step is the design note's algorithm box:
  1. G(c, s) stylizes a batch of content crops with a batch of style crops;
  2. D step: D learns to tell real paintings from the (detached) stylized images;
  3. G step, D frozen: G fools D while keeping the content's features and taking the style's
     feature statistics (+ identity: G(c, c) = c).
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models import losses
from models.augment import ImagePool, diff_augment
from models.encoders import DEFAULT_ENCODER, Encoder, build_encoder
from models.guards import check_losses, check_outputs
from models.inference import select_device
from models.modelfile import atomic_write, load_model, save_model
from models.networks import (
    DiscriminatorConfig,
    GeneratorConfig,
    MultiScaleDiscriminator,
    StyleStats,
    build_generator,
    style_vector,
)


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
    w_r1: float = 0.0
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
        if d.get("content_taps") is not None:
            d["content_taps"] = tuple(d["content_taps"])
        return cls(**d)


@dataclass
class TrainProgress:
    step: int
    total: int
    losses: dict[str, float]
    images_per_s: float
    eta_s: float
    checkpoint_step: int = 0  # the step of the last checkpoint written (or resumed from)
    resumed_from: int = 0  # the step this run resumed from (0: from the start)


def default_generator_config(encoder: Encoder) -> GeneratorConfig:
    """Fuse taps for an encoder: Lite0's wide expanded activations at strides 16 and 8 plus its
    stride-4 and stride-2 outputs; VGG19's relu4_1..relu1_1."""
    if encoder.name in ("efficientnet-lite0", "random"):
        return GeneratorConfig()
    return GeneratorConfig(
        fuse_taps=("relu4_1", "relu3_1", "relu2_1", "relu1_1"), widths=(256, 128, 64, 32)
    )


def set_requires_grad(module: torch.nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


class Trainer:
    """Holds G, D, G_ema, their optimisers and the data; `step()` runs one algorithm-box step."""

    def __init__(
        self,
        config: TrainConfig,
        content_dir: str | Path,
        style_dir: str | Path,
        init_model: str | Path | None = None,
    ) -> None:
        self.config = config
        self.device = select_device(config.device)
        self.encoder = build_encoder(config.encoder, self.device)
        # Seed after building the encoder: it is cached per process, so building it may or may
        # not draw from the global RNG, and G's and D's initial weights must not depend on that.
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        np.random.seed(config.seed)
        self.rng = torch.Generator().manual_seed(config.seed)
        if init_model is not None:
            self.G, meta = load_model(init_model, self.encoder)
            config.generator = self.G.config
            self.base_steps = int(meta.get("steps", 0))
        else:
            config.generator = config.generator or default_generator_config(self.encoder)
            self.G = build_generator(config.generator, self.encoder.taps)
            self.base_steps = 0
        self.G.to(self.device).train()
        self.G_ema = copy.deepcopy(self.G).eval()
        set_requires_grad(self.G_ema, False)
        enc = self.encoder
        self.content_taps = tuple(config.content_taps or enc.content_taps)
        if config.style_conditioned_d:
            config.discriminator.condition_dim = sum(
                2 * enc.tap(t).channels for t in enc.style_taps
            )
        self.D = MultiScaleDiscriminator(config.discriminator).to(self.device).train()
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=config.lr_g, betas=config.betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=config.lr_d, betas=config.betas)
        self.d_adv, self.g_adv = losses.ADVERSARIAL[config.adversarial]
        self.content = ImagePool(content_dir, config.image_size)
        self.style = ImagePool(style_dir, config.image_size)
        # The same validation pairs every time, from their own generator: drawing them does not
        # change the training run's random stream.
        val_rng = torch.Generator().manual_seed(config.seed + 1_000_003)
        n_val = min(4, max(2, len(self.content)))
        self.val_content = self.content.sample(n_val, val_rng)
        self.val_style = self.style.sample(1, val_rng).expand(n_val, -1, -1, -1)
        self.step_count = 0
        self.history: list[dict[str, float]] = []
        self.fuse_taps = tuple(self.G.config.fuse_taps)
        self.all_taps = tuple(dict.fromkeys(self.fuse_taps + enc.style_taps + self.content_taps))
        # bf16 autocast on CUDA; fp32 elsewhere (CPU bf16 backward is slower than fp32 here).
        self.amp = self.device.type == "cuda"

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def step(self) -> dict[str, float]:
        cfg, enc, G, D = self.config, self.encoder, self.G, self.D
        c = self.content.sample(cfg.batch_size, self.rng).to(self.device)  # (N, 3, S, S)
        s = self.style.sample(cfg.batch_size, self.rng).to(self.device)  # (N, 3, S, S)
        size = (cfg.image_size, cfg.image_size)

        with torch.no_grad(), self._autocast():
            c_feats = {t: f.float() for t, f in enc(c, self.all_taps).items()}
            s_stats = StyleStats.of(enc(s, self.all_taps))
        # D's condition y(s): the style's statistics; None for an unconditional D.
        y = style_vector(s_stats, enc.style_taps) if cfg.style_conditioned_d else None

        # 1. G(c, s)
        with self._autocast():
            fake = G(c_feats, s_stats, size).float()

        # 2. D step: real paintings vs detached stylized images
        with self._autocast():
            real_in = s.detach().requires_grad_(cfg.w_r1 > 0)
            d_real = D(diff_augment(real_in, self.rng, cfg.augment), y)
            d_fake = D(diff_augment(fake.detach(), self.rng, cfg.augment), y)
            loss_d = self.d_adv(d_real, d_fake)
            if cfg.w_r1 > 0:
                loss_d = loss_d + cfg.w_r1 / 2 * losses.r1_penalty(d_real, real_in)
        self.opt_D.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_D.step()

        # 3. G step with D frozen
        set_requires_grad(D, False)
        with self._autocast():
            f_feats = enc(fake, self.all_taps)
            loss_adv = self.g_adv(D(diff_augment(fake, self.rng, cfg.augment), y))
            loss_content = losses.content_loss(f_feats, c_feats, self.content_taps)
            loss_style = losses.style_loss(f_feats, s_stats.mean, s_stats.std, enc.style_taps)
            loss_g = cfg.w_adv * loss_adv + cfg.w_content * loss_content + cfg.w_style * loss_style
            loss_color = torch.zeros(())
            if cfg.w_color > 0:
                loss_color = losses.color_loss(fake, s, self.rng)
                loss_g = loss_g + cfg.w_color * loss_color
            loss_id = torch.zeros(())
            if cfg.w_identity > 0:
                # On a quarter of the batch: a reconstruction signal at a quarter of the cost.
                k = max(1, cfg.batch_size // 4)
                c_k = {t: f[:k] for t, f in c_feats.items()}
                loss_id = losses.identity_loss(G(c_k, StyleStats.of(c_k), size).float(), c[:k])
                loss_g = loss_g + cfg.w_identity * loss_id
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_G.step()
        set_requires_grad(D, True)

        # G_ema <- beta * G_ema + (1 - beta) * G
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), G.parameters(), strict=True):
                p_ema.lerp_(p, 1 - cfg.ema_decay)

        self.step_count += 1
        record = {
            "d": loss_d.item(),
            "g": loss_g.item(),
            "g_adv": loss_adv.item(),
            "content": loss_content.item(),
            "style": loss_style.item(),
            "color": loss_color.item(),
            "identity": loss_id.item(),
        }
        self.history.append(record)
        check_losses(record, self.step_count)
        return record

    @torch.no_grad()
    def validate(self) -> torch.Tensor:
        """Stylize the fixed validation pairs with G_ema; stop on collapse or inversion.

        Returns the preview: (2, N, 3, S, S), photos then results.
        """
        c = self.val_content.to(self.device)
        s = self.val_style.to(self.device)
        size = (c.shape[-2], c.shape[-1])
        with self._autocast():
            c_feats = self.encoder(c, self.fuse_taps)
            s_stats = StyleStats.of(self.encoder(s[:1], self.fuse_taps))
            out = self.G_ema(c_feats, s_stats, size).float()
            raw = self.G(c_feats, s_stats, size).float()
        if self.base_steps > 0 or self.step_count >= self.config.guard_warmup:
            check_outputs(c.float(), raw, self.step_count)
        return torch.stack([c.float().cpu(), out.cpu()])

    # -- checkpoints -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step_count,
            "config": self.config.to_dict(),
            "G": self.G.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "rng": self.rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": [list(h.items()) for h in self.history],
        }

    def save_checkpoint(self, path: str | Path) -> None:
        state = self.state_dict()
        atomic_write(path, lambda tmp: torch.save(state, tmp))

    def load_checkpoint(self, path: str | Path) -> None:
        # weights_only: a checkpoint is tensors and plain values, never code.
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.G.load_state_dict(state["G"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        # The learning rates are this run's (a recipe's later stage may lower them).
        for opt, lr in ((self.opt_G, self.config.lr_g), (self.opt_D, self.config.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr
        self.rng.set_state(state["rng"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        self.step_count = int(state["step"])
        self.history = [dict(h) for h in state["history"]]

    def save_model(self, path: str | Path, **info: Any) -> None:
        recent = self.history[-50:]
        mean_losses = (
            {k: sum(h.get(k, 0.0) for h in recent) / len(recent) for k in recent[-1]}
            if recent
            else {}
        )
        save_model(
            path,
            self.G_ema,
            self.encoder,
            steps=self.base_steps + self.step_count,
            train_config=self.config.to_dict(),
            losses=mean_losses,
            data={
                "content": _digest_paths(self.content.paths),
                "style": _digest_paths(self.style.paths),
            },
            **info,
        )


def _digest_paths(paths: list[Path]) -> str:
    import hashlib

    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return "sha256:" + h.hexdigest()[:16]


def train(
    config: TrainConfig,
    content_dir: str | Path,
    style_dir: str | Path,
    out: str | Path,
    *,
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    init_model: str | Path | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    preview: Callable[[int, torch.Tensor], None] | None = None,
    model_info: dict[str, Any] | None = None,
) -> Trainer:
    """Train for `config.steps` steps (counting a resumed checkpoint's), checkpointing every
    `checkpoint_every` steps to `checkpoint`, and write the EMA generator to `out`.

    Every `validate_every` steps the guard rails run (raising TrainingDiverged) and `preview`
    receives (step, validation photos and results). `progress` may raise to stop the run; the
    last checkpoint stays.
    """
    trainer = Trainer(config, content_dir, style_dir, init_model=init_model)
    if resume is not None:
        trainer.load_checkpoint(resume)
    checkpoint = checkpoint or Path(str(out) + ".ckpt")
    start_step, start = trainer.step_count, time.perf_counter()
    saved = start_step
    while trainer.step_count < config.steps:
        record = trainer.step()
        if trainer.step_count % config.validate_every == 0 or trainer.step_count == config.steps:
            images = trainer.validate()
            if preview is not None:
                preview(trainer.step_count, images)
        if trainer.step_count % config.checkpoint_every == 0 or trainer.step_count == config.steps:
            trainer.save_checkpoint(checkpoint)
            saved = trainer.step_count
        if progress is not None:
            done = trainer.step_count - start_step
            elapsed = time.perf_counter() - start
            rate = done / elapsed if elapsed > 0 else 0.0
            progress(
                TrainProgress(
                    trainer.step_count,
                    config.steps,
                    record,
                    rate * config.batch_size,
                    (config.steps - trainer.step_count) / rate if rate else 0.0,
                    checkpoint_step=saved,
                    resumed_from=start_step,
                )
            )
    trainer.save_model(out, **(model_info or {}))
    return trainer
