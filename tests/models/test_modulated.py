"""The second generator ("modulated"): it starts as the first-architecture model it is promoted from,
its style steers the decoder, it exports with any height and width, it is no heavier, and its files
say what they are."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.utils.flop_counter import FlopCounterMode

from models.backends.export import _RenderGraph as RenderGraph
from models.backends.export import render_inputs
from models.encoders import Encoder, build_encoder, build_random
from models.losses import mean_std
from models.modelfile import METADATA_KEY, ModelFileError, load_model, read_metadata, save_model
from models.modulated import ModulatedGenerator, conv_of_upsampled, promote
from models.networks import Generator, GeneratorConfig, StyleStats, build_generator
from tests.models.conftest import synthetic_image

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "shipped" / "atelier-default.safetensors"
needs_shipped = pytest.mark.skipif(not SHIPPED.is_file(), reason=f"{SHIPPED} is not shipped yet")


def encode(encoder: Encoder, generator: Generator, side: tuple[int, int], seed: int) -> tuple:
    """(features, content stats) of a synthetic photo of `side` (H, W), at the generator's taps."""
    taps = tuple(t.name for t in generator.taps)
    image = torch.nn.functional.interpolate(
        torch.from_numpy(
            np.asarray(synthetic_image(side[1], side[0], seed), np.float32) / 255
        ).permute(2, 0, 1)[None],
        size=side,
    )
    feats = encoder(image, taps)
    return feats, {t: mean_std(f) for t, f in feats.items()}


def style_of(encoder: Encoder, generator: Generator, seed: int) -> StyleStats:
    taps = tuple(t.name for t in generator.taps)
    painting = torch.from_numpy(np.asarray(synthetic_image(64, 64, seed), np.float32) / 255)
    return StyleStats.of(encoder(painting.permute(2, 0, 1)[None], taps))


def first_architecture(encoder: Encoder) -> Generator:
    """A first-architecture (AdaIN decoder) generator of the shipped model's layout, seeded: the
    shipped file is the second architecture since v2, and what promotion and FLOPs compare does
    not depend on trained weights. Since v3 the shipped file has the sub-pixel head, which is
    the second architecture's only: the first had v2's full-resolution stage, 16 wide."""
    shipped = read_metadata(SHIPPED)["config"]
    config = {
        k: v
        for k, v in shipped.items()
        if k not in ("architecture", "code_dim", "head", "subpixel_width", "merge")
    }
    if shipped.get("head") == "subpixel":
        config["refine_width"] = 16
    torch.manual_seed(11)
    return build_generator(GeneratorConfig(**config), encoder.taps).eval()


def steer(generator: ModulatedGenerator, scale: float = 0.3) -> ModulatedGenerator:
    """Random, non-zero modulation weights: what training would make of the zero start."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for layer in (generator.scale, generator.shift):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * scale)
    return generator.eval()


@pytest.mark.parametrize("exporting", [False, True], ids=["torch", "exported graph"])
def test_conv_of_upsampled_equals_convolving_the_nearest_upsampling(
    exporting: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: exporting)
    g = torch.Generator().manual_seed(0)
    for h, w in ((1, 1), (5, 9), (16, 7)):
        x = torch.randn(2, 6, h, w, generator=g)
        weight, bias = torch.randn(4, 6, 3, 3, generator=g), torch.randn(4, generator=g)
        upsampled = F.pad(F.interpolate(x, scale_factor=2.0), [1, 1, 1, 1], mode="reflect")
        expected = F.conv2d(upsampled, weight, bias)
        assert torch.allclose(conv_of_upsampled(x, weight, bias), expected, atol=1e-5)


@needs_shipped
@torch.no_grad()
def test_a_first_architecture_model_promoted_gives_its_own_output() -> None:
    encoder = build_encoder("efficientnet-lite0")
    shipped = first_architecture(encoder)
    promoted = promote(shipped, code_dim=32).eval()
    assert isinstance(promoted, ModulatedGenerator) and promoted.config.architecture == "modulated"
    style = style_of(encoder, shipped, seed=2)
    for side, strength in (((64, 96), 1.0), ((80, 48), 0.4)):
        feats, stats = encode(encoder, shipped, side, seed=1)
        first = shipped.render(feats, style, strength, stats, side)
        second = promoted.render(feats, style, strength, stats, side)
        # Not bit for bit: the transposed convolution sums the same products in another order.
        assert (first - second).abs().max() < 1e-5
    # ...and the new layers are live: steered, the same inputs give another picture (steered
    # harder than a trained model's scale: an untrained decoder's picture is a low-contrast grey).
    assert (steer(promoted, 1.0).render(feats, style, 1.0, stats, side) - first).abs().mean() > 0.01


@torch.no_grad()
def test_the_style_code_steers_the_decoder_and_strength_zero_ignores_the_style() -> None:
    encoder = build_random()
    generator = steer(
        build_generator(GeneratorConfig(architecture="modulated", refine_width=8), encoder.taps)
    )  # type: ignore[arg-type]
    feats, stats = encode(encoder, generator, (48, 64), seed=3)
    a, b = style_of(encoder, generator, 4), style_of(encoder, generator, 5)
    assert (
        generator.render(feats, a, 1.0, stats) - generator.render(feats, b, 1.0, stats)
    ).abs().mean() > 1e-3
    # Strength 0: the photo's own statistics everywhere, code included, whatever the painting.
    zero_a, zero_b = (generator.render(feats, s, 0.0, stats) for s in (a, b))
    assert torch.equal(zero_a, zero_b)
    # A batch of two decodes each image as it decodes alone (batch 1 folds the weights).
    both = generator.render(
        {t: f.expand(2, -1, -1, -1) for t, f in feats.items()},
        StyleStats.blend([a], [1.0]),
        1.0,
        stats,
    )
    assert torch.allclose(both[0], generator.render(feats, a, 1.0, stats)[0], atol=1e-5)
    with pytest.raises(TypeError, match="render"):
        generator.decode(feats)


@torch.no_grad()
def test_the_modulated_render_exports_to_onnx_with_any_size_and_matches_torch(
    tmp_path: Path,
) -> None:
    ort = pytest.importorskip("onnxruntime")
    encoder = build_random()
    generator = steer(
        build_generator(GeneratorConfig(architecture="modulated", refine_width=8), encoder.taps)
    )  # type: ignore[arg-type]
    taps = tuple(t.name for t in generator.taps)
    graph = RenderGraph(generator, taps).eval()  # the graph models.backends exports
    names = ["strength"] + [f"in{i}" for i in range(5 * len(taps))]
    feats, stats = encode(encoder, generator, (64, 96), seed=1)
    style = style_of(encoder, generator, 2)
    dynamic = {
        f"in{i}": {2: f"h{generator.taps[i].stride}", 3: f"w{generator.taps[i].stride}"}
        for i in range(len(taps))
    }
    torch.onnx.export(
        graph,
        (torch.tensor(0.8), tuple(render_inputs(taps, feats, style, stats))),
        str(tmp_path / "render.onnx"),
        input_names=names,
        output_names=["image"],
        dynamic_axes=dynamic,
        opset_version=17,
        dynamo=False,
    )
    session = ort.InferenceSession(
        str(tmp_path / "render.onnx"), providers=["CPUExecutionProvider"]
    )
    for side, seed in (((64, 96), 1), ((112, 48), 2), ((160, 160), 3)):  # traced at the first
        feats, stats = encode(encoder, generator, side, seed)
        tensors = render_inputs(taps, feats, style, stats)
        expected = graph(torch.tensor(0.8), tuple(tensors))
        feeds = dict(
            zip(names, [np.array(0.8, np.float32)] + [t.numpy() for t in tensors], strict=True)
        )
        (out,) = session.run(None, feeds)
        assert out.shape == (1, 3, *side)
        assert np.abs(out - expected.numpy()).max() < 1e-4


@needs_shipped
@torch.no_grad()
def test_flops_at_512_px_with_a_saved_style_are_no_more_than_the_first_architecture() -> None:
    encoder = build_encoder("efficientnet-lite0")
    shipped, _ = load_model(SHIPPED, encoder)
    first = first_architecture(encoder)
    second = shipped if isinstance(shipped, ModulatedGenerator) else promote(first, code_dim=32)
    style = style_of(encoder, first, seed=2)  # saved: no encoder pass for it in the count
    image = torch.rand(1, 3, 512, 512)
    taps = tuple(t.name for t in first.taps)

    def count(generator: Generator) -> int:
        with FlopCounterMode(display=False) as counter:
            feats = encoder(image, taps)
            generator.render(feats, style, 1.0, {t: mean_std(f) for t, f in feats.items()})
        return counter.get_total_flops()

    flops_first, flops_second = count(first), count(second)
    figures = f"adain-skip {flops_first / 1e9:.2f}, modulated {flops_second / 1e9:.2f}"
    print(f"\nGFLOP at 512 px, encoder + generator, saved style: {figures}")  # noqa: T201
    assert flops_second <= flops_first, figures


def test_the_architecture_is_in_the_file_and_loads_back(tmp_path: Path) -> None:
    encoder = build_random()
    generator = steer(
        build_generator(
            GeneratorConfig(architecture="modulated", refine_width=8, code_dim=16), encoder.taps
        )  # type: ignore[arg-type]
    )
    save_model(tmp_path / "m.safetensors", generator, encoder, steps=3)
    meta = read_metadata(tmp_path / "m.safetensors")
    assert meta["config"]["architecture"] == "modulated" and meta["config"]["code_dim"] == 16
    loaded, _ = load_model(tmp_path / "m.safetensors", encoder)
    assert isinstance(loaded, ModulatedGenerator)
    feats, stats = encode(encoder, generator, (48, 48), seed=1)
    style = style_of(encoder, generator, 2)
    with torch.no_grad():
        assert torch.equal(
            loaded.render(feats, style, 1.0, stats), generator.render(feats, style, 1.0, stats)
        )


def test_files_without_an_architecture_load_as_the_first_and_unknown_ones_are_refused(
    tmp_path: Path,
) -> None:
    encoder = build_random()
    first = build_generator(GeneratorConfig(refine_width=8), encoder.taps)
    save_model(tmp_path / "m.safetensors", first, encoder)
    tensors = load_file(tmp_path / "m.safetensors")
    meta = read_metadata(tmp_path / "m.safetensors")
    for architecture, expect in ((None, Generator), ("adain-skip", Generator), ("nope", None)):
        config = {k: v for k, v in meta["config"].items() if k != "architecture"}
        if architecture is not None:
            config["architecture"] = architecture
        path = tmp_path / f"{architecture}.safetensors"
        save_file(tensors, path, metadata={METADATA_KEY: json.dumps({**meta, "config": config})})
        if expect is None:
            with pytest.raises(ModelFileError, match="architecture"):
                load_model(path, encoder)
        else:
            loaded, _ = load_model(path, encoder)
            assert type(loaded) is expect
    # Weights of one architecture under the other's name are refused, not half-loaded.
    config = {**meta["config"], "architecture": "modulated"}
    save_file(
        tensors,
        tmp_path / "x.safetensors",
        metadata={METADATA_KEY: json.dumps({**meta, "config": config})},
    )
    with pytest.raises(ModelFileError, match="do not match"):
        load_model(tmp_path / "x.safetensors", encoder)
