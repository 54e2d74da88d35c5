"""The video job: the job's model and style, `models.video`'s pipeline over the stored clip with
its segments kept in storage as they finish (worker.video_segments), then the final MP4 joined
from them without re-encoding, and its poster frame; both labelled (an XMP box appended to the
MP4, the poster's as a still's) and, with a C2PA key, signed (worker.provenance).

A job given back by the reaper (its worker killed) resumes at its first unfinished segment; a
canceled, failed or finished job leaves no segment behind. The clip is probed again here: the
API's probe let it in, and this one gives the pipeline the facts it works from.
"""

import tempfile
from pathlib import Path
from typing import Any

from app import crud
from app.images import encode
from app.tables import Job, JobStatus
from contracts.labels import OutputLabel, xmp_packet
from contracts.mp4_xmp import append_xmp
from contracts.timings import Timings
from contracts.video import VideoError
from worker.jobs import JobFailed, JobLost, Progress, run_job
from worker.provenance import (
    Ingredient,
    ProvenanceError,
    ProvenanceSigner,
    clip_ingredients,
    output_label,
    provenance_signer,
)
from worker.runtime import Runtime
from worker.stylization import job_styles, load_stylizer
from worker.video_segments import StoredSegments


def poster_jpeg(clip: Path, xmp: bytes) -> tuple[bytes, int, int]:
    """The first frame of `clip` as a JPEG labelled with `xmp` as a still is
    (app.images.encode), with its size."""
    from PIL import Image

    from models.video.decode import first_frame

    image = Image.fromarray(first_frame(clip))
    data, _ = encode(image, "jpeg", xmp)
    return data, image.width, image.height


def signed(
    signer: ProvenanceSigner,
    label: OutputLabel,
    ingredients: list[Ingredient],
    *,
    video: bytes,
    poster: bytes,
) -> tuple[bytes, bytes]:
    """The MP4 and its poster, each with a C2PA manifest naming the same action and inputs."""
    try:
        return (
            signer.sign(video, "video/mp4", label, ingredients),
            signer.sign(poster, "image/jpeg", label, ingredients),
        )
    except ProvenanceError as exc:
        raise JobFailed("c2pa_signing_failed", str(exc)) from exc


def kept_as_filmed(rt: Runtime, params: dict[str, Any], size: tuple[int, int]) -> Any:
    """The job's `keep_boxes` held over the whole clip: the alpha the pipeline blends each
    frame's result with the frame by (feathered as a still's), after the temporal blend; None
    when the job keeps nothing. One alpha for the clip, made at the output size."""
    if not params.get("keep_boxes"):
        return None
    import numpy as np
    from PIL import Image

    from worker.regions import Framed, keep_alpha

    canvas = Framed(Image.new("RGB", size), size, (0, 0, *size))
    alpha = keep_alpha(rt, params, canvas)
    if alpha is None:
        return None
    # (H, W, 1): 1 = stylized, 0 = the frame's own pixel.
    return np.asarray(alpha, dtype=np.float32)[..., None] / 255.0


def video_work(rt: Runtime, job: Job, progress: Progress, timings: Timings) -> dict[str, Any]:
    """Stylize the job's clip; returns the outcome (the MP4 as the result, the poster's key)."""
    from models.video.decode import output_size
    from models.video.join import join_segments
    from models.video.pipeline import VideoOptions, frame_stylizer, stylize_video
    from models.video.probe import probe
    from models.video.stability import StabilitySettings

    params = job.parameters
    if job.content_sha256 is None:
        raise JobFailed("content_missing", f"job {job.id} has no clip")
    with timings.stage("load_inputs"):
        stylizer, model = load_stylizer(rt, job)
    if model is None:  # load_stylizer refuses a gan job without one; a clip is always gan
        raise JobFailed("no_active_model", "no GAN model is active")
    styles = job_styles(rt, job, stylizer, model, timings)
    stylize = frame_stylizer(
        stylizer,
        styles,
        strength=params.get("strength", 1.0),
        preserve_color=params.get("preserve_color", False),
    )
    options = VideoOptions(
        max_side=params.get("max_side"),
        stability=StabilitySettings(amount=params.get("stability")),
    )
    with rt.storage.local_path(job.content_sha256) as source:
        try:
            info = probe(source, max_seconds=None, max_side=None)
        except VideoError as exc:
            raise JobFailed(exc.code, exc.message) from exc
        sink = StoredSegments(rt, job, progress, info.frames)
        keep = kept_as_filmed(rt, params, output_size(info.width, info.height, options.max_side))
        try:
            with timings.stage("model"):
                run = stylize_video(
                    source, info, stylize, sink, options=options, progress=sink.on_frame, keep=keep
                )
            with tempfile.TemporaryDirectory(prefix="atelier-video-") as folder:
                out = Path(folder) / "result.mp4"
                with timings.stage("encode"):
                    join_segments(sink, run.segments, source, out, rotation=info.rotation)
                    # Labelled as a still is (and, with a C2PA key, signed): worker/provenance.py.
                    label = output_label(job, stylizer, model, medium="video")
                    packet = xmp_packet(label)
                    append_xmp(out, packet)
                    poster, poster_width, poster_height = poster_jpeg(out, packet)
                    video = out.read_bytes()
                    signer = provenance_signer(rt.settings)
                    if signer is not None:
                        ingredients = clip_ingredients(rt.storage, job, source, info.container)
                        video, poster = signed(
                            signer, label, ingredients, video=video, poster=poster
                        )
                with timings.stage("store"), rt.sessions() as session:
                    result = crud.store_image(
                        session,
                        storage=rt.storage,
                        data=video,
                        width=run.size[0],
                        height=run.size[1],
                        content_type="video/mp4",
                    )
                    poster_row = crud.store_image(
                        session,
                        storage=rt.storage,
                        data=poster,
                        width=poster_width,
                        height=poster_height,
                        content_type="image/jpeg",
                    )
        except JobLost:
            raise  # another worker holds the job now, and resumes from these segments
        except VideoError as exc:  # a stream that stops decoding mid-way
            sink.clear()
            raise JobFailed(exc.code, exc.message) from exc
        except Exception:  # canceled, timed out, failed: nothing of the run is kept
            sink.clear()
            raise
        sink.clear()
    return {
        "result_sha256": result.sha256,
        "result_info": {
            "method": stylizer.method,
            "backend": stylizer.backend_info,
            "untrained": bool(stylizer.untrained),
            "model_id": model.id,
            "model_sha256": model.sha256,
            "model_name": model.name,
            "poster_sha256": poster_row.sha256,
            "width": run.size[0],
            "height": run.size[1],
            "frames": info.frames,
            "fps": float(info.fps),
            "duration": round(info.duration, 3),
            "audio": info.has_audio,
            "stability": run.stability,
            "segments": run.segments,
            "frames_resumed": run.frames_resumed,
            "stage_fps": {stage: round(run.times.fps(stage), 1) for stage in run.times.seconds},
            "c2pa_signed": signer is not None,
        },
    }


def run_video(rt: Runtime, job_id: str) -> JobStatus | None:
    """Run a video job (see run_job)."""
    timings = Timings()
    return run_job(
        rt, job_id, lambda rt, job, progress: video_work(rt, job, progress, timings), timings
    )
