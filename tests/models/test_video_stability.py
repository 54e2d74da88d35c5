"""Temporal stability with the shipped model (the tiny test model paints an almost flat picture:
nothing to flicker): on a synthetic moving clip the stabilised result flickers far less than
frame-by-frame stylization and keeps its marks, and on the sample clip it meets issue 20's
bounds."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import cv2
import numpy as np
import pytest
from PIL import Image

from models.inference import GANStylizer
from models.video import stability
from models.video.flow import FlowEstimator, Motion, warp
from models.video.pipeline import VideoOptions, frame_stylizer, stylize_video
from models.video.probe import probe
from models.video.quality import (
    INNER_BORDER,
    ClipScores,
    StyleScore,
    known_flow,
    source_motion,
    warping_error,
)
from models.video.segments import DirectorySink
from models.video.stability import StabilitySettings
from tests.models.conftest import synthetic_image
from tests.models.video_clips import pan_frames, write_clip

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "shipped" / "atelier-default.safetensors"
SAMPLE_CLIP = ROOT.parent / "shared" / "video" / "bigbuckbunny.mp4"
STARRY_NIGHT = ROOT / "app" / "builtin_styles" / "starry-night.jpg"
CHICAGO = ROOT.parent / "shared" / "samples" / "content" / "chicago.jpg"
LA_MUSE = ROOT.parent / "shared" / "samples" / "style" / "la_muse.jpg"


def stabilised_against_frame_by_frame(
    source: Path, stylizer: GANStylizer, painting: Image.Image, parts: Path, scores: ClipScores
) -> dict[str, dict[str, float]]:
    """The clip through the product's pipeline, its result and frame by frame (each frame
    stylized on its own, as a still) scored side by side (`scores` says at which size and how
    often, its style score is added here)."""
    scores.style = StyleScore(stylizer.encoder, painting)
    stylize = frame_stylizer(stylizer, [stylizer.style_stats(painting)])
    stylize_video(
        source, probe(source), stylize, DirectorySink(parts),
        on_frame=lambda f: scores.add(
            f.source, {"frame by frame": stylize(f.source), "stable": f.result}
        ),
    )  # fmt: skip
    return scores.table()


def test_flow_carries_a_shifted_frame_onto_the_next() -> None:
    frames = pan_frames(128, 96, 2, step=3.0)  # the window moves 3 px right, 1.5 px down
    estimator = FlowEstimator("medium", scale=1.0)
    motion = estimator.motion(estimator.luma(frames[0]), estimator.luma(frames[1]))
    inner = (slice(12, -12), slice(12, -12))
    assert motion.tracked[inner].mean() > 0.9
    # Backward flow: where each pixel of the second frame was in the first.
    assert np.median(motion.backward[inner][..., 0]) == pytest.approx(3.0, abs=0.5)
    carried = warp(frames[0].astype(np.float32), motion.backward)
    assert (
        np.abs(carried[inner] - frames[1][inner]).mean()
        < 0.25 * np.abs(frames[0][inner].astype(np.float32) - frames[1][inner]).mean()
    )


def test_warping_error_of_a_still_clip_is_nil_and_of_noise_is_not() -> None:
    frame = np.asarray(synthetic_image(96, 64, seed=3))
    backward, mask = source_motion(frame, frame)
    assert mask.all()
    assert warping_error(frame, frame, backward, mask) < 1e-3
    noisy = np.clip(frame + np.random.default_rng(0).normal(0, 10, frame.shape), 0, 255)
    assert warping_error(frame, noisy.astype(np.uint8), backward, mask) > 1.0


def test_the_known_motion_carries_a_pan_and_a_zoom_exactly() -> None:
    """A window moved by whole pixels scores nil along its known motion, and so does a zoom
    (up to resampling); a wrong motion does not; the motion scales with the measured size."""
    picture = np.asarray(synthetic_image(200, 150, seed=4))
    previous, current = picture[10:110, 20:180], picture[11:111, 22:182]  # 2 right, 1 down
    assert warping_error(previous, current, *known_flow((1.0, 2.0, 1.0), 100, 160)) < 1e-6
    assert warping_error(previous, current, *known_flow((1.0, 0.0, 0.0), 100, 160)) > 1.0
    half = known_flow((1.0, 2.0, 1.0), 50, 80, scale=0.5)[0]
    assert np.allclose(half[..., 0], 1.0) and np.allclose(half[..., 1], 0.5)
    # A zoom: the current frame is the previous one 1.25x closer about its centre.
    a = 1 / 1.25
    zoomed = cv2.resize(previous, None, fx=1.25, fy=1.25, interpolation=cv2.INTER_LINEAR)
    top, left = (zoomed.shape[0] - 100) // 2, (zoomed.shape[1] - 160) // 2
    closer = np.ascontiguousarray(zoomed[top : top + 100, left : left + 160])
    t = ((left + 0.5) / 1.25 - 0.5, (top + 0.5) / 1.25 - 0.5)
    backward, mask = known_flow((a, *t), 100, 160)
    assert mask.all()
    # Measured 0.0012 (pixel centres as OpenCV's resize takes them), 0.046 half a pixel off,
    # 58 with no motion.
    assert warping_error(previous, closer, backward, mask) < 0.01


def test_the_inner_style_score_leaves_the_frames_border_out() -> None:
    """A dark line along a frame's edges (what the generator paints on a still) moves the whole
    frame's score and not the inner one; frames too small for the border get no inner score."""
    frame = np.full((128, 160, 3), 200, np.uint8)
    lined = frame.copy()
    lined[:, :4] = lined[:, -4:] = 20

    def darkness(rgb: np.ndarray) -> float:  # a score in which dark pixels weigh
        return float(255 - rgb.mean())

    scores = ClipScores(style=cast(StyleScore, darkness), side=None, style_every=1)
    scores.add(frame, {"plain": frame, "lined": lined})
    scores.add(frame, {"plain": frame, "lined": lined})  # a row needs two frames
    table = scores.table()
    assert table["lined"]["style"] > table["plain"]["style"] + 5
    assert table["lined"]["inner_style"] == table["plain"]["inner_style"] == 55.0
    small = ClipScores(style=cast(StyleScore, darkness), side=None, style_every=1)
    tiny = frame[: 2 * INNER_BORDER, : 2 * INNER_BORDER]
    small.add(tiny, {"plain": tiny})
    small.add(tiny, {"plain": tiny})
    assert "inner_style" not in small.table()["plain"]


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped model is not there")
def test_stabilised_clip_flickers_less_and_off_is_frame_by_frame(tmp_path: Path) -> None:
    """The stabiliser's mechanics on a synthetic pan (96x64, a window moved 1 or 2 whole pixels
    a frame): far less flicker than frame by frame, with the marks kept, and frame by frame
    exactly when it is off. The issue's bounds themselves are asserted on the sample clip below:
    on pans this small they depend on the model (v4, whose sub-pixel head paints each 2x2
    block from one stride-2 cell: 31% of frame by frame's warping at +6.2% style here, 43% at
    +6.6% with the painting of seed 8, against 33% at +6% on the sample clip at 640x360)."""
    source = write_clip(tmp_path / "pan.mp4", pan_frames(96, 64, 36, step=1.5), fps=24)
    stylizer = GANStylizer.from_file(SHIPPED, device="cpu", backend="torch")
    painting = synthetic_image(64, 64, seed=7)
    stylize = frame_stylizer(stylizer, [stylizer.style_stats(painting)])
    table = stabilised_against_frame_by_frame(
        source, stylizer, painting, tmp_path / "parts", ClipScores(style_every=3)
    )
    by_frame, stable = table["frame by frame"], table["stable"]
    # Frame by frame flickers far more than the source moves.
    assert by_frame["warping_error"] > 1.5 * table["source"]["warping_error"]
    # At least halved, and the marks kept: not a frozen or blurred picture (a blur of sigma
    # 0.7 doubles the style score, docs/video_log.md).
    assert stable["warping_error"] < 0.5 * by_frame["warping_error"]
    assert stable["style"] < 1.5 * by_frame["style"]

    # Off, the same pipeline gives frame-by-frame stylization exactly.
    off = ClipScores(style_every=1000)
    stylize_video(
        source, probe(source), stylize, DirectorySink(tmp_path / "off"),
        options=VideoOptions(stability=StabilitySettings(amount=0)),
        on_frame=lambda f: off.add(f.source, {"result": f.result, "own": f.stylized}),
    )  # fmt: skip
    assert off.table()["result"] == off.table()["own"]


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped model is not there")
@pytest.mark.skipif(not SAMPLE_CLIP.is_file(), reason=f"the sample clip is not at {SAMPLE_CLIP}")
def test_the_sample_clip_meets_the_issues_bounds(tmp_path: Path) -> None:
    """Issue 20's acceptance on its own clip, at its own size, as the product runs it (the
    shipped model on the default backend, the stabiliser at its default for 1280x720): warping
    error at most 40% of frame by frame's, the style score within 10% of frame by frame's
    (measured: v3 with the grid lock and the coarse band 23% at +8.5%, with the coarse
    band alone 29% at +8.0%, with neither 35% at +6.3%; benchmarks/video.py prints the same).
    The sample clip is an excerpt of Big Buck Bunny, (c) 2008 Blender Foundation,
    www.bigbuckbunny.org, CC BY 3.0 (../shared/video/SOURCES.md), read in place."""
    stylizer = GANStylizer.from_file(SHIPPED, device="cpu")
    painting = Image.open(STARRY_NIGHT).convert("RGB")
    # Measured at the clip's own size, as benchmarks/video.py measures it (side=None).
    table = stabilised_against_frame_by_frame(
        SAMPLE_CLIP, stylizer, painting, tmp_path / "parts", ClipScores(side=None, style_every=5)
    )
    by_frame, stable = table["frame by frame"], table["stable"]
    assert stable["warping_error"] < 0.4 * by_frame["warping_error"], table
    assert stable["style"] < 1.1 * by_frame["style"], table


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped model is not there")
@pytest.mark.skipif(not CHICAGO.is_file(), reason=f"the sample photo is not at {CHICAGO}")
def test_a_made_pan_meets_the_bounds_along_its_known_motion(tmp_path: Path) -> None:
    """Issue 20's bounds on a clip we make (a window moved 2 px right and 1 down a frame across
    a photo, through H.264), scored along the camera's known motion, which no flow estimate's
    errors reach (benchmarks/made_clips.py; on its 640x360 clips the product repaints 2-20% of
    what frame by frame does), and on the style inside the frame's border (the whole frame's
    counts the dark line a still has along its edges). Measured: 2% of frame by frame's
    repainting, +5.5% style inside the border (+15.5% on the whole frame)."""
    photo = np.asarray(Image.open(CHICAGO).convert("RGB"))
    # At 640x360 (the made clips' size): on frames of 320x180 the lock's padding is a third of
    # the picture, and the locked frames carried 12-16% less style inside the border (measured).
    frames = [np.ascontiguousarray(photo[t : t + 360, 2 * t : 2 * t + 640]) for t in range(12)]
    source = write_clip(tmp_path / "pan.mp4", frames)
    stylizer = GANStylizer.from_file(SHIPPED, device="cpu", backend="torch")
    painting = Image.open(LA_MUSE).convert("RGB")
    scores = ClipScores(style=StyleScore(stylizer.encoder, painting), side=None, style_every=2)
    stylize = frame_stylizer(stylizer, [stylizer.style_stats(painting)])
    stylize_video(
        source, probe(source), stylize, DirectorySink(tmp_path / "parts"),
        on_frame=lambda f: scores.add(
            f.source, {"frame by frame": stylize(f.source), "product": f.result},
            (1.0, 2.0, 1.0),
        ),
    )  # fmt: skip
    table = scores.table()
    by_frame, product = table["frame by frame"], table["product"]
    assert product["known_warping_error"] < 0.4 * by_frame["known_warping_error"], table
    assert product["inner_style"] < 1.1 * by_frame["inner_style"], table


def test_default_amount_follows_the_frame_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # The measured points (docs/video_log.md): v3 with the coarse band takes 0.55 at both.
    assert StabilitySettings().for_size(640, 360).amount == pytest.approx(0.55)
    assert StabilitySettings().for_size(1280, 720).amount == pytest.approx(0.55)
    assert StabilitySettings(amount=0.3).for_size(1920, 1080).amount == 0.3
    # Linear in log(pixels) between two points, flat outside them (v2's 0.6 and 0.55).
    monkeypatch.setattr(stability, "AMOUNT_BY_SIZE", ((640 * 360, 0.6), (1280 * 720, 0.55)))
    assert StabilitySettings().for_size(96, 64).amount == pytest.approx(0.6)
    assert StabilitySettings().for_size(1920, 1080).amount == pytest.approx(0.55)
    assert StabilitySettings().for_size(905, 509).amount == pytest.approx(0.575, abs=1e-3)


def _still(height: int, width: int) -> Motion:
    """Motion of a clip that did not move: every pixel tracked, no mismatch."""
    return Motion(
        backward=np.zeros((height, width, 2), np.float32),
        tracked=np.ones((height, width), bool),
        mismatch=np.zeros((height, width), np.float32),
    )


def test_the_coarse_band_is_carried_more_than_the_marks() -> None:
    """Where the flow tracks every pixel and the source did not change, the result moves from
    the frame's own stylization towards the carried one by `amount` in its fine detail (a
    checkerboard difference) and by amount x coarse_boost (at most 0.95) in its broad colour
    (a flat one)."""
    from models.video.stability import stabilize

    height, width = 48, 64
    still = _still(height, width)
    settings = StabilitySettings(amount=0.5, coarse_boost=1.6, detail_restore=0.0)  # no gain
    own = np.full((height, width, 3), 100, np.uint8)
    flat = np.full_like(own, 150)  # carried 50 levels lighter everywhere
    moved = stabilize(own, flat, still, settings).astype(float) - 100
    assert np.allclose(moved, 0.8 * 50, atol=1)
    checker = (np.indices((height, width)).sum(axis=0) % 2 * 2 - 1)[..., None]
    fine = (100 + 40 * checker).astype(np.uint8).repeat(3, axis=2)  # +-40 levels, pixel by pixel
    moved = stabilize(own, fine, still, settings).astype(float) - 100
    inner = moved[8:-8, 8:-8]
    assert np.allclose(inner, 0.5 * 40 * checker[8:-8, 8:-8], atol=1.5)
    plain = StabilitySettings(amount=0.5, detail_restore=0.0, coarse_boost=1.0)
    assert np.allclose(stabilize(own, flat, still, plain).astype(float) - 100, 0.5 * 50, atol=1)
    # Never past STABILITY_MAX (0.95), however large the boost.
    capped = StabilitySettings(amount=0.8, detail_restore=0.0, coarse_boost=3.0)
    assert np.allclose(stabilize(own, flat, still, capped).astype(float) - 100, 0.95 * 50, atol=1)


def test_an_untracked_region_adds_nothing_to_its_neighbours_coarse_band() -> None:
    """The coarse band is normalised by the weight: next to an untracked region (an occlusion,
    where the carried result is wrong), a tracked pixel's broad colour is carried from tracked
    pixels only, and the untracked pixels keep the frame's own stylization."""
    from models.video.stability import stabilize

    height, width = 48, 64
    tracked = np.ones((height, width), bool)
    tracked[:, 32:] = False
    motion = Motion(
        backward=np.zeros((height, width, 2), np.float32),
        tracked=tracked,
        mismatch=np.zeros((height, width), np.float32),
    )
    settings = StabilitySettings(amount=0.5, coarse_boost=1.6, detail_restore=0.0)
    own = np.full((height, width, 3), 100, np.uint8)
    carried = np.full_like(own, 150)
    carried[:, 32:] = 250  # wrong where untracked: 150 levels off
    result = stabilize(own, carried, motion, settings).astype(float)
    assert np.allclose(result[:, 32:], 100)  # untracked: the frame's own
    assert np.allclose(result[:, :32], 100 + 0.8 * 50, atol=1)  # up to the edge: 140, not more
