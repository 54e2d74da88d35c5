"""A trained modulated generator made lighter, starting from its own weights: summed merges and a
narrower sub-pixel head (issue 18: the decoder's share of a CPU's time).

Why: in the shipped model (v3) each finer stride's first 3x3 convolution reads the entry's map
beside the upsampled coarser one, width + previous width channels in: at 1,024 px on a 2-core
AMD EPYC (Zen 4, AVX-512 + AVX512-BF16, OpenVINO bf16) those three convolutions take 27 ms of
the render's 78, and the head's two 3x3 convolutions at stride 2, 32 wide, 14 more. With the
coarser map projected by a 1x1 convolution at its own stride and added (`GeneratorConfig.merge`
"sum", a feature pyramid's top-down path) and a 16-wide head, the joined graph (untrained
weights: time does not depend on them) took 107 ms against v3's 140, alternated in one process
(docs/benchmarks.md).

The student starts from the teacher's weights wherever they fit, and from a linear fit to them
where the layout changed; distillation (recipes/slimmed.toml) does the rest. The fit is a
starting point, not a substitute: on v3 with la_muse, golden_gate's picture at 512 px starts
37/255 from v3's on average, against 44 with the merges' projections at zero, and on a noise
photo no nearer than that. What the student takes:
- every weight whose name and shape are kept is the teacher's;
- a summed merge's convolution keeps the entry's half of the teacher's kernel W = [W_x | W_h],
  and its projection P is the least-squares solution of W_x P = W_h over the 3x3 taps: then
  W_x (*) (x + up(P h)) is as near as one projection gets to W_x (*) x + W_h (*) up(h);
- the style code's input scales of that convolution keep the entry's channels;
- a narrower head keeps the teacher head's hidden channels that carry most to its output
  (|W1_j| |W2_:j|, the norms of what reads and writes each channel).
"""

from __future__ import annotations

import dataclasses
from typing import cast

import torch

from models.modulated import ModulatedGenerator
from models.networks import build_generator


def _merge_projection(w_x: torch.Tensor, w_h: torch.Tensor) -> torch.Tensor:
    """P (C, J) minimising sum over taps k of |W_x[:, :, k] P - W_h[:, :, k]|^2, for W_x
    (O, C, 3, 3) and W_h (O, J, 3, 3): each tap's O rows stacked, one least-squares problem."""
    a = w_x.permute(2, 3, 0, 1).reshape(-1, w_x.shape[1]).double()  # (9 O, C)
    b = w_h.permute(2, 3, 0, 1).reshape(-1, w_h.shape[1]).double()  # (9 O, J)
    return cast(torch.Tensor, torch.linalg.lstsq(a, b).solution).float()


def _strongest(w_in: torch.Tensor, w_out: torch.Tensor, keep: int) -> torch.Tensor:
    """Indices (sorted) of the `keep` hidden channels whose read (w_in's output j) and write
    (w_out's input j) weights have the largest product of norms."""
    carry = w_in.flatten(1).norm(dim=1) * w_out.transpose(0, 1).flatten(1).norm(dim=1)
    return carry.topk(keep).indices.sort().values


@torch.no_grad()
def slimmed(teacher: ModulatedGenerator, subpixel_width: int | None = None) -> ModulatedGenerator:
    """The teacher's decoder with summed merges (and a `subpixel_width` head, default the
    teacher's), initialised from the teacher's weights as the module's docstring says."""
    config = teacher.config
    if config.architecture != "modulated" or config.head != "subpixel":
        raise ValueError("slimming takes a modulated generator with the sub-pixel head")
    if config.merge != "concat":
        raise ValueError("the generator's merges are already summed")
    width = subpixel_width or config.subpixel_width
    if not 0 < width <= config.subpixel_width:
        raise ValueError(f"the head can narrow from {config.subpixel_width}, not become {width}")
    student = cast(
        ModulatedGenerator,
        build_generator(
            dataclasses.replace(config, merge="sum", subpixel_width=width), tuple(teacher.taps)
        ),
    )
    theirs = teacher.state_dict()
    ours = student.state_dict()
    for name, value in ours.items():
        if name in theirs and theirs[name].shape == value.shape:
            value.copy_(theirs[name])
    widths = config.widths
    for i in range(1, len(widths)):
        kernel = theirs[f"body.{i}.0.1.weight"]  # (width, width + previous, 3, 3): [x | h]
        w_x, w_h = kernel[:, : widths[i]], kernel[:, widths[i] :]
        ours[f"body.{i}.0.1.weight"].copy_(w_x)
        ours[f"body.{i}.0.1.bias"].copy_(theirs[f"body.{i}.0.1.bias"])
        ours[f"merge.{i - 1}.weight"].copy_(_merge_projection(w_x, w_h)[:, :, None, None])
        ours[f"merge.{i - 1}.bias"].zero_()
    # The code's input scales: each convolution's rows, the entry's only where a merge was.
    rows, start = [], 0
    for size, kept in zip(teacher.scale_sizes, student.scale_sizes, strict=True):
        rows.append(torch.arange(start, start + kept))
        start += size
    picked = torch.cat(rows)
    ours["scale.weight"].copy_(theirs["scale.weight"][picked])
    ours["scale.bias"].copy_(theirs["scale.bias"][picked])
    if width < config.subpixel_width:
        w_in, w_out = theirs["to_rgb.conv.1.weight"], theirs["to_rgb.to_phases.1.weight"]
        channels = _strongest(w_in, w_out, width)
        ours["to_rgb.conv.1.weight"].copy_(w_in[channels])
        ours["to_rgb.conv.1.bias"].copy_(theirs["to_rgb.conv.1.bias"][channels])
        ours["to_rgb.to_phases.1.weight"].copy_(w_out[:, channels])
    student.load_state_dict(ours)
    device = next(teacher.parameters()).device
    return cast(ModulatedGenerator, student.to(device).train(teacher.training))
