"""Stylization sizes, each named for what it is.

- tile size (the GAN): the largest side the generator processes in one pass; a bigger photo is
  processed in overlapping tiles. The result always has the photo's size.
- working size (the optimisation method): the longer side it optimises at; the result is then
  upscaled to the photo's size.
- the upload limit (`Settings.max_upload_side`, the API's): the largest side accepted at all.

The API and `atelier stylize` take tile and working sizes from MIN_SIDE up; the API also refuses
one above its upload limit, which no uploaded photo can exceed.
"""

from typing import Literal

MIN_SIDE = 32  # below this the encoder's stride-16 taps hold one or two cells: no picture left

# The service's tile size when a job names none (ATELIER_DEFAULT_TILE_SIZE). 1,280 and not 1,024:
# a 4096x2731 photo takes 12 tiles instead of 20, and tiles share 224 px, so 21% fewer pixels
# pass through the model. Measured (benchmarks/stylize.py, shipped v2, OpenVINO bf16, 2-core
# AVX-512 EPYC, 2026-12-07): 2.12 s and 1,220 MiB peak against 2.36 s and 1,057 MiB at 1,024
# (1,536: 1.97 s but 1,467 MiB, near the 1.5 GB bound). docs/benchmarks.md has the run.
DEFAULT_TILE_SIZE = 1280

# How a job stylizes: the GAN (a model file, fast) or the optimisation method (no model, slow,
# highest fidelity). The API's `method` field and `atelier stylize --method` take these.
Method = Literal["gan", "optimisation"]
METHODS: tuple[Method, ...] = ("gan", "optimisation")


# Finer control of the style (issue 21). Each control's default and bounds, once: the API's
# fields, `atelier stylize`'s options and the page's sliders read them from here.

# How far the colours move to the painting's palette, and how much of the decoder's marks
# (luminance structure) is kept; 0..1 each. Unset: the `strength`/`preserve_color` shorthands.
CONTROL_MIN = 0.0
CONTROL_MAX = 1.0
COLOR_STRENGTH_DEFAULT = 1.0
TEXTURE_STRENGTH_DEFAULT = 1.0

# The size of the style's marks relative to the picture. 1.0 is the look the GAN gives a photo
# whose longer side is STROKE_REFERENCE_SIDE; 2.0 marks twice as large (the GAN works at half
# that side), 0.5 half as large. Unset: the GAN works at the photo's own size, as before.
STROKE_REFERENCE_SIDE = 1024
STROKE_SCALE_MIN = 0.25
STROKE_SCALE_MAX = 4.0
STROKE_SCALE_DEFAULT = 1.0


def stroke_working_side(stroke_scale: float) -> int:
    """The longer side the GAN paints at for `stroke_scale` (a multiple of 16, the encoder's
    stride): the result is then carried to the photo's size."""
    if not STROKE_SCALE_MIN <= stroke_scale <= STROKE_SCALE_MAX:
        raise ValueError(f"stroke_scale must be between {STROKE_SCALE_MIN} and {STROKE_SCALE_MAX}")
    return max(MIN_SIDE, round(STROKE_REFERENCE_SIDE / stroke_scale / 16) * 16)


def resolve_controls(
    strength: float,
    preserve_color: bool,
    color_strength: float | None,
    texture_strength: float | None,
) -> tuple[float, float] | None:
    """The (colour, texture) pair a job asks for, or None when it gives only the shorthands.

    `strength` and `preserve_color` are shorthands: strength s moves both (colour s, texture s,
    by blending the decoder's features), preserve_color sets colour to 0. Giving either control
    with a shorthand that is not its default is a contradiction, refused (ValueError).
    """
    if color_strength is None and texture_strength is None:
        return None
    if strength != 1.0 or preserve_color:
        raise ValueError(
            "strength and preserve_color are shorthands for color_strength and "
            "texture_strength: give one or the other"
        )
    color = COLOR_STRENGTH_DEFAULT if color_strength is None else color_strength
    texture = TEXTURE_STRENGTH_DEFAULT if texture_strength is None else texture_strength
    for name, value in (("color_strength", color), ("texture_strength", texture)):
        if not CONTROL_MIN <= value <= CONTROL_MAX:
            raise ValueError(f"{name} must be between {CONTROL_MIN} and {CONTROL_MAX}")
    return color, texture
