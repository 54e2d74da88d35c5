"""The frozen encoders: real Lite0 weights, VGG19 loading paths, no gradient into the encoder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from models.encoders import (
    EncoderUnavailableError,
    build_efficientnet_lite0,
    build_random,
    build_vgg19,
)
from models.images import load_image, to_tensor
from models.same_padding import _same_total


def center_224(image: Image.Image) -> torch.Tensor:
    scale = 256 / min(image.size)
    image = image.resize(
        (round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC
    )
    left, top = (image.width - 224) // 2, (image.height - 224) // 2
    return to_tensor(image.crop((left, top, left + 224, top + 224)))


@pytest.mark.slow
def test_lite0_packaged_weights_classify_sample_photos(samples: Path) -> None:
    encoder = build_efficientnet_lite0()
    photos = [
        center_224(load_image(samples / "content" / f"{n}.jpg"))
        for n in ("sailboat", "golden_gate", "cornell")
    ]
    with torch.no_grad():
        probs = encoder.classify(torch.cat(photos)).softmax(-1)
    top = probs.topk(2, dim=-1)
    sailboat, golden_gate, cornell = (row.tolist() for row in top.indices)
    assert sailboat == [780, 914]  # schooner, then yawl
    assert float(top.values[0, 0]) > 0.6
    assert 839 in golden_gate  # suspension bridge
    assert cornell[0] == 497  # church


def test_encoder_is_frozen_and_gets_no_gradient() -> None:
    encoder = build_random()
    encoder.train()  # a caller's train() must not switch batch norm to batch statistics
    assert not encoder.training
    assert all(not p.requires_grad for p in encoder.parameters())
    x = torch.rand(2, 3, 48, 64, requires_grad=True)
    features = encoder(x, ("s4", "s16x"))
    sum(f.mean() for f in features.values()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # gradient flows to the image...
    assert all(p.grad is None for p in encoder.parameters())  # ...but never into the encoder
    # Batch norms are folded into the convolutions: no statistics exist that could drift.
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in encoder.modules())
    probe = torch.rand(1, 3, 32, 32)
    first = encoder(probe)["s2"]
    encoder(torch.rand(4, 3, 32, 32) * 5)
    assert torch.equal(first, encoder(probe)["s2"])


def test_encoder_taps_have_declared_channels_and_strides() -> None:
    encoder = build_random()
    features = encoder(torch.rand(1, 3, 64, 96), tuple(t.name for t in encoder.taps))
    for tap in encoder.taps:
        assert features[tap.name].shape == (1, tap.channels, 64 // tap.stride, 96 // tap.stride)


def test_same_padding_is_tensorflows_for_every_size() -> None:
    """The shortcut for sizes the stride divides gives TensorFlow's total (out = ceil(n / s))."""
    for kernel in (1, 3, 5):
        for stride in (1, 2):
            for size in range(1, 70):
                out = -(-size // stride)
                expected = max((out - 1) * stride + kernel - size, 0)
                assert _same_total(size, kernel, stride) == expected, (size, kernel, stride)


def test_random_encoder_is_labelled_untrained() -> None:
    assert build_random().untrained
    assert not build_efficientnet_lite0().untrained


def test_vgg19_loads_from_a_local_file(tmp_path: Path) -> None:
    from torchvision.models import vgg19

    state = vgg19(weights=None).state_dict()
    file = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, file)
    encoder = build_vgg19(weights_file=file)
    assert torch.equal(encoder.features[0].weight, state["features.0.weight"])
    features = encoder(torch.rand(1, 3, 32, 40))
    assert features["relu4_1"].shape == (1, 512, 4, 5)


def test_vgg19_without_weights_names_the_file_to_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("ATELIER_VGG19_WEIGHTS", raising=False)
    # No network here (and none wanted in tests): make any download attempt fail at once.
    import torch.hub

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(EncoderUnavailableError) as err:
        build_vgg19()
    message = str(err.value)
    assert "vgg19-dcbb9e9d.pth" in message
    assert str(tmp_path / "torch-home") in message
    assert "ATELIER_VGG19_WEIGHTS" in message


def test_vgg19_missing_local_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EncoderUnavailableError, match="not found"):
        build_vgg19(weights_file=tmp_path / "nope.pth")
