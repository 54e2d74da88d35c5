"""The options a request takes, typed for the caller's editor and type checker, and how they
travel in a multipart form (the service reads every field as text; lists go as JSON)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Literal, TypedDict

# A photo, painting, mask, clip or model file: a path, its bytes, or an open binary file.
FileInput = str | os.PathLike[str] | bytes | IO[bytes]
# A multipart file part: (filename, content, content type); content a file is read as it is sent.
FilePart = tuple[str, bytes | IO[bytes], str]

# The service decides by the bytes, never by the declared type, so none is guessed.
UNTYPED = "application/octet-stream"


class StylizationOptions(TypedDict, total=False):
    """What `POST /v1/stylizations` (and each child of a campaign) accepts beside the images;
    the service's defaults apply to what is left out (see its API guide)."""

    method: Literal["gan", "optimisation"]  # gan: fast, needs a model; optimisation: slow
    strength: float  # 0..1, shorthand: colour and texture together
    preserve_color: bool  # shorthand for color_strength=0
    color_strength: float  # 0..1: how far the colours move to the painting's palette
    texture_strength: float  # 0..1: how much of the painting's marks are kept
    stroke_scale: float  # GAN: the marks' size relative to the picture, the same at any size
    tile_size: int  # GAN: the largest side in one pass
    working_size: int  # optimisation: the side it works at
    output_format: Literal["png", "jpeg", "webp"]
    model_id: str
    webhook_url: str
    seed: int
    keep_boxes: Sequence[Sequence[float]]  # [[x0, y0, x1, y1], ...] relative, kept photographic
    feather: int  # pixels of soft edge outside the kept regions
    output_size: str  # "1080x1080" or any WIDTHxHEIGHT
    crop: Sequence[float]  # [x0, y0, x1, y1] relative: where to crop for output_size


class VideoOptions(TypedDict, total=False):
    """What `POST /v1/videos` accepts beside the clip and its style; the service's defaults
    apply to what is left out. There is no `method`: a clip is always stylized by a GAN model."""

    model_id: str  # default: the active model
    strength: float  # 0..1: 0 = the clip, 1 = full style
    preserve_color: bool  # keep the clip's colours
    max_side: int  # the output's longer side at most this (px); default: the clip's size
    stability: float  # 0..0.95: the previous frame's weight on each (steadier, softer)
    webhook_url: str
    keep_boxes: Sequence[Sequence[float]]  # [[x0, y0, x1, y1], ...] relative, kept as filmed
    feather: int  # pixels of soft edge outside the kept regions


class StyledRegion(TypedDict, total=False):
    """One entry of a stylization's `regions` (at most 4; later entries win where they
    overlap): where it lies, a `box` [x0, y0, x1, y1] (0..1) or a `mask` (an index into the
    `masks` files, white = the region), and what it takes, a `style_id` (saved or built-in)
    or `keep: True` (the photo's pixels)."""

    box: Sequence[float]
    mask: int
    style_id: str
    keep: bool


class CampaignFields(TypedDict, total=False):
    """A campaign's own form fields (its options are `StylizationOptions`)."""

    photos: Sequence[FileInput]
    styles: Sequence[FileInput]
    style_ids: Sequence[str]
    # Per photo (or None): {"keep_boxes": [...], "crop": [...], "regions": [StyledRegion...]}
    regions: Sequence[Mapping[str, Any] | None]
    masks: Sequence[FileInput]  # what a photo's styled regions' `mask` indexes
    name: str


class TrainingSettings(TypedDict, total=False):
    """A training job's settings (`contracts.training` on the service holds their defaults
    and bounds; a fine-tune inherits its base model's loss settings unless set here)."""

    steps: int
    image_size: int
    batch_size: int
    lr_g: float
    lr_d: float
    w_adv: float
    w_content: float
    w_style: float
    w_identity: float
    w_color: float
    augment: str
    seed: int
    checkpoint_every: int
    preview_every: int
    eval_images: int
    gate_content_margin: float


def form_text(value: object) -> str:
    """A field's value as the form carries it: booleans in lower case, lists as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value)


def form_fields(options: Mapping[str, object]) -> dict[str, str]:
    """The given options (None: left to the service's default) as form text."""
    return {name: form_text(value) for name, value in options.items() if value is not None}


def _filename(value: IO[bytes], default_name: str) -> str:
    return Path(str(getattr(value, "name", default_name))).name


def file_part(value: FileInput, default_name: str) -> tuple[str, bytes, str]:
    """(filename, bytes, content type) of a multipart file part, read whole (an image is small
    next to the memory its decoding takes on the service)."""
    if isinstance(value, bytes):
        return default_name, value, UNTYPED
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        return path.name, path.read_bytes(), UNTYPED
    return _filename(value, default_name), value.read(), UNTYPED


@contextlib.contextmanager
def streamed_part(value: FileInput, default_name: str) -> Iterator[FilePart]:
    """A multipart file part read as it is sent, never whole into memory (a clip may be
    hundreds of MB): a path is opened, and closed when the block ends; an open file that can
    seek is sent from its start, each attempt again from its start (so a retry resends it
    whole). Bytes, and a file that cannot seek (a pipe: a retry could not resend it), are
    `file_part`'s."""
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        with path.open("rb") as stream:
            yield path.name, stream, UNTYPED
    elif not isinstance(value, bytes) and value.seekable():
        yield _filename(value, default_name), value, UNTYPED
    else:
        yield file_part(value, default_name)
