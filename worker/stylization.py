"""The stylization job: load the job's model (or the optimisation method) and its styles, run the
pipeline, store the result with the model version and seed that reproduce it."""

import functools
import io
import math
from collections.abc import Callable
from typing import Any

from app import crud
from app.images import encode
from app.tables import ImageSet, Job, JobStatus, ModelFile
from contracts.labels import xmp_packet
from contracts.modelfile import ModelFileError
from contracts.timings import Timings
from worker import regions
from worker.jobs import Finisher, JobFailed, Progress, run_job
from worker.provenance import (
    ProvenanceError,
    job_ingredients,
    output_label,
    provenance_signer,
)
from worker.runtime import Runtime


def load_stylizer(rt: Runtime, job: Job) -> tuple[Any, ModelFile | None]:
    """The job's method: `optimisation`, or `gan` with the job's model, else the active one.

    A gan job with no model fails (`no_active_model`) rather than silently taking minutes with
    the optimisation method. Jobs queued before `method` existed keep their old meaning: the
    model if there is one, else the optimisation method.
    """
    method = job.parameters.get("method")
    if method == "optimisation":
        return rt.stylizer(None, "optimisation"), None
    with rt.sessions() as session:
        model = (
            crud.get_model(session, model_id=job.model_id)
            if job.model_id
            else crud.get_active_model(session)
        )
    if model is None and job.model_id:
        raise JobFailed("model_not_found", f"model {job.model_id} was deleted")
    if model is None and method == "gan":
        raise JobFailed(
            "no_active_model", "no GAN model is active: activate one or ask for method=optimisation"
        )
    if model is None:
        return rt.stylizer(None, "optimisation"), None
    try:
        with rt.storage.local_path(model.sha256) as path:
            return rt.stylizer(path, model.sha256), model
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:  # metadata the loader did not expect
        raise ModelFileError(f"model {model.id}: {type(exc).__name__}: {exc}") from exc


def warm_active_model(rt: Runtime) -> str:
    """Load the active model and run one whole job's path once (a painting's statistics, the
    photo, palette matching, the picture out; `GANStylizer.warm_up`), before the worker takes
    its first job, at the largest side one pass runs (the default tile size, or less where the
    backend says so): a fresh worker's first job then pays neither the load nor the backend's
    first allocations nor any step's first use.
    Why the largest side: OpenVINO's dynamic graph keeps the buffers of the largest shape it
    ran, so a later, smaller first job allocates nothing (measured, a 512 px first call:
    104-111 ms after a 1,024 px warm-up, 139-148 ms after a 256 px one; a warm call 69-80 ms).
    Then the common photo shapes (models.inference.common_photo_shapes), whose first photo
    would otherwise pay for its kernels. What it did, for the log."""
    from models.inference import common_photo_shapes

    with rt.sessions() as session:
        model = crud.get_active_model(session)
    if model is None:
        return "no active model to warm up"
    with rt.storage.local_path(model.sha256) as path:
        stylizer = rt.stylizer(path, model.sha256)
    shapes = common_photo_shapes() if rt.settings.warm_photo_shapes else []
    warmed = stylizer.warm_up(rt.settings.default_tile_size, shapes)
    backend = " ".join(str(v) for v in stylizer.backend_info.values())
    return (
        f"model {model.name} ({model.sha256[:12]}) loaded and warm on {backend},"
        f" with {warmed} common photo shapes"
    )


def job_styles(
    rt: Runtime, job: Job, stylizer: Any, model: ModelFile | None, timings: Timings
) -> list[Any]:
    """The styles to blend: the job's image, or its style set. The GAN takes statistics: a set's
    are stored once per model and set content, a single image's cached per process; the
    optimisation method takes the images."""

    def image(key: str, max_side: int | None = None) -> Any:
        with timings.stage("load_inputs"):
            data = rt.storage.get(key)
        with timings.stage("decode"):
            return decode(data, max_side)

    if job.style_set_id is None:
        style_key = job.style_sha256
        if style_key is None:
            raise JobFailed("style_missing", f"job {job.id} names no style image and no set")
        return styles_of(rt, style_key, stylizer, model, timings)
    with timings.stage("load_inputs"), rt.sessions() as session:
        image_set = crud.get_image_set(session, set_id=job.style_set_id, kind="style")
        if image_set is None:
            raise JobFailed("style_set_not_found", f"style set {job.style_set_id} was deleted")
        keys = [m.image_sha256 for m in crud.set_members(session, set_id=image_set.id)]
    if model is None:
        return [image(k) for k in keys]
    with timings.stage("style_stats"):
        return [style_set_stats(rt, stylizer, model.sha256, image_set, keys, image)]


def styles_of(
    rt: Runtime, style_key: str, stylizer: Any, model: ModelFile | None, timings: Timings
) -> list[Any]:
    """One stored style image as the method takes it: its statistics for the GAN (cached per
    process), its pixels for the optimisation method."""

    def image(max_side: int | None = None) -> Any:
        with timings.stage("load_inputs"):
            data = rt.storage.get(style_key)
        with timings.stage("decode"):
            return decode(data, max_side)

    if model is None:  # the optimisation method needs the pixels
        return [image()]
    with timings.stage("style_stats"):
        return [
            rt.style_stats(
                stylizer,
                model.sha256,
                style_key,
                lambda: image(getattr(stylizer, "style_size", None)),
            )
        ]


def decode(data: bytes, max_side: int | None = None) -> Any:
    """A stored image's pixels (RGB PNGs or JPEGs, or the result formats). With `max_side`,
    a JPEG is decoded at the smallest of 1, 1/2, 1/4 or 1/8 scale that still covers it (DCT
    scaling): a style the model reads at 512 px need not be decoded at 4000."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    if max_side is not None and image.format == "JPEG":
        w, h = image.size
        scale = max_side / max(w, h)
        if scale < 1:  # Pillow keeps each side at least the size asked for
            image.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))
    return image.convert("RGB")


def style_set_stats(
    rt: Runtime,
    stylizer: Any,
    model_key: str,
    image_set: ImageSet,
    keys: list[str],
    image: Callable[[str], Any],
) -> Any:
    """The set's blended statistics for this model: from storage, or computed and stored."""
    from models.networks import StyleStats

    with rt.sessions() as session:
        row = crud.get_set_stats(
            session, set_id=image_set.id, model_key=model_key, set_digest=image_set.digest
        )
    if row is not None:
        return rt.load_stats(row.stats_sha256)
    stats = StyleStats.blend([stylizer.style_stats(image(k)) for k in keys], [1.0] * len(keys))
    stats_key = rt.store_stats(stats)
    with rt.sessions() as session:
        crud.save_set_stats(
            session,
            set_id=image_set.id,
            model_key=model_key,
            set_digest=image_set.digest,
            stats_sha256=stats_key,
        )
    return stats


def stylize_work(
    rt: Runtime, job: Job, progress: Progress, timings: Timings | None = None
) -> Callable[[], dict[str, Any]]:
    """Stylize the job's photo; returns its last stage (put back kept regions, encode, store),
    which the worker may run while it takes the next job. `timings` gets each stage's
    seconds."""
    import torch

    timings = timings or Timings()
    params = job.parameters
    if job.content_sha256 is None:
        raise JobFailed("content_missing", f"job {job.id} has no content image")
    with timings.stage("load_inputs"):
        content_data = rt.storage.get(job.content_sha256)
        stylizer, model = load_stylizer(rt, job)
    with timings.stage("decode"):
        upload = decode(content_data)
        framed = regions.frame(upload, params)  # cropped and scaled to an ad format, if asked
    content = framed.photo
    styles = job_styles(rt, job, stylizer, model, timings)
    seed = int(params.get("seed", 0))
    torch.manual_seed(seed)  # any random draw in the method repeats with the recorded seed
    # The job's settings, for its main style and for each region's.
    options = {
        "strength": params.get("strength", 1.0),
        "preserve_color": params.get("preserve_color", False),
        # Jobs queued before the split recorded one `max_side` for both sizes.
        "tile_size": params.get("tile_size", params.get("max_side")),
        "working_size": params.get("working_size", params.get("max_side")),
        # Issue 21: unset in a job queued before them (None: the shorthands, the photo's size).
        "color_strength": params.get("color_strength"),
        "texture_strength": params.get("texture_strength"),
        "stroke_scale": params.get("stroke_scale"),
    }
    # Each distinct region style is one more pass of the model: progress counts them all.
    passes = 1 + len(regions.region_styles(params))
    done = [0]

    def part(fraction: float) -> None:
        progress((done[0] + fraction) / passes)

    with timings.stage("model"):
        result = stylizer(content, styles, progress=part, **options)

        def region_style(style_key: str) -> Any:
            # A region's style: one more pass per distinct style (regions.MAX_REGIONS at most).
            done[0] += 1
            style = styles_of(rt, style_key, stylizer, model, timings)
            return stylizer(content, style, progress=part, **options)

        result = regions.paint_regions(rt, params, framed, result, region_style)

    def last_stage() -> dict[str, Any]:
        with timings.stage("regions"):
            # Kept regions back from the photo.
            image = regions.protect(rt, params, framed, result)
        with timings.stage("encode"):
            # Labelled (and, with a C2PA key, signed): worker/provenance.py.
            label = output_label(job, stylizer, model)
            data, content_type = encode(
                image, params.get("output_format", "png"), xmp_packet(label)
            )
            signer = provenance_signer(rt.settings)
            if signer is not None:
                ingredients = job_ingredients(rt.storage, job, content_data)
                try:
                    data = signer.sign(data, content_type, label, ingredients)
                except ProvenanceError as exc:
                    raise JobFailed("c2pa_signing_failed", str(exc)) from exc
        with timings.stage("store"), rt.sessions() as session:
            row = crud.store_image(
                session,
                storage=rt.storage,
                data=data,
                width=image.width,
                height=image.height,
                content_type=content_type,
            )
        return {
            "result_sha256": row.sha256,
            "result_info": {
                "method": stylizer.method,  # what ran: "gan" or "optimisation"
                # The inference backend that ran it (models.backends): name and version.
                "backend": stylizer.backend_info,
                "untrained": bool(stylizer.untrained),
                # The model version that made the result; with `seed` it reproduces it.
                "model_id": model.id if model is not None else None,
                "model_sha256": model.sha256 if model is not None else None,
                "model_name": model.name if model is not None else None,
                "seed": seed,
                "c2pa_signed": signer is not None,
            },
        }

    return last_stage


def run_stylize(
    rt: Runtime,
    job_id: str,
    enqueued_at: float | None = None,
    *,
    finisher: Finisher | None = None,
    on_done: Callable[[JobStatus | None], None] | None = None,
) -> JobStatus | None:
    """Run a stylization job; with a `finisher`, its last stage runs there (see run_job)."""
    timings = Timings(enqueued_at)
    work = functools.partial(stylize_work, timings=timings)
    return run_job(rt, job_id, work, timings, finisher=finisher, on_done=on_done)
