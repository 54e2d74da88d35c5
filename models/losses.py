"""Loss terms of the GAN, one function per term of the paper's objective.

    L_G = w_adv L_adv^G + w_content L_content + w_style L_style + w_sliced L_sliced
          + w_local L_local + w_color L_color + w_identity L_identity
    L_D = L_adv^D (+ w_r1 R1)

Feature dicts map encoder tap names to (N, C, H, W) tensors.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from models.color import rgb_to_lab

Features = Mapping[str, torch.Tensor]
EPS = 1e-5


def mean_std(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over space: (N, C, H, W) -> two (N, C, 1, 1)."""
    var, mean = torch.var_mean(x.float(), dim=(2, 3), keepdim=True, correction=0)  # one pass
    return mean, (var + EPS).sqrt()


def normalize(x: torch.Tensor) -> torch.Tensor:
    mean, std = mean_std(x)
    return (x - mean) / std


def gram(x: torch.Tensor) -> torch.Tensor:
    """Gram matrix (N, C, C), normalised by C*H*W as in Gatys et al."""
    n, c, h, w = x.shape
    f = x.float().reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def content_loss(fake: Features, content: Features, taps: tuple[str, ...]) -> torch.Tensor:
    # sum_l || norm(F_l(G(c, s))) - norm(F_l(c)) ||^2. The design note's MSE of encoder features,
    # on mean/std-normalised features: the structure must survive, its first and second moments
    # are the style's to change (AdaAttN, SANet do the same).
    return sum(
        (F.mse_loss(normalize(fake[t]), normalize(content[t])) for t in taps), torch.zeros(())
    )


def style_loss(
    fake: Features, style_mean: Features, style_std: Features, taps: tuple[str, ...]
) -> torch.Tensor:
    # sum_l || mu(F_l(G)) - mu_l(s) ||^2 + || sigma(F_l(G)) - sigma_l(s) ||^2 (Huang and Belongie)
    total = torch.zeros(())
    for t in taps:
        mean, std = mean_std(fake[t])
        total = total + F.mse_loss(mean, style_mean[t]) + F.mse_loss(std, style_std[t])
    return total


# At most this many random directions per tap for the sliced loss: a fresh subset each step is
# an unbiased estimate, and the 672-channel tap would otherwise cost 672 x 672 per position.
SLICED_DIRECTIONS = 128


def sliced_style_loss(
    fake: Features,
    style: Features,
    taps: tuple[str, ...],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    # sum_l E_v || sort(v . F_l(G)) - sort(v . F_l(s)) ||^2, v random unit directions (Heitz et
    # al. 2021): the whole distribution of the feature vectors, where style_loss matches two
    # moments per channel. Strokes, tiles and hard colour blocks differ from a blur of the same
    # mean and std in exactly what it adds: which features occur together, and how often.
    total = torch.zeros(())
    for t in taps:
        a, b = fake[t].float().flatten(2), style[t].float().flatten(2)  # (N, C, P)
        c = a.shape[1]
        dirs = torch.randn(min(c, SLICED_DIRECTIONS), c, generator=generator).to(a.device)
        dirs = dirs / dirs.norm(dim=1, keepdim=True)
        qa = torch.einsum("kc,ncp->nkp", dirs, a).sort(dim=-1).values
        qb = torch.einsum("kc,ncp->nkp", dirs, b).sort(dim=-1).values
        if qb.shape[-1] != qa.shape[-1]:
            qb = _quantiles(qb, qa.shape[-1])
        total = total + F.mse_loss(qa, qb)
    return total


def local_style_loss(
    fake: Features, style: Features, taps: tuple[str, ...], patch: int = 4
) -> torch.Tensor:
    # sum_l || sort_p mu_p(F_l(G)) - sort_p mu_p(F_l(s)) ||^2 + (the same for sigma_p), per
    # channel, p over patch x patch windows of the tap: how the painting's marks are spread over
    # the picture (busy strokes here, flat fields there), which global statistics average away.
    total = torch.zeros(())
    for t in taps:
        a, b = fake[t].float(), style[t].float()
        if min(a.shape[-2:]) < 2 * patch or min(b.shape[-2:]) < 2 * patch:
            continue  # too few patches at this depth to make a distribution
        for qa, qb in zip(_patch_stats(a, patch), _patch_stats(b, patch), strict=True):
            qa, qb = qa.sort(dim=-1).values, qb.sort(dim=-1).values
            if qb.shape[-1] != qa.shape[-1]:
                qb = _quantiles(qb, qa.shape[-1])
            total = total + F.mse_loss(qa, qb)
    return total


def _patch_stats(x: torch.Tensor, patch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, H, W) -> the mean and std of each patch x patch window, each (N, C, P)."""
    mean = F.avg_pool2d(x, patch)
    var = (F.avg_pool2d(x * x, patch) - mean * mean).clamp_min(0)
    return mean.flatten(2), (var + EPS).sqrt().flatten(2)


def gram_style_loss(fake: Features, style_gram: Features, taps: tuple[str, ...]) -> torch.Tensor:
    # sum_l || G_l(x) - G_l(s) ||^2 (Gatys et al.), used by the optimisation method.
    return sum((F.mse_loss(gram(fake[t]), style_gram[t]) for t in taps), torch.zeros(()))


def sliced_wasserstein(
    a: torch.Tensor,
    b: torch.Tensor,
    projections: int = 32,
    samples: int | None = 4096,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sliced Wasserstein-1 distance between the pixel distributions of a and b, per image.

    a, b: (N, C, H, W) (any sizes); returns (N,). Pixels are projected on `projections` random
    unit directions, sorted and compared. With `samples`, each image's pixels are first drawn
    at random (a cheap, noisy estimate for training); with None, all pixels are sorted and
    compared at 1024 evenly spaced quantiles (a deterministic figure for evaluation).
    """
    c = a.shape[1]
    pa, pb = a.flatten(2), b.flatten(2)  # (N, C, P)
    if samples is not None:
        pa = pa[..., torch.randint(pa.shape[-1], (samples,), generator=generator).to(a.device)]
        pb = pb[..., torch.randint(pb.shape[-1], (samples,), generator=generator).to(b.device)]
    dirs = torch.randn(projections, c, generator=generator).to(a.device)
    dirs = dirs / dirs.norm(dim=1, keepdim=True)
    qa = torch.einsum("kc,ncp->nkp", dirs, pa).sort(dim=-1).values
    qb = torch.einsum("kc,ncp->nkp", dirs, pb).sort(dim=-1).values
    if samples is None:
        qa, qb = (_quantiles(q, 1024) for q in (qa, qb))
    return (qa - qb).abs().mean(dim=(1, 2))


def _quantiles(sorted_values: torch.Tensor, n: int) -> torch.Tensor:
    """n evenly spaced quantiles along the last axis of sorted values (linear interpolation)."""
    pos = torch.linspace(0, sorted_values.shape[-1] - 1, n, device=sorted_values.device)
    lo = pos.floor().long()
    hi = (lo + 1).clamp_max(sorted_values.shape[-1] - 1)
    frac = pos - lo
    return sorted_values[..., lo] * (1 - frac) + sorted_values[..., hi] * frac


def color_loss(
    fake: torch.Tensor, style: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    # SW_1(Lab(G(c, s)), Lab(s)) / 100: the output's palette is the painting's palette. AdaIN's
    # channel statistics match colour only to second order; this matches the whole distribution.
    return sliced_wasserstein(rgb_to_lab(fake), rgb_to_lab(style), generator=generator).mean() / 100


def temporal_loss(
    moved_result: torch.Tensor, result_moved: torch.Tensor, inside: torch.Tensor
) -> torch.Tensor:
    """G(W(x) + n) against W(G(x)) (models.motion): the mean squared difference per channel
    over the pixels the motion keeps inside the frame."""
    squared = (moved_result - result_moved).pow(2) * inside.to(moved_result.device)
    return squared.sum() / (inside.sum() * moved_result.shape[1]).clamp_min(1)


def identity_loss(reconstruction: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    # || G(c, c) - c ||_1: with style = content the generator must give the photo back.
    return F.l1_loss(reconstruction, content)


def teacher_loss(result: torch.Tensor, teacher_result: torch.Tensor) -> torch.Tensor:
    # || G(c, s) - T(c, s) ||_1: a student generator paints what a trained teacher paints
    # (knowledge distillation, Hinton et al. 2015, on the output image as in Li et al. 2020).
    return F.l1_loss(result, teacher_result)


def teacher_feature_loss(
    result: Features, teacher_result: Features, taps: tuple[str, ...]
) -> torch.Tensor:
    # The teacher's result in the place of both the photo and the painting: its structure
    # (content_loss) and its marks' feature statistics (style_loss) at each tap. Why, beside the
    # pixels' L1: L1 alone is met by the mean of the marks a student cannot place exactly, a
    # blur; at step 1,600 of recipes/subpixel.toml's L1-only stage the student's style score on
    # 50 val pairs was 10.25 against its teacher's 6.28.
    stats = {t: mean_std(teacher_result[t]) for t in taps}
    means = {t: m for t, (m, _) in stats.items()}
    stds = {t: s for t, (_, s) in stats.items()}
    return content_loss(result, teacher_result, taps) + style_loss(result, means, stds, taps)


# Adversarial losses. `real` and `fake` are lists of patch logits, one per discriminator scale.


def d_hinge(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    # E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(c, s)))]
    return sum(
        (F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real, fake, strict=True)),
        torch.zeros(()),
    )


def g_hinge(fake: list[torch.Tensor]) -> torch.Tensor:
    # -E[D(G(c, s))]
    return sum((-f.mean() for f in fake), torch.zeros(()))


def d_bce(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    # -log(sigmoid(D(x))) - log(1 - sigmoid(D(G))): the design note's cross-entropy form
    return sum(
        (F.softplus(-r).mean() + F.softplus(f).mean() for r, f in zip(real, fake, strict=True)),
        torch.zeros(()),
    )


def g_bce(fake: list[torch.Tensor]) -> torch.Tensor:
    # -log(sigmoid(D(G))): the non-saturating generator form of the design note's loss
    return sum((F.softplus(-f).mean() for f in fake), torch.zeros(()))


def d_lsgan(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    # (D(x) - 1)^2 + D(G)^2 (Mao et al.)
    return sum(
        (((r - 1) ** 2).mean() + (f**2).mean() for r, f in zip(real, fake, strict=True)),
        torch.zeros(()),
    )


def g_lsgan(fake: list[torch.Tensor]) -> torch.Tensor:
    # (D(G) - 1)^2
    return sum((((f - 1) ** 2).mean() for f in fake), torch.zeros(()))


ADVERSARIAL = {"hinge": (d_hinge, g_hinge), "bce": (d_bce, g_bce), "lsgan": (d_lsgan, g_lsgan)}


def r1_penalty(real_logits: list[torch.Tensor], real_images: torch.Tensor) -> torch.Tensor:
    # E[ ||grad_x D(x)||^2 ] on real images (Mescheder et al. 2018)
    total = torch.stack([r.sum() for r in real_logits]).sum()
    (grad,) = torch.autograd.grad(total, real_images, create_graph=True)
    return grad.pow(2).reshape(grad.shape[0], -1).sum(1).mean()
