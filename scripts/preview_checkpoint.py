"""Stylize a few sample photos with the EMA generator of a training checkpoint (quick look)."""

import sys
from pathlib import Path

from models.checkpoint import load_checkpoint
from models.encoders import build_encoder
from models.evaluation import contact_sheet
from models.images import list_images, load_image, resize_max_side
from models.inference import GANStylizer
from models.networks import GeneratorConfig, build_generator
from models.stylizer import select_device


def main(checkpoint: str, content_dir: str, style_dir: str, out: str, size: int = 256) -> None:
    state = load_checkpoint(checkpoint)  # tensors and JSON; never unpickled code
    config = state["config"]
    encoder = build_encoder(config["encoder"])
    generator = build_generator(GeneratorConfig.from_dict(config["generator"]), encoder.taps)
    generator.load_state_dict(state["G_ema"])
    stylizer = GANStylizer(generator, encoder, select_device("cpu"))
    contents = [resize_max_side(load_image(p), size) for p in list_images(content_dir)[:4]]
    styles = [resize_max_side(load_image(p), size) for p in list_images(style_dir)[:4]]
    rows = [[c, s, stylizer(c, [s])] for c in contents for s in styles]
    contact_sheet(rows, ["content", "style", f"step {state['step']}"], cell=160).save(out)
    print(f"step {state['step']}: wrote {Path(out)}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
