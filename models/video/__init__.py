"""Video style transfer: a clip in, a stylized clip out, with a steady picture.

- `probe`: what a clip holds (streams, size, rate, duration, frames, audio), checked against
  the limits before any work; torch-free, re-exported from `contracts.video_probe`, which the
  API uses too;
- `errors`: the refusals, each a `VideoError` with a machine-readable `code` (from
  contracts.video);
- `decode`: source frames as RGB arrays with their timestamps;
- `flow`: optical flow between source frames and the pixels it tracks;
- `stability`: flow-guided blending of the previous result into the current one;
- `segments`: finished segments (closed-GOP MP4s) kept by a sink, joined without re-encoding;
- `encode`: one segment's H.264 writer;
- `stages`: a generator run in its own thread behind a bounded queue;
- `pipeline`: decode -> flow -> stylize -> encode, resumable at the first unfinished segment;
- `quality`: warping error and style score, the figures temporal stability is judged by.

This package imports nothing on import, so that `models.video.probe` stays free of torch.
"""
