"""Export a model's encoder and generator to ONNX, on demand, and check the graphs against torch.

Nobody commits an exported graph: the product exports each model file (shipped or fine-tuned) the
first time a graph backend needs it, checks the graphs' output on a fixed probe image against
torch fp32, and hands the bytes to a cache (models.backends.cache), so every later start, and
every worker sharing the cache, skips the export. Two graphs, cached apart:

- the encoder: image (1, 3, H, W) -> per generator tap its features ``feat.<tap>`` and their
  channel statistics ``mean.<tap>`` and ``std.<tap>`` (1, C, 1, 1); the
  same for every model of one encoder and set of taps, so it is keyed by the encoder's weights
  (and exported once: it is most of the export's time, about 10 s on a 2-core CPU);
- the render graph: ``strength`` (scalar), ``feat.<tap>``, ``style_mean.<tap>``,
  ``style_std.<tap>``, ``content_mean.<tap>``, ``content_std.<tap>`` -> ``image``; keyed by the
  model file's sha256 (a few seconds for a fine-tuned model).

A photo stylized in one pass runs a third graph, `whole_graph`: the two joined in ONNX (not
exported again, so never cached), the encoder's outputs wired to the render graph's inputs.

H and W are dynamic (multiples of 16). The exporter is torch.export's (dynamo): the TorchScript
exporter froze the encoder's padding arithmetic at the traced size.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from models.encoders import Encoder
from models.losses import mean_std
from models.networks import Generator, StyleStats

log = logging.getLogger("atelier.backends")

# Bump when the graphs' inputs, outputs or export settings change: old cached graphs are ignored.
GRAPH_FORMAT = "atelier-graphs/2"
OPSET = 18
# The largest max-abs difference to torch fp32 (pixels in [0, 1]) a graph may show on the probe.
PARITY_TOLERANCE = 1e-3
# Largest side the graphs accept, in units of the encoder's deepest stride (16): 8192 px.
_MAX_BLOCKS = 512


class ExportRefusedError(RuntimeError):
    """The export failed, or its graphs disagree with torch: the caller runs on torch."""


def _exporter() -> str:
    return f"{GRAPH_FORMAT.replace('/', '-')}-torch{torch.__version__.split('+')[0]}"


def graph_key(model_sha256: str) -> str:
    """What a model file's render graph is cached under (the exporter's version included: a
    newer torch may export differently)."""
    return f"{model_sha256}-render-{_exporter()}"


def encoder_key(encoder: Encoder, taps: tuple[str, ...]) -> str:
    """What an encoder's graph is cached under: its weights' digest and the taps it gives."""
    digest = encoder.digest.replace(":", "-").replace("/", "-")
    return f"encoder-{encoder.name}-{digest}-{'+'.join(taps)}-{_exporter()}"


def encoder_output_names(taps: tuple[str, ...]) -> list[str]:
    """The encoder graph's outputs: each tap's features, then their channel means and stds
    (computed in the graph: torch's var_mean over the features cost more than the rest of the
    step between the graphs)."""
    return [f"{prefix}.{t}" for prefix in ("feat", "mean", "std") for t in taps]


def render_input_names(taps: tuple[str, ...]) -> list[str]:
    names = ["strength"]
    for prefix in ("feat", "style_mean", "style_std", "content_mean", "content_std"):
        names += [f"{prefix}.{t}" for t in taps]
    return names


def whole_input_names(taps: tuple[str, ...]) -> list[str]:
    return ["strength", "image"] + [f"{p}.{t}" for p in ("style_mean", "style_std") for t in taps]


class _EncoderGraph(nn.Module):
    def __init__(self, encoder: Encoder, taps: tuple[str, ...]) -> None:
        super().__init__()
        self.encoder, self.taps = encoder, taps

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.encoder(image, self.taps)
        stats = [mean_std(feats[t]) for t in self.taps]
        return (
            *(feats[t] for t in self.taps),
            *(m for m, _ in stats),
            *(s for _, s in stats),
        )


class _RenderGraph(nn.Module):
    def __init__(self, generator: Generator, taps: tuple[str, ...]) -> None:
        super().__init__()
        self.generator, self.taps = generator, taps

    def forward(self, strength: torch.Tensor, tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
        n = len(self.taps)
        part = [dict(zip(self.taps, tensors[i * n : (i + 1) * n], strict=True)) for i in range(5)]
        feats, style_mean, style_std, content_mean, content_std = part
        content_stats = {t: (content_mean[t], content_std[t]) for t in self.taps}
        style = StyleStats(style_mean, style_std)
        return self.generator.render(feats, style, strength, content_stats)


def render_inputs(
    taps: tuple[str, ...],
    features: dict[str, torch.Tensor],
    style: StyleStats,
    content_stats: dict[str, tuple[torch.Tensor, torch.Tensor]],
) -> list[torch.Tensor]:
    """The render graph's tensors after `strength`, in the order of `render_input_names`."""
    return (
        [features[t] for t in taps]
        + [style.mean[t] for t in taps]
        + [style.std[t] for t in taps]
        + [content_stats[t][0] for t in taps]
        + [content_stats[t][1] for t in taps]
    )


def probe_image(side: int = 160) -> torch.Tensor:
    """A fixed, seeded test picture: smooth gradients plus texture, (1, 3, side, side)."""
    g = torch.Generator().manual_seed(1234)
    ramp = torch.linspace(0, 1, side)
    base = torch.stack([ramp[None, :].expand(side, side), ramp[:, None].expand(side, side)])
    base = torch.cat([base, (base[0:1] + base[1:2]) / 2])
    return (0.7 * base + 0.3 * torch.rand(3, side, side, generator=g)).unsqueeze(0)


def _onnx_bytes(export: Callable[[], torch.onnx.ONNXProgram | None]) -> bytes:
    program = export()
    if program is None:
        raise ExportRefusedError("the exporter returned no program")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graph.onnx"
        program.save(str(path))  # weights inline: a graph of this size stays under 2 GB
        return path.read_bytes()


@dataclass
class ExportedGraphs:
    """Both graphs' ONNX bytes, and the taps that join them."""

    encoder: bytes
    render: bytes
    taps: tuple[str, ...]


def whole_graph(graphs: ExportedGraphs) -> bytes:
    """The encoder and render graphs joined into one: ``strength``, ``image``,
    ``style_mean.<tap>``, ``style_std.<tap>`` -> ``render.image``. Why a third graph: between
    two graphs every tap's features are copied out of the engine and back in, and each graph
    holds its own buffers; joined, the engine reuses the encoder's buffers for the decoder.
    Measured on OpenVINO bf16, static shape, a 2-core AVX-512 EPYC (docs/benchmarks.md): 74 ->
    40 ms at 512 px and 205 -> 185 ms at 1,024 px, working memory 498 -> 174 MiB at 1,024 px.
    Tiles keep the two graphs: their statistics come from the whole photo."""
    import onnx
    from onnx import compose

    encoder = compose.add_prefix(
        onnx.load_from_string(graphs.encoder),
        "encoder.",
        rename_inputs=False,
        rename_outputs=False,
    )
    render = compose.add_prefix(
        onnx.load_from_string(graphs.render), "render.", rename_inputs=False, rename_outputs=True
    )
    wires = (("feat", "feat"), ("mean", "content_mean"), ("std", "content_std"))
    io_map = [(f"{out}.{t}", f"{into}.{t}") for out, into in wires for t in graphs.taps]
    joined = compose.merge_models(encoder, render, io_map=io_map, outputs=["render.image"])
    return cast(bytes, joined.SerializeToString())


def _dims() -> tuple[Any, Any]:
    from torch.export import Dim

    return Dim("blocks_h", min=2, max=_MAX_BLOCKS), Dim("blocks_w", min=2, max=_MAX_BLOCKS)


def _refusing(what: str, export: Callable[[], torch.onnx.ONNXProgram | None]) -> bytes:
    logging.getLogger("onnx_ir").setLevel(logging.WARNING)  # one line per folded constant
    try:
        return _onnx_bytes(export)
    except ExportRefusedError:
        raise
    except Exception as err:  # the exporter raises many kinds; each means "not exportable"
        raise ExportRefusedError(
            f"ONNX export of the {what} failed: {type(err).__name__}: {err}"
        ) from err


@torch.no_grad()
def export_encoder(encoder: Encoder, taps: tuple[str, ...]) -> bytes:
    """The encoder's graph (CPU, fp32, contiguous weights). Raises ExportRefusedError."""
    encoder = encoder.to("cpu").float()
    encoder.to(memory_format=torch.contiguous_format)
    deepest = max(encoder.tap(t).stride for t in taps)
    blocks_h, blocks_w = _dims()
    return _refusing(
        "encoder",
        lambda: torch.onnx.export(
            _EncoderGraph(encoder, taps).eval(),
            (probe_image(128),),
            input_names=["image"],
            output_names=encoder_output_names(taps),
            dynamic_shapes={"image": {2: deepest * blocks_h, 3: deepest * blocks_w}},
            opset_version=OPSET,
            dynamo=True,
            optimize=True,
            verbose=False,
        ),
    )


@torch.no_grad()
def export_render(encoder: Encoder, generator: Generator) -> bytes:
    """The render graph of one generator. Raises ExportRefusedError."""
    taps = tuple(t.name for t in generator.taps)
    generator = generator.to("cpu").float().eval()
    generator.to(memory_format=torch.contiguous_format)
    image = probe_image(128)
    feats = {t: f.float().contiguous() for t, f in encoder.to("cpu")(image, taps).items()}
    stats = {t: mean_std(f) for t, f in feats.items()}
    strides = {t.name: t.stride for t in generator.taps}
    deepest = max(strides.values())
    blocks_h, blocks_w = _dims()
    per_tap = [
        {2: (deepest // strides[t]) * blocks_h, 3: (deepest // strides[t]) * blocks_w} for t in taps
    ]
    return _refusing(
        "generator",
        lambda: torch.onnx.export(
            _RenderGraph(generator, taps).eval(),
            (torch.tensor(1.0), tuple(render_inputs(taps, feats, StyleStats.of(feats), stats))),
            input_names=render_input_names(taps),
            output_names=["image"],
            dynamic_shapes=(None, tuple(per_tap + [None] * (4 * len(taps)))),
            opset_version=OPSET,
            dynamo=True,
            optimize=True,
            verbose=False,
        ),
    )
