"""Adversarial training of the style-transfer GAN.

Each step is the design note's algorithm box:
  1. G(c, s) stylizes a batch of content crops with a batch of style crops;
  2. D step: D learns to tell real paintings from the (detached) stylized images;
  3. G step, D frozen: G fools D while keeping the content's features and taking the style's
     feature statistics (+ identity: G(c, c) = c; + temporal: G of the photo moved as a camera
     moves = G's result moved, models/motion.py).
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models import losses
from models.augment import ImagePool, diff_augment
from models.checkpoint import load_checkpoint, save_checkpoint
from models.distill import Teacher
from models.encoders import build_encoder
from models.guards import check_losses, check_outputs
from models.modelfile import save_model
from models.motion import next_frame, random_motion
from models.networks import (
    MultiScaleDiscriminator,
    StyleStats,
    style_vector,
)
from models.starting_point import starting_generator
from models.stylizer import select_device
from models.train_config import TrainConfig


@dataclass
class TrainProgress:
    step: int
    total: int
    losses: dict[str, float]
    images_per_s: float
    eta_s: float
    checkpoint_step: int = 0  # the step of the last checkpoint written (or resumed from)
    resumed_from: int = 0  # the step this run resumed from (0: from the start)


# Steps of loss history a trainer keeps (and its checkpoint carries): the model file's losses are
# the mean of the last 50; a run of many hours must not grow its checkpoint step by step.
HISTORY_KEPT = 1000


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
        resume: str | Path | None = None,
    ) -> None:
        self.config = config
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        self.device = select_device(config.device)
        self.encoder = build_encoder(config.encoder, self.device)
        # Seed after building the encoder: it is cached per process, so building it may or may
        # not draw from the global RNG, and G's and D's initial weights must not depend on that.
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        np.random.seed(config.seed)
        self.rng = torch.Generator().manual_seed(config.seed)
        self.G, self.base_steps = starting_generator(config, self.encoder, init_model, resume)
        self.G.to(self.device).train()
        self.G_ema = copy.deepcopy(self.G).eval()
        set_requires_grad(self.G_ema, False)
        enc = self.encoder
        self.content_taps = tuple(config.content_taps or enc.content_taps)
        self.style_taps = tuple(config.style_taps or enc.style_taps)
        self.teacher = None
        if config.w_teacher > 0 or config.w_teacher_features > 0:
            if not config.teacher:
                raise ValueError("w_teacher and w_teacher_features need a teacher model file")
            self.teacher = Teacher(config.teacher, enc, self.device, self.style_taps)
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
        self.history: list[dict[str, float]] = []  # the last HISTORY_KEPT steps' losses
        self.recipe: dict[str, Any] | None = None  # the recipe's name and sha256, when one runs
        self.fuse_taps = tuple(self.G.config.fuse_taps)
        self.all_taps = tuple(
            dict.fromkeys(self.fuse_taps + enc.style_taps + self.style_taps + self.content_taps)
        )
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
            s_feats = {t: f.float() for t, f in enc(s, self.all_taps).items()}
            s_stats = StyleStats.of(s_feats)
        # D's condition y(s): the style's statistics; None for an unconditional D.
        y = style_vector(s_stats, enc.style_taps) if cfg.style_conditioned_d else None

        # 1. G(c, s)
        with self._autocast():
            fake = G(c_feats, s_stats, size).float()

        # 2. D step: real paintings vs detached stylized images (none while no term is
        #    adversarial: a distillation stage, below)
        loss_d = torch.zeros(())
        if cfg.w_adv > 0:
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
            loss_g = torch.zeros(())
            loss_adv = loss_content = loss_style = torch.zeros(())
            if cfg.w_adv > 0:
                loss_adv = self.g_adv(D(diff_augment(fake, self.rng, cfg.augment), y))
                loss_g = loss_g + cfg.w_adv * loss_adv
            # The encoder's view of the result, for the feature terms (none when all are off).
            feature_terms = (
                cfg.w_content,
                cfg.w_style,
                cfg.w_sliced,
                cfg.w_local,
                cfg.w_teacher_features,
            )
            f_feats = enc(fake, self.all_taps) if any(w > 0 for w in feature_terms) else {}
            loss_teacher = loss_teacher_features = torch.zeros(())
            if self.teacher is not None:
                loss_teacher, loss_teacher_features = self.teacher.terms(
                    fake, f_feats, c_feats, s_stats, size, features=cfg.w_teacher_features > 0
                )
                loss_g = loss_g + cfg.w_teacher * loss_teacher
                loss_g = loss_g + cfg.w_teacher_features * loss_teacher_features
            if cfg.w_content > 0:
                loss_content = losses.content_loss(f_feats, c_feats, self.content_taps)
                loss_g = loss_g + cfg.w_content * loss_content
            if cfg.w_style > 0:
                loss_style = losses.style_loss(f_feats, s_stats.mean, s_stats.std, self.style_taps)
                loss_g = loss_g + cfg.w_style * loss_style
            loss_sliced = torch.zeros(())
            if cfg.w_sliced > 0:
                loss_sliced = losses.sliced_style_loss(f_feats, s_feats, self.style_taps, self.rng)
                loss_g = loss_g + cfg.w_sliced * loss_sliced
            loss_local = torch.zeros(())
            if cfg.w_local > 0:
                loss_local = losses.local_style_loss(f_feats, s_feats, self.style_taps)
                loss_g = loss_g + cfg.w_local * loss_local
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
            loss_temporal = torch.zeros(())
            if cfg.w_temporal > 0:
                loss_temporal = self._temporal_loss(c, fake, s_feats, size)
                loss_g = loss_g + cfg.w_temporal * loss_temporal
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
            "sliced": loss_sliced.item(),
            "local": loss_local.item(),
            "color": loss_color.item(),
            "identity": loss_id.item(),
            "temporal": loss_temporal.item(),
            "teacher": loss_teacher.item(),
            "teacher_features": loss_teacher_features.item(),
        }
        self.history.append(record)
        del self.history[:-HISTORY_KEPT]
        check_losses(record, self.step_count)
        return record

    def _temporal_loss(
        self,
        c: torch.Tensor,
        fake: torch.Tensor,
        s_feats: dict[str, torch.Tensor],
        size: tuple[int, int],
    ) -> torch.Tensor:
        """On half the batch: each photo as the next frame of a clip shows it (moved, with a
        little noise), painted with the same style, against its result moved the same way."""
        k = max(1, self.config.batch_size // 2)
        motion = random_motion(k, *size, self.rng)
        moved = next_frame(c[:k], motion, self.rng)
        with torch.no_grad():
            moved_feats = {t: f.float() for t, f in self.encoder(moved, self.fuse_taps).items()}
        style = StyleStats.of({t: f[:k] for t, f in s_feats.items()})
        moved_result = self.G(moved_feats, style, size).float()
        return losses.temporal_loss(moved_result, motion.apply(fake[:k]), motion.inside)

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
            "base_steps": self.base_steps,
            "config": self.config.to_dict(),
            "recipe": self.recipe,
            "G": self.G.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "rng": self.rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": self.history,
        }

    def save_checkpoint(self, path: str | Path) -> None:
        save_checkpoint(path, self.state_dict())

    def load_checkpoint(self, path: str | Path) -> None:
        state = load_checkpoint(path)  # tensors only: a checkpoint is never code
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
        self.base_steps = int(state.get("base_steps", self.base_steps))
        self.history = state["history"]

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
    trainer = Trainer(config, content_dir, style_dir, init_model=init_model, resume=resume)
    trainer.recipe = (model_info or {}).get("recipe")
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
