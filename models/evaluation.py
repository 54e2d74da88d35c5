"""Model evaluation: content score, style score, KID, and a contact sheet.

- content score: mean-variance-normalised encoder feature distance to the photo (lower keeps
  more of the content);
- style score: distance of the encoder feature means and stds to the style's (lower carries
  more of the style);
- KID between stylized images and the style images (torchmetrics), with the frozen encoder's
  pooled features in place of Inception's: it works offline and needs no extra weights.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image, ImageDraw
from torch import nn
from torchmetrics.image.kid import KernelInceptionDistance

from models.encoders import EfficientNetLite0, Encoder
from models.images import resize_max_side, to_tensor
from models.inference import GANStylizer, OptimisationStylizer, Stylizer
from models.losses import content_loss, mean_std, style_loss


class PooledFeatures(nn.Module):
    """(N, 3, H, W) in [0, 1] -> (N, d) global features for KID: Lite0's 1280-d pooled head
    (Inception's pool3 counterpart); for other encoders, the means and stds of the style taps."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if isinstance(self.encoder, EfficientNetLite0):
            return self.encoder.pooled(x)
        feats = self.encoder(x, self.encoder.style_taps)
        parts = [torch.cat(mean_std(f), dim=1).flatten(1) for f in feats.values()]
        return torch.cat(parts, dim=1)


@dataclass
class MethodScores:
    content: float
    style: float
    kid: float
    kid_std: float
    seconds_per_image: float


@dataclass
class EvaluationReport:
    model: MethodScores
    reference: MethodScores | None
    sheet: Image.Image
    pairs: int
    notes: list[str] = field(default_factory=list)

    def scores(self) -> dict[str, float]:
        out = {f"{k}": v for k, v in vars(self.model).items()}
        if self.reference is not None:
            out.update({f"reference_{k}": v for k, v in vars(self.reference).items()})
        return out


def _square(image: Image.Image, size: int) -> Image.Image:
    """Centre crop to a square and resize: KID compares images of one size."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize(
        (size, size), Image.Resampling.BICUBIC
    )


@torch.no_grad()
def _scores(
    encoder: Encoder,
    contents: list[Image.Image],
    styles: list[Image.Image],
    results: list[tuple[int, int, Image.Image]],
    kid_size: int,
    seconds: float,
) -> MethodScores:
    c_total = s_total = 0.0
    for ci, si, result in results:
        out = encoder(to_tensor(result), encoder.style_taps + encoder.content_taps)
        ref_c = encoder(to_tensor(contents[ci]), encoder.content_taps)
        ref_s = encoder(to_tensor(styles[si]), encoder.style_taps)
        means = {t: mean_std(f)[0] for t, f in ref_s.items()}
        stds = {t: mean_std(f)[1] for t, f in ref_s.items()}
        c_total += float(content_loss(out, ref_c, encoder.content_taps))
        s_total += float(style_loss(out, means, stds, encoder.style_taps))
    n = len(results)
    real = torch.cat([to_tensor(_square(s, kid_size)) for s in styles])
    fake = torch.cat([to_tensor(_square(r, kid_size)) for _, _, r in results])
    kid = KernelInceptionDistance(
        feature=PooledFeatures(encoder), subsets=50, subset_size=min(len(real), len(fake))
    )
    kid.update(real, real=True)
    kid.update(fake, real=False)
    kid_mean, kid_std = kid.compute()
    return MethodScores(c_total / n, s_total / n, float(kid_mean), float(kid_std), seconds / n)


def contact_sheet(
    rows: list[list[Image.Image]], headers: Sequence[str], cell: int = 192
) -> Image.Image:
    """Rows of images (content, style, results...) as one labelled PNG-ready image."""
    pad, head = 6, 22
    cols = len(headers)
    sheet = Image.new(
        "RGB", (cols * (cell + pad) + pad, head + len(rows) * (cell + pad) + pad), "white"
    )
    draw = ImageDraw.Draw(sheet)
    for j, title in enumerate(headers):
        draw.text((pad + j * (cell + pad) + 4, 5), title, fill="black")
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            thumb = image.copy()
            thumb.thumbnail((cell, cell))
            x = pad + j * (cell + pad) + (cell - thumb.width) // 2
            y = head + pad + i * (cell + pad) + (cell - thumb.height) // 2
            sheet.paste(thumb, (x, y))
    return sheet


def evaluate(
    stylizer: Stylizer,
    contents: Sequence[Image.Image],
    styles: Sequence[Image.Image],
    *,
    image_size: int = 256,
    reference_steps: int = 150,
    kid_size: int = 128,
) -> EvaluationReport:
    """Stylize every content with every style; score the model and, if `reference_steps` > 0, the
    optimisation method on the same pairs; draw the contact sheet
    (rows = content x style; columns = content, style, model result[, optimisation result])."""
    contents = [resize_max_side(c, image_size) for c in contents]
    styles = [resize_max_side(s, image_size) for s in styles]
    if not contents or not styles:
        raise ValueError("evaluation needs at least one content and one style image")
    encoder: Encoder = stylizer.encoder  # type: ignore[attr-defined]
    pairs = [(ci, si) for ci in range(len(contents)) for si in range(len(styles))]

    def run(method: Stylizer) -> tuple[list[tuple[int, int, Image.Image]], float]:
        start = time.perf_counter()
        out = [(ci, si, method(contents[ci], [styles[si]])) for ci, si in pairs]
        return out, time.perf_counter() - start

    results, seconds = run(stylizer)
    model_scores = _scores(encoder, list(contents), list(styles), results, kid_size, seconds)
    reference = None
    ref_results: list[tuple[int, int, Image.Image]] = []
    if reference_steps > 0 and isinstance(stylizer, GANStylizer):
        ref = OptimisationStylizer(
            encoder, stylizer.device, steps=reference_steps, image_size=image_size
        )
        ref_results, ref_seconds = run(ref)
        reference = _scores(
            encoder, list(contents), list(styles), ref_results, kid_size, ref_seconds
        )
    headers = ["content", "style", f"{stylizer.method}"] + (
        ["optimisation (reference)"] if ref_results else []
    )
    rows = []
    for k, (ci, si) in enumerate(pairs):
        row = [contents[ci], styles[si], results[k][2]]
        if ref_results:
            row.append(ref_results[k][2])
        rows.append(row)
    notes = ["UNTRAINED encoder: scores are not quality figures"] if encoder.untrained else []
    return EvaluationReport(
        model_scores, reference, contact_sheet(rows, headers), len(pairs), notes
    )
