"""`atelier stylize-video` end to end on a synthetic clip, and its refusals."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from cli.main import app
from contracts.labels import DIGITAL_SOURCE_TYPE, read_xmp
from contracts.mp4_xmp import XMP_UUID, top_level_boxes
from models.video.probe import probe
from tests.models.conftest import synthetic_image
from tests.models.video_clips import pan_frames, write_clip

runner = CliRunner()


def invoke(*args: object) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_stylize_video_writes_the_clip_its_poster_and_cleans_up(
    tiny_model: Path, tmp_path: Path
) -> None:
    source = write_clip(tmp_path / "in.mp4", pan_frames(96, 64, 30), fps=25, audio=True)
    style = tmp_path / "s.png"
    synthetic_image(48, 48, seed=4).save(style)
    out, poster = tmp_path / "out" / "clip.mp4", tmp_path / "poster.jpg"
    code, stdout, stderr = invoke(
        "stylize-video", source, "--style", style, "-o", out, "--model", tiny_model,
        "--strength", "0.8", "--max-side", "64", "--poster", poster,
        "--device", "cpu", "--backend", "torch",
    )  # fmt: skip
    assert code == 0, stderr
    assert "wrote" in stdout and "64x42, 30 frames" in stdout and "audio copied" in stdout
    assert "30/30" in stderr and "frame/s" in stderr  # the tqdm bar: frames, rate
    info = probe(out)
    assert (info.width, info.height, info.frames, info.has_audio) == (64, 42, 30, True)
    with Image.open(poster) as image:
        assert image.size == (64, 42)
        poster_label = read_xmp(image.info["xmp"])
    assert [p.name for p in out.parent.iterdir()] == ["clip.mp4"]  # segments removed
    # Labelled as the service labels a clip: an XMP box at the end of the MP4, the poster's too.
    with out.open("rb") as f:
        boxes = top_level_boxes(f)
        kind, start, size = boxes[-1]
        f.seek(start)
        box = f.read(size)
    assert kind == b"uuid" and box[8:24] == XMP_UUID.bytes
    label = read_xmp(box[24:])
    assert label == poster_label and label.medium == "video" and label.method == "gan"
    assert label.source_type == DIGITAL_SOURCE_TYPE and label.credits[0].name == "s.png"


def test_stylize_video_refuses_bad_input_with_a_code(tiny_model: Path, tmp_path: Path) -> None:
    style = tmp_path / "s.png"
    synthetic_image(48, 48, seed=4).save(style)
    text = tmp_path / "notes.mp4"
    text.write_text("hello\n" * 100)
    code, _, stderr = invoke("stylize-video", text, "--style", style, "-o", tmp_path / "o.mp4",
                             "--model", tiny_model, "--backend", "torch")  # fmt: skip
    assert code == 2 and stderr.startswith("error: not_a_video: ")
    assert not (tmp_path / "o.mp4").exists()

    clip = write_clip(tmp_path / "in.mp4", pan_frames(96, 64, 4))
    code, _, stderr = invoke("stylize-video", clip, "--style", style, "-o", tmp_path / "o.avi",
                             "--model", tiny_model, "--backend", "torch")  # fmt: skip
    assert code == 2 and "must end in .mp4" in stderr
