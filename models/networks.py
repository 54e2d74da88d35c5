"""The GAN's trainable networks.

Code (paper): ``Generator`` (G), ``MultiScaleDiscriminator`` (D), the frozen encoder (F, in
encoders.py), ``adain`` (AdaIN, Huang and Belongie 2017). G(c, s) = Dec(AdaIN(F(c), F(s))): the
content's encoder features take the style's per-channel mean and std at several depths, and a
decoder with skip connections turns them back into an image. G never sees style pixels, only
style statistics, so a saved style costs no encoder pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.encoders import Tap
from models.losses import mean_std


@dataclass
class GeneratorConfig:
    """Architecture hyper-parameters; stored in every model file and rebuilt from it."""

    # Encoder taps to fuse, deepest first; the decoder starts at the first one's stride.
    fuse_taps: tuple[str, ...] = ("s16x", "s8x", "s4", "s2")
    # Decoder width at each fused stride (same order).
    widths: tuple[int, ...] = (128, 64, 32, 16)
    # Width of a refinement stage at full resolution (0: none, the stride-2 map is upsampled
    # straight to RGB). Two 3x3 convolutions at stride 1 let the decoder draw edges and strokes
    # finer than two pixels; without them every 2x2 block shares one feature vector.
    refine_width: int = 0
    # How far inference moves the output's Lab histograms to the painting's palette (0: not at
    # all, 1: exactly; models.color.match_palette). Not learned: set when a model is shipped.
    palette_match: float = 0.0
    # Which generator the weights belong to (contracts.modelfile.ARCHITECTURES): "adain-skip",
    # this module's Generator, or "modulated", models.modulated's, whose style also steers the
    # decoder's convolutions. Files written before the field existed are "adain-skip".
    architecture: str = "adain-skip"
    # "modulated" only: width of the style code the decoder's modulations are read from.
    code_dim: int = 32
    # "modulated" only: how the stride-2 map becomes RGB. "refine": upsampled, then the
    # full-resolution refinement (refine_width) and a 3x3 projection; "subpixel": two 3x3
    # convolutions at stride 2 (subpixel_width wide) give each 2x2 output block its pixels
    # (models/subpixel.py), a third of the graph's time at 1024 px saved.
    head: str = "refine"
    subpixel_width: int = 32
    # "modulated" only: how each stride's decoder meets the coarser map. "concat" (the first
    # generator's): the upsampled map beside the entry's, read by a 3x3 convolution over both;
    # "sum": the coarser map projected (1x1, at its own stride) to this stride's width and added
    # to the entry's, as a feature pyramid's top-down path does (Lin et al. 2017), so that every
    # 3x3 convolution is width -> width (models/slimming.py).
    merge: str = "concat"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> GeneratorConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})  # type: ignore[arg-type]


@dataclass
class DiscriminatorConfig:
    scales: int = 3
    base_width: int = 32
    layers: int = 3
    # Length of the style vector D is conditioned on (projection discriminator, Miyato and
    # Koyama 2018); 0: unconditional. Conditioned, D judges "a painting with these statistics"
    # rather than "any painting", so it cannot pull every output toward the corpus's average.
    condition_dim: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def style_vector(stats: StyleStats, taps: tuple[str, ...]) -> torch.Tensor:
    """(N, D): the style's channel means and stds at `taps`, flattened: D's condition."""
    parts = [torch.cat([stats.mean[t], stats.std[t]], dim=1).flatten(1) for t in taps]
    return torch.cat(parts, dim=1)


@dataclass
class StyleStats:
    """Per-tap channel mean and std (each (N, C, 1, 1)) of one style, or of a blend of styles,
    and the painting's palette ((N, 3, K) Lab quantiles, models.color.palette) when known."""

    mean: dict[str, torch.Tensor] = field(default_factory=dict)
    std: dict[str, torch.Tensor] = field(default_factory=dict)
    palette: torch.Tensor | None = None

    @classmethod
    def of(
        cls, features: dict[str, torch.Tensor], palette: torch.Tensor | None = None
    ) -> StyleStats:
        stats = cls(palette=palette)
        for t, f in features.items():
            stats.mean[t], stats.std[t] = mean_std(f)
        return stats

    @classmethod
    def blend(cls, styles: list[StyleStats], weights: list[float]) -> StyleStats:
        """Weighted average of statistics: AdaIN's style interpolation."""
        total = sum(weights)
        out = cls()
        for t in styles[0].mean:
            out.mean[t] = sum(w / total * s.mean[t] for s, w in zip(styles, weights, strict=True))  # type: ignore[assignment]
            out.std[t] = sum(w / total * s.std[t] for s, w in zip(styles, weights, strict=True))  # type: ignore[assignment]
        palettes = [s.palette for s in styles]
        if all(p is not None for p in palettes):
            # Averaged quantiles: the 1-D Wasserstein barycentre of the palettes, channel by channel.
            out.palette = torch.stack(
                [w / total * p for p, w in zip(palettes, weights, strict=True) if p is not None]
            ).sum(0)
        return out

    def to(self, device: torch.device | str) -> StyleStats:
        return StyleStats(
            {t: v.to(device) for t, v in self.mean.items()},
            {t: v.to(device) for t, v in self.std.items()},
            None if self.palette is None else self.palette.to(device),
        )

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """Flat dict for safetensors: saved styles are stored as these statistics."""
        return {
            **{f"mean.{t}": v for t, v in self.mean.items()},
            **{f"std.{t}": v for t, v in self.std.items()},
            **({"palette": self.palette} if self.palette is not None else {}),
        }

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> StyleStats:
        out = cls(palette=tensors.get("palette"))
        for k, v in tensors.items():
            if k == "palette":
                continue
            kind, tap = k.split(".", 1)
            (out.mean if kind == "mean" else out.std)[tap] = v
        return out


def adain(
    content: torch.Tensor,
    style_mean: torch.Tensor,
    style_std: torch.Tensor,
    content_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    # AdaIN(x, s) = sigma(s) * (x - mu(x)) / sigma(x) + mu(s)
    mean, std = content_stats if content_stats is not None else mean_std(content)
    return ((content - mean) / std * style_std + style_mean).to(content.dtype)


class ConvBlock(nn.Sequential):
    """Reflection-padded 3x3 convolution + ReLU: no zero-padding borders."""

    def __init__(self, c_in: int, c_out: int, relu: bool = True) -> None:
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Generator(nn.Module):
    """Decoder of fused (AdaIN) encoder features; the encoder itself is frozen and external."""

    def __init__(self, config: GeneratorConfig, taps: dict[str, Tap]) -> None:
        super().__init__()
        self.config = config
        fused = [taps[t] for t in config.fuse_taps]
        assert len(config.widths) == len(fused), "one decoder width per fused tap"
        strides = [t.stride for t in fused]
        assert strides == sorted(strides, reverse=True), "fuse taps must go from deep to shallow"
        self.taps = fused
        self.entry = nn.ModuleList()  # 1x1 projection of each fused tap to the decoder width
        self.body = nn.ModuleList()  # 3x3 refinement at each stride after merging
        prev = 0
        for tap, width in zip(fused, config.widths, strict=True):
            self.entry.append(nn.Conv2d(tap.channels, width, 1))
            self.body.append(nn.Sequential(ConvBlock(width + prev, width), ConvBlock(width, width)))
            prev = width
        self.last_stride = fused[-1].stride
        self.refine = (
            nn.Sequential(
                ConvBlock(prev, config.refine_width),
                ConvBlock(config.refine_width, config.refine_width),
            )
            if config.refine_width
            else nn.Identity()
        )
        self.to_rgb: nn.Module = ConvBlock(config.refine_width or prev, 3, relu=False)

    def fuse(
        self,
        content: dict[str, torch.Tensor],
        style: StyleStats,
        strength: float = 1.0,
        content_stats: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> dict[str, torch.Tensor]:
        """t = a * AdaIN(F(c), s) + (1 - a) * F(c) at every fused tap; a = 0 reconstructs c."""
        out = {}
        for tap in self.taps:
            c = content[tap.name]
            stats = content_stats.get(tap.name) if content_stats else None
            t = adain(c, style.mean[tap.name], style.std[tap.name], stats)
            out[tap.name] = t if strength == 1.0 else strength * t + (1 - strength) * c
        return out

    def decode(
        self, fused: dict[str, torch.Tensor], size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """Fused features -> image (N, 3, H, W) in [0, 1] of the given (H, W); None: the
        shallowest tap's size times its stride (a scale factor, which an exported graph keeps
        dynamic where a size read off a shape would be frozen at the traced one)."""
        h: torch.Tensor | None = None
        for tap, entry, body in zip(self.taps, self.entry, self.body, strict=True):
            x = entry(fused[tap.name])  # (N, width, H/stride, W/stride)
            if h is not None:
                # Nearest upsample + convolution, never transposed convolution (checkerboards).
                h = F.interpolate(h, size=x.shape[-2:], mode="nearest")
                x = torch.cat([x, h], dim=1)
            h = body(x)
        assert h is not None
        if size is None:
            h = F.interpolate(h, scale_factor=float(self.last_stride), mode="nearest")
        else:
            h = F.interpolate(h, size=size, mode="nearest")
        h = self.refine(h)  # (N, width, H, W)
        return torch.sigmoid(self.to_rgb(h))

    def render(
        self,
        features: dict[str, torch.Tensor],
        style: StyleStats,
        strength: torch.Tensor | float,
        content_stats: dict[str, tuple[torch.Tensor, torch.Tensor]],
        size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """Everything after the encoder, given the content's per-tap (mean, std): the part an
        inference backend exports as one graph (models.backends). The statistics come from
        outside so that a tiled photo shares the whole photo's; no branch on tensor values, so
        the graph traces with any height and width."""
        return self.decode(self.blend(features, style, strength, content_stats), size)

    def blend(
        self,
        features: dict[str, torch.Tensor],
        style: StyleStats,
        strength: torch.Tensor | float,
        content_stats: dict[str, tuple[torch.Tensor, torch.Tensor]],
    ) -> dict[str, torch.Tensor]:
        """t = a * AdaIN(F(c), s) + (1 - a) * F(c) at every fused tap, given the content's
        statistics: `fuse` for the render seam, with no branch on the strength's value."""
        out = {}
        for tap in self.taps:
            c = features[tap.name]
            t = adain(c, style.mean[tap.name], style.std[tap.name], content_stats[tap.name])
            out[tap.name] = strength * t + (1 - strength) * c
        return out

    def forward(
        self,
        content: dict[str, torch.Tensor],
        style: StyleStats,
        size: tuple[int, int],
        strength: float = 1.0,
    ) -> torch.Tensor:
        return self.decode(self.fuse(content, style, strength), size)


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al.) with spectral normalisation on every convolution; with a
    condition, each patch's logit gains <phi(x), W y> (the projection discriminator)."""

    def __init__(self, base_width: int, layers: int, condition_dim: int = 0) -> None:
        super().__init__()
        mods: list[nn.Module] = [
            spectral_norm(nn.Conv2d(3, base_width, 4, 2, 1)),
            nn.LeakyReLU(0.2),
        ]
        width = base_width
        for i in range(1, layers):
            nxt = min(base_width * 2**i, 512)
            mods += [
                spectral_norm(nn.Conv2d(width, nxt, 4, 2 if i < layers - 1 else 1, 1)),
                nn.LeakyReLU(0.2),
            ]
            width = nxt
        self.features = nn.Sequential(*mods)
        self.head = spectral_norm(nn.Conv2d(width, 1, 4, 1, 1))
        self.embed = spectral_norm(nn.Linear(condition_dim, width)) if condition_dim else None

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)  # (N, width, h, w)
        logits = self.head(h)  # (N, 1, h - 1, w - 1): 4x4 kernel, stride 1, padding 1
        if self.embed is not None:
            if condition is None:
                raise ValueError("this discriminator is conditioned on a style vector")
            inner = (h * self.embed(condition)[:, :, None, None]).sum(1, keepdim=True)
            logits = logits + F.avg_pool2d(inner, 2, stride=1)  # to the head's (h - 1, w - 1)
        return logits


class MultiScaleDiscriminator(nn.Module):
    """PatchGANs on the image at full, 1/2 and 1/4 scale (pix2pixHD): coarse scales judge
    composition and colour, fine scales judge brush strokes."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        self.scales = nn.ModuleList(
            PatchDiscriminator(config.base_width, config.layers, config.condition_dim)
            for _ in range(config.scales)
        )
        self.min_side = 2 ** (config.layers + 1)

    def forward(
        self, image: torch.Tensor, condition: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        # (N, 3, H, W) in [0, 1] (+ (N, condition_dim)) -> list of (N, 1, h_k, w_k) patch logits
        x = image * 2 - 1
        out = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            if i and min(x.shape[-2:]) < self.min_side:
                break  # too small for this PatchGAN's receptive field: coarser scales add nothing
            out.append(d(x, condition))
        return out


def build_generator(config: GeneratorConfig, taps: tuple[Tap, ...]) -> Generator:
    """The generator `config.architecture` names; ValueError for an unknown name."""
    by_name = {t.name: t for t in taps}
    if config.head not in ("refine", "subpixel"):
        raise ValueError(f"unknown generator head {config.head!r}: refine or subpixel")
    if config.merge not in ("concat", "sum"):
        raise ValueError(f"unknown merge {config.merge!r}: concat or sum")
    if config.architecture == "adain-skip":
        if config.head != "refine" or config.merge != "concat":
            raise ValueError(
                "the sub-pixel head and the summed merge are the modulated generator's"
            )
        return Generator(config, by_name)
    if config.architecture == "modulated":
        from models.modulated import ModulatedGenerator  # it extends Generator: imported late

        return ModulatedGenerator(config, by_name)
    raise ValueError(f"unknown generator architecture {config.architecture!r}")
