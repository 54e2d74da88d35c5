"""Facts that the API, the worker, the GAN and the CLI share, each written once.

Pure Python: no torch, no pydantic, no FastAPI, nothing from `app`, `worker`, `models` or `cli`
(checked by import-linter), so every process can import it, the API's included.

- `contracts.training`: the training settings (name, type, default, bounds), augmentation names;
- `contracts.images`: the image file suffixes every part reads, and the name-length rule;
- `contracts.modelfile`: the model-file format name and the safetensors header parsing;
- `contracts.stylize`: the stylization sizes (GAN tile size, optimisation working size);
- `contracts.credits`: a style's credit (whose painting) and the rule for declared credit fields;
- `contracts.labels`: the label every result carries (XMP: made by a trained model, the model,
  the style's credit), written and read;
- `contracts.timings`: a job's stages as the worker and the API time them;
- `contracts.video`: a clip's limits, the video error codes, the segment length.
"""
