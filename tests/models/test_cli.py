"""The GAN commands end to end: train -> save -> load -> stylize -> evaluate, and bad input."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from cli.main import app
from tests.models.conftest import synthetic_image

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_one_step_train_save_load_stylize_smoke(tiny_model: Path, tmp_path: Path) -> None:
    photo, style_a, style_b = tmp_path / "p.png", tmp_path / "a.png", tmp_path / "b.png"
    synthetic_image(70, 45, seed=1).save(photo)
    synthetic_image(40, 40, seed=2).save(style_a)
    synthetic_image(40, 40, seed=3).save(style_b)
    code, out, err = invoke(
        "stylize",
        photo,
        "--style",
        style_a,
        "--style",
        style_b,
        "--style-weights",
        "0.7,0.3",
        "--model",
        tiny_model,
        "-o",
        tmp_path / "o.png",
        "--strength",
        "0.8",
        "--preserve-color",
        "--device",
        "cpu",
    )
    assert code == 0, err
    assert "wrote" in out and "(gan, backend " in out
    with Image.open(tmp_path / "o.png") as result:
        assert result.format == "PNG" and result.size == (70, 45)


def test_stylize_method_optimisation_uses_no_model(tmp_path: Path) -> None:
    photo, style = tmp_path / "p.png", tmp_path / "s.png"
    synthetic_image(48, 40, seed=1).save(photo)
    synthetic_image(40, 40, seed=2).save(style)
    code, out, err = invoke(
        "stylize",
        photo,
        "--style",
        style,
        "-o",
        tmp_path / "o.jpg",
        "--method",
        "optimisation",
        "--steps",
        "3",
        "--image-size",
        "32",
        "--encoder",
        "random",
        "--device",
        "cpu",
    )
    assert code == 0, err
    assert "(optimisation, backend " in out
    with Image.open(tmp_path / "o.jpg") as result:
        assert result.size == (48, 40)


@pytest.fixture
def builtin_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path | str], None]]:
    """Point ATELIER_BUILTIN_MODEL at a file (or "" to disable it) for `atelier stylize`."""
    from app.config import get_settings

    def use(path: Path | str) -> None:
        monkeypatch.setenv("ATELIER_BUILTIN_MODEL", str(path))
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def test_stylize_without_model_uses_the_builtin_model(
    tiny_model: Path, tmp_path: Path, builtin_model: Callable[[Path | str], None]
) -> None:
    builtin_model(tiny_model)
    photo = tmp_path / "p.png"
    synthetic_image(48, 40, seed=1).save(photo)
    code, out, err = invoke(
        "stylize", photo, "--style", photo, "-o", tmp_path / "o.png", "--device", "cpu"
    )
    assert code == 0, err
    assert "(gan, backend " in out


@pytest.mark.parametrize("setting", ["", "missing.safetensors"])
def test_stylize_gan_without_a_model_file_is_a_clear_error(
    setting: str, tmp_path: Path, builtin_model: Callable[[Path | str], None]
) -> None:
    builtin_model(tmp_path / setting if setting else "")
    photo = tmp_path / "p.png"
    synthetic_image(32, 32, seed=1).save(photo)
    code, out, err = invoke("stylize", photo, "--style", photo, "-o", tmp_path / "o.png")
    assert code == 2 and "Traceback" not in err + out
    assert "method gan needs a model file" in err and "--method optimisation" in err
    assert not (tmp_path / "o.png").exists()


def test_stylize_unknown_method_is_a_clear_error(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    synthetic_image(32, 32, seed=1).save(photo)
    code, _, err = invoke(
        "stylize", photo, "--style", photo, "-o", tmp_path / "o.png", "--method", "magic"
    )
    assert code == 2 and "--method must be one of gan, optimisation" in err


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    good = tmp_path / "good.png"
    synthetic_image(64, 64, seed=0).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    return {
        "missing": tmp_path / "nope.jpg",
        "not an image": text,
        "empty file": empty,
        "unreadable": truncated,
    }


@pytest.mark.parametrize("case", ["missing", "not an image", "empty file", "unreadable"])
def test_bad_content_gives_one_clear_line_and_exit_2(case: str, tmp_path: Path) -> None:
    bad = _bad_files(tmp_path)[case]
    style = tmp_path / "style.png"
    synthetic_image(32, 32, seed=1).save(style)
    code, out, err = invoke(
        "stylize", bad, "--style", style, "-o", tmp_path / "o.png", "--encoder", "random",
        "--method", "optimisation",
    )  # fmt: skip
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in err + out
    assert not (tmp_path / "o.png").exists()


def test_model_encoder_mismatch_is_a_clear_error(tiny_model: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from models.modelfile import METADATA_KEY, read_metadata

    meta = read_metadata(tiny_model)
    meta["encoder"]["digest"] = "sha256:0000"
    import json

    save_file(
        load_file(tiny_model),
        tmp_path / "other.safetensors",
        metadata={METADATA_KEY: json.dumps(meta)},
    )
    photo = tmp_path / "p.png"
    synthetic_image(32, 32, seed=1).save(photo)
    code, _, err = invoke(
        "stylize",
        photo,
        "--style",
        photo,
        "--model",
        tmp_path / "other.safetensors",
        "-o",
        tmp_path / "o.png",
    )
    assert code == 2 and "trained with encoder random" in err and "Traceback" not in err


def test_truncated_model_file_is_a_clear_error(tiny_model: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(tiny_model.read_bytes()[:1000])
    photo = tmp_path / "p.png"
    synthetic_image(32, 32, seed=1).save(photo)
    code, _, err = invoke(
        "stylize", photo, "--style", photo, "--model", cut, "-o", tmp_path / "o.png"
    )
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err


def test_train_with_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = invoke(
        "train",
        "--content-dir",
        tmp_path / "no",
        "--style-dir",
        tmp_path / "no",
        "--out",
        tmp_path / "m.safetensors",
        "--encoder",
        "random",
    )
    assert code == 2 and "no such folder" in err and "Traceback" not in err
