"""The inference backends: exported graphs that match torch, refusals that fall back to torch,
and the graph cache that spares a second start the export (models.backends)."""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from models.backends import GraphDirectory, TorchBackend, open_backend
from models.backends.export import encoder_key, graph_key, probe_image
from models.backends.specialise import AT_ONCE_VALUES
from models.encoders import build_random
from models.images import to_tensor
from models.inference import GANStylizer, common_photo_shapes
from models.networks import Generator, GeneratorConfig, build_generator
from models.tiling import bled_shape
from tests.models.conftest import synthetic_image
from tests.models.parity import assert_paints_as

GRAPH_BACKENDS = ("onnxruntime", "openvino")
CPU = torch.device("cpu")


def tiny_generator(seed: int) -> Generator:
    torch.manual_seed(seed)
    generator = build_generator(GeneratorConfig(widths=(16, 8, 8, 8)), build_random().taps)
    with torch.no_grad():  # weights away from the initialisation: every layer matters
        for p in generator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return generator.eval()


@pytest.fixture(scope="module")
def cache() -> GraphDirectory:
    """The session's folder (tests/conftest.py): the random encoder's graph is exported once."""
    return GraphDirectory()


@pytest.fixture(scope="module")
def generator() -> Generator:
    return tiny_generator(seed=1)


def generator_taps(generator: Generator) -> tuple[str, ...]:
    return tuple(t.name for t in generator.taps)


def exact(generator: Generator) -> GANStylizer:
    encoder = build_random()
    return GANStylizer(generator, encoder, CPU, backend=TorchBackend.exact(encoder, generator))


def on(
    choice: str, generator: Generator, cache: GraphDirectory, sha: str, precision: str = "f32"
) -> GANStylizer:
    """The generator on a backend; fp32 unless asked, since parity is judged against fp32."""
    encoder = build_random()
    backend = open_backend(
        choice, encoder, generator, CPU, model_sha256=sha, cache=cache, precision=precision
    )
    return GANStylizer(generator, encoder, CPU, backend=backend)


@pytest.mark.parametrize("name", GRAPH_BACKENDS)
def test_a_graph_backend_paints_what_torch_paints(name, generator, cache) -> None:
    """Odd sizes (padded to the stride) and a tiled photo: within 1e-3 of torch fp32."""
    stylizer = on(name, generator, cache, sha="a" * 64)
    assert stylizer.backend_info["name"] == name
    reference = exact(generator)
    assert_paints_as(stylizer, reference)
    # A style encoded by the backend is the style torch encodes.
    painting = synthetic_image(64, 48, seed=5)
    ours, theirs = stylizer.style_stats(painting), reference.style_stats(painting)
    assert all(torch.allclose(ours.std[t], theirs.std[t], atol=1e-4) for t in ours.std)


def test_a_second_start_takes_the_graphs_from_the_cache(generator, cache, caplog) -> None:
    caplog.set_level(logging.INFO, logger="atelier.backends")
    on("onnxruntime", generator, cache, sha="b" * 64)
    assert any("exported the generator graph" in r.message for r in caplog.records)
    assert cache.get(graph_key("b" * 64)) is not None
    assert cache.get(encoder_key(build_random(), generator_taps(generator))) is not None
    caplog.clear()
    stylizer = on("onnxruntime", generator, cache, sha="b" * 64)
    assert stylizer.backend_info["name"] == "onnxruntime"
    assert not any("exported" in r.message for r in caplog.records)


def test_graphs_that_paint_otherwise_are_refused_for_torch(generator, cache, caplog) -> None:
    """Another model's graph under this model's key (a stale or corrupt cache): the parity
    check refuses it and torch serves."""
    on("onnxruntime", generator, cache, sha="a" * 64)
    blob = cache.get(graph_key("a" * 64))
    assert blob is not None
    cache.put(graph_key("c" * 64), blob)
    caplog.set_level(logging.INFO, logger="atelier.backends")
    stylizer = on("openvino", tiny_generator(seed=2), cache, sha="c" * 64)
    assert stylizer.backend_info["name"] == "torch"
    assert any("differs from torch" in r.message for r in caplog.records)


class DataDependentGenerator(Generator):
    """A decoder that branches on a value, which no static graph can hold."""

    def render(self, features, style, strength, content_stats, size=None):  # type: ignore[no-untyped-def]
        out = super().render(features, style, strength, content_stats, size)
        if bool(out.mean() > 0.5):
            return out.flip(-1)
        return out


def test_a_model_that_cannot_export_runs_on_torch(generator, cache, caplog) -> None:
    model = DataDependentGenerator(generator.config, {t.name: t for t in build_random().taps})
    model.load_state_dict(generator.state_dict())
    caplog.set_level(logging.INFO, logger="atelier.backends")
    stylizer = on("onnxruntime", model.eval(), cache, sha="d" * 64)
    assert isinstance(stylizer.backend, TorchBackend)
    assert any("export refused" in r.message for r in caplog.records)
    assert stylizer(synthetic_image(40, 40, seed=6), [synthetic_image(32, 32, seed=7)]).size == (
        40,
        40,
    )


def test_auto_measures_once_then_remembers(generator, cache, caplog) -> None:
    caplog.set_level(logging.INFO, logger="atelier.backends")
    first = on("auto", generator, cache, sha="a" * 64)
    timed = {r.message.split()[1] for r in caplog.records if r.message.startswith("auto:")}
    assert timed == {"torch", *GRAPH_BACKENDS}
    caplog.clear()
    second = on("auto", generator, cache, sha="a" * 64)
    assert not any(r.message.startswith("auto:") for r in caplog.records)
    assert second.backend_info == first.backend_info


def test_a_fine_tuned_model_file_is_exported_on_first_use(tiny_model: Path, tmp_path) -> None:
    """A model file nobody exported before (the tiny trained one): graphs made on first use,
    under the file's sha256, and the picture is torch's."""
    cache = GraphDirectory()
    stylizer = GANStylizer.from_file(
        tiny_model, device="cpu", backend="openvino", graph_cache=cache
    )
    assert stylizer.backend_info["name"] == "openvino"
    sha = hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    assert cache.get(graph_key(sha)) is not None
    reference = GANStylizer.from_file(
        tiny_model, device="cpu", backend="torch", bf16=False, channels_last=False
    )
    photo, painting = synthetic_image(48, 40, seed=8), synthetic_image(40, 40, seed=9)
    style = reference.style_stats(painting)
    got = stylizer.stylize_tensor(to_tensor(photo), style)
    assert (got - reference.stylize_tensor(to_tensor(photo), style)).abs().max() < 1e-3


def test_an_unknown_backend_names_the_choices(generator) -> None:
    with pytest.raises(ValueError, match="auto, torch, onnxruntime, openvino"):
        open_backend("nonsense", build_random(), generator, CPU)


def test_openvino_in_bf16_is_checked_in_fp32_and_serves_in_bf16(generator, cache) -> None:
    """The parity check proves the export in fp32; asked for bf16, the backend then computes
    in bf16: the picture stays within bf16 rounding of torch fp32's, and says so."""
    encoder = build_random()
    backend = open_backend(
        "openvino", encoder, generator, CPU, model_sha256="a" * 64, cache=cache, precision="bf16"
    )
    stylizer = GANStylizer(generator, encoder, CPU, backend=backend)
    assert stylizer.backend_info == {
        "name": "openvino",
        "version": stylizer.backend_info["version"],
        "precision": "bf16",
    }
    reference = exact(generator)
    style = reference.style_stats(synthetic_image(64, 64, seed=10))
    content = to_tensor(synthetic_image(96, 80, seed=11))
    got, want = stylizer.stylize_tensor(content, style), reference.stylize_tensor(content, style)
    assert (got - want).abs().mean() < 0.02


def test_openvino_specialises_a_shape_that_comes_again(generator, cache) -> None:
    """A size's second call runs on a graph compiled for that size, which paints what the
    dynamic graph painted, once its calls have spent a compile's expected time (zero here, so
    the second call, the rule's earliest); only the most recent sizes keep their compiled
    graphs. A photo in one pass runs the joined graph alone."""
    stylizer = on("openvino", generator, cache, sha="a" * 64)
    joined = stylizer.backend._whole  # type: ignore[attr-defined]
    joined.compile_seconds = 0.0
    reference = exact(generator)
    style = reference.style_stats(synthetic_image(64, 48, seed=12))
    content = to_tensor(synthetic_image(96, 80, seed=13))
    render_calls = dict(stylizer.backend._render.calls)  # type: ignore[attr-defined]
    first = stylizer.stylize_tensor(content, style)
    assert not joined.static
    second = stylizer.stylize_tensor(content, style)
    assert len(joined.static) == 1
    assert joined.dynamic is None  # dropped: the two graphs' buffers are not held at once
    third = stylizer.stylize_tensor(content, style)
    assert stylizer.backend._render.calls == render_calls  # type: ignore[attr-defined]
    want = reference.stylize_tensor(content, style)
    assert (first - want).abs().max() < 1e-3
    assert (second - want).abs().max() < 1e-3 and (third - want).abs().max() < 1e-3
    kept = joined.SPECIALISED_SHAPES
    for width in range(32, 32 + 16 * (kept + 2), 16):
        picture = to_tensor(synthetic_image(width, 48, seed=width))
        joined.compile_seconds = 0.0  # each compile moves the estimate up: back to the earliest
        for _ in range(2):
            stylizer.stylize_tensor(picture, style)
    assert len(joined.static) == kept
    assert (1, 3, *bled_shape(48, 32 + 16 * (kept + 1))) in {s[0] for s in joined.static}


def test_openvino_compiles_a_small_shape_once_its_calls_have_spent_a_compiles_time(
    generator, cache
) -> None:
    """The ski-rental rule, on a clock that advances 40 ms a call: with a compile expected to
    cost 0.1 s, a shape stays on the dynamic graph for three calls (0.12 s spent) and the fourth
    is compiled for; the estimate then moves halfway to what that compile took. A shape that
    comes back a few times, as a designer's photo does, never compiles."""
    stylizer = on("openvino", generator, cache, sha="9" * 64)
    joined = stylizer.backend._whole  # type: ignore[attr-defined]
    ticks = iter(range(10**6))
    joined.clock = lambda: next(ticks) * 0.04  # every reading 40 ms later than the one before
    joined.compile_seconds = 0.1
    style = exact(generator).style_stats(synthetic_image(64, 48, seed=12))
    content = to_tensor(synthetic_image(96, 64, seed=15))
    for _ in range(3):
        stylizer.stylize_tensor(content, style)
    assert not joined.static and joined.dynamic is not None
    stylizer.stylize_tensor(content, style)
    assert [s[0] for s in joined.static] == [(1, 3, *bled_shape(64, 96))]
    assert joined.compile_seconds == pytest.approx((0.1 + 0.04) / 2)
    joined.compile_seconds = 1.0
    other = to_tensor(synthetic_image(80, 64, seed=16))
    for _ in range(5):
        stylizer.stylize_tensor(other, style)
    assert (1, 3, *bled_shape(64, 80)) not in {s[0] for s in joined.static}


def test_openvino_compiles_a_large_shape_on_its_first_call(generator, cache, monkeypatch) -> None:
    """A photo at least AT_ONCE_VALUES large never runs on the dynamic graph: it is compiled
    for at once, the dynamic graph dropped first (the threshold lowered to this small photo's
    size, so that the test runs at test sizes)."""
    from models.backends import specialise

    stylizer = on("openvino", generator, cache, sha="c" * 64)
    joined = stylizer.backend._whole  # type: ignore[attr-defined]
    reference = exact(generator)
    style = reference.style_stats(synthetic_image(64, 48, seed=12))
    small, large = (to_tensor(synthetic_image(w, 64, seed=w)) for w in (64, 112))
    monkeypatch.setattr(specialise, "AT_ONCE_VALUES", 3 * math.prod(bled_shape(64, 112)))
    stylizer.stylize_tensor(small, style)
    assert not joined.static and joined.dynamic is not None
    got = stylizer.stylize_tensor(large, style)
    assert [s[0] for s in joined.static] == [(1, 3, *bled_shape(64, 112))]
    assert joined.dynamic is None
    assert (got - reference.stylize_tensor(large, style)).abs().max() < 1e-3


def test_openvino_results_outlive_the_next_call(generator, cache) -> None:
    """The infer request reuses its output buffers; what a call returned is a copy that the
    next call on the same compiled graph leaves as it was."""
    stylizer = on("openvino", generator, cache, sha="d" * 64)
    stylizer.backend._whole.compile_seconds = 0.0  # type: ignore[attr-defined]
    style = exact(generator).style_stats(synthetic_image(64, 48, seed=12))
    first_photo, second_photo = (to_tensor(synthetic_image(80, 64, seed=s)) for s in (20, 21))
    for _ in range(2):  # the second call runs on the shape's static graph
        first = stylizer.stylize_tensor(first_photo, style)
    kept = first.clone()
    for _ in range(2):
        second = stylizer.stylize_tensor(second_photo, style)
    assert (second - kept).abs().max() > 0.01  # another picture, so an alias would show
    assert torch.equal(first, kept)


def test_a_shape_openvino_cannot_compile_stays_on_the_dynamic_graph(
    generator, cache, caplog
) -> None:
    """A static compile that fails is logged once and never retried; the pictures are still
    right, from the dynamic graph."""
    stylizer = on("openvino", generator, cache, sha="b" * 64)
    joined = stylizer.backend._whole  # type: ignore[attr-defined]
    joined.compile_seconds = 0.0  # a compile tried on the second call
    compile_any = joined.compile_model

    def refuse_static(model):  # the plugin refusing a fixed shape, as it may for odd sizes
        if all(i.get_partial_shape().is_static for i in model.inputs):
            raise RuntimeError("no plan for this shape")
        return compile_any(model)

    joined.compile_model = refuse_static
    reference = exact(generator)
    style = reference.style_stats(synthetic_image(64, 48, seed=12))
    content = to_tensor(synthetic_image(80, 64, seed=14))
    want = reference.stylize_tensor(content, style)
    with caplog.at_level(logging.WARNING, logger="models.backends.specialise"):
        for _ in range(4):
            assert (stylizer.stylize_tensor(content, style) - want).abs().max() < 1e-3
    assert not joined.static
    assert len(joined.refused) == 1 and joined.dynamic is not None
    assert sum("could not compile" in r.getMessage() for r in caplog.records) == 1


def test_the_warm_up_runs_a_whole_job_on_the_dynamic_graphs(cache) -> None:
    """The warm-up takes the path of a job with a new painting: the painting's statistics on
    the encoder, the photo on the joined graph, palette matching in OpenCV (its band map made;
    a model that matches palettes, as the shipped one does), so that the first job pays none of
    their first uses; the painting at the largest shape a painting's statistics take, so
    that a later painting's shape allocates nothing; and it compiles no shape."""
    from models import color

    torch.manual_seed(2)
    config = GeneratorConfig(widths=(16, 8, 8, 8), palette_match=0.5)
    generator = build_generator(config, build_random().taps).eval()
    stylizer = on("openvino", generator, cache, sha="f" * 64)
    backend = stylizer.backend
    color._channel_map.cache_clear()
    # Photo shapes after the whole call: 60x80 is 64x80 with its bleed, 96x96 the call's own.
    # 128x96 runs in tiles at a tile size of 96.
    assert stylizer.warm_up(96, [(64, 80), (80, 64), (60, 80), (96, 96), (128, 96)]) == 2
    side = stylizer.style_size
    assert (1, 3, side, side) in {s[0] for s in backend._encoder.calls}  # type: ignore[attr-defined]
    whole = {s[0]: n for s, n in backend._whole.calls.items()}  # type: ignore[attr-defined]
    probe = (1, 3, *probe_image().shape[-2:])  # the backend's parity check, before
    # the photo with its bleed (models.tiling), then each photo shape once
    bled = [(1, 3, *bled_shape(h, w)) for h, w in ((96, 96), (64, 80), (80, 64))]
    assert whole == {probe: 1} | dict.fromkeys(bled, 1)
    assert color._channel_map.cache_info().misses == 1
    assert not backend._encoder.static and not backend._whole.static  # type: ignore[attr-defined]


def test_the_common_photo_shapes_are_each_aspect_both_ways_at_each_long_side() -> None:
    shapes = common_photo_shapes((512, 768), ((1, 1), (4, 3), (16, 9)))
    assert shapes == [
        (512, 512), (384, 512), (512, 384), (288, 512), (512, 288),
        (768, 768), (576, 768), (768, 576), (432, 768), (768, 432),
    ]  # fmt: skip
    # every default shape runs in one pass on OpenVINO's dynamic graph: no compile at start
    for h, w in common_photo_shapes():
        assert 3 * math.prod(bled_shape(h, w)) < AT_ONCE_VALUES


def test_onnx_runtimes_sessions_do_not_spin(generator, cache) -> None:
    """Each graph is a session with its own thread pool; spinning threads of one took the cores
    from the next (models.backends.graphs: a new painting at 512 px 111 ms spinning, 57 not)."""
    graphs: Any = on("onnxruntime", generator, cache, sha="d" * 64).backend
    for session in (graphs._encoder, graphs._render, graphs._whole):
        entries = session.get_session_options().get_session_config_entry
        assert entries("session.intra_op.allow_spinning") == "0"


def test_a_paintings_shape_stays_on_the_dynamic_encoder(generator, cache) -> None:
    """Paintings are encoded at the style size, where a compiled graph is no faster than the
    dynamic one: two paintings of one shape compile nothing, and their statistics are those of
    torch. A photo's tile of the same call count is compiled for."""
    stylizer = on("openvino", generator, cache, sha="e" * 64)
    encoder = stylizer.backend._encoder  # type: ignore[attr-defined]
    encoder.compile_seconds = 0.0  # a photo's shape compiled for on its second call
    reference = exact(generator)
    for seed in (30, 31):
        painting = synthetic_image(384, 320, seed=seed)
        got, want = stylizer.style_stats(painting), reference.style_stats(painting)
        for tap in want.mean:
            assert (got.mean[tap] - want.mean[tap]).abs().max() < 1e-3
    assert encoder.calls[((1, 3, 320, 384),)] == 2 and not encoder.static
    tile = to_tensor(synthetic_image(400, 400, seed=32))
    for _ in range(2):
        stylizer.backend.encode(tile)
    assert [s[0] for s in encoder.static] == [(1, 3, 400, 400)]
