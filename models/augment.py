"""Data sampling and differentiable augmentation, all drawn from one explicit torch.Generator so a
resumed run draws exactly what an uninterrupted one would."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from models.images import list_images, load_image, resize_max_side, to_tensor


class ImagePool:
    """A folder of images held in memory (uint8), sampled as random resized crops with flips."""

    def __init__(self, folder: str | Path, image_size: int, max_side: int | None = None) -> None:
        self.paths = list_images(folder)
        self.image_size = image_size
        limit = max_side or image_size * 2
        self.images = []
        for p in self.paths:
            image = load_image(p)
            # Shorter side to at most `limit`: crops then cover a painting-scale neighbourhood.
            scale = limit / min(image.size)
            if scale < 1:
                image = resize_max_side(image, round(max(image.size) * scale))
            self.images.append((to_tensor(image)[0] * 255).round().byte())

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, batch: int, rng: torch.Generator) -> torch.Tensor:
        """(batch, 3, S, S) in [0, 1]: crops of 50-100% of the shorter side, resized, flipped."""
        out = []
        for _ in range(batch):
            image = self.images[int(torch.randint(len(self.images), (1,), generator=rng))]
            _, h, w = image.shape
            frac = 0.5 + 0.5 * float(torch.rand((), generator=rng))
            side = max(1, round(min(h, w) * frac))
            y = int(torch.randint(h - side + 1, (1,), generator=rng))
            x = int(torch.randint(w - side + 1, (1,), generator=rng))
            crop = image[:, y : y + side, x : x + side].float().div(255)[None]
            crop = F.interpolate(
                crop,
                size=(self.image_size, self.image_size),
                mode="bilinear",
                antialias=side > self.image_size,
                align_corners=False,
            )
            if float(torch.rand((), generator=rng)) < 0.5:
                crop = crop.flip(-1)
            out.append(crop)
        return torch.cat(out).clamp(0, 1)


def diff_augment(
    x: torch.Tensor, rng: torch.Generator, policy: str = "color,translation,cutout"
) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020): the same random, differentiable transforms on real and fake
    images before D, so a style set of a few dozen paintings does not let D memorise them."""
    if not policy:
        return x
    n = x.shape[0]

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=rng).to(x.device, x.dtype)

    for op in policy.split(","):
        if op == "color":
            x = x + (rand(n, 1, 1, 1) - 0.5)  # brightness
            mean = x.mean(dim=1, keepdim=True)
            x = (x - mean) * (rand(n, 1, 1, 1) * 2) + mean  # saturation
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * (rand(n, 1, 1, 1) + 0.5) + mean  # contrast
        elif op == "translation":
            h, w = x.shape[-2:]
            dy = ((rand(n) - 0.5) * h / 4).round().long()
            dx = ((rand(n) - 0.5) * w / 4).round().long()
            ys = (torch.arange(h, device=x.device)[None, :] - dy[:, None]).clamp(0, h - 1)
            xs = (torch.arange(w, device=x.device)[None, :] - dx[:, None]).clamp(0, w - 1)
            x = x[
                torch.arange(n, device=x.device)[:, None, None], :, ys[:, :, None], xs[:, None, :]
            ]
            x = x.permute(0, 3, 1, 2)
        elif op == "cutout":
            h, w = x.shape[-2:]
            ch, cw = h // 2, w // 2
            cy = (rand(n) * (h - ch + 1)).long()
            cx = (rand(n) * (w - cw + 1)).long()
            yy = torch.arange(h, device=x.device)[None, :, None]
            xx = torch.arange(w, device=x.device)[None, None, :]
            inside = (
                (yy >= cy[:, None, None])
                & (yy < cy[:, None, None] + ch)
                & (xx >= cx[:, None, None])
                & (xx < cx[:, None, None] + cw)
            )
            x = x * (~inside)[:, None].to(x.dtype)
        else:
            raise ValueError(f"unknown augmentation {op!r}")
    return x
