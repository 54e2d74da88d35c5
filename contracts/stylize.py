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

# How a job stylizes: the GAN (a model file, fast) or the optimisation method (no model, slow,
# highest fidelity). The API's `method` field and `atelier stylize --method` take these.
Method = Literal["gan", "optimisation"]
METHODS: tuple[Method, ...] = ("gan", "optimisation")
