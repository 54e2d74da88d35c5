"""Style credits as the API records them with a job, and a campaign archive's CREDITS.txt.

The credit of the style a submission names is recorded in the job's parameters
(`style_credits`, a list: one entry per style the result used) when it is submitted; the worker
writes it into the result's label (worker/provenance.py) and the archive lists it here.
"""

from collections.abc import Sequence

from app.tables import Job, Style
from contracts.credits import BUILTIN, STYLE_SET, UPLOADER, StyleCredit
from contracts.labels import DIGITAL_SOURCE_TYPE


def style_credit(style: Style) -> StyleCredit:
    """A saved or built-in style's credit."""
    return StyleCredit(
        name=style.name,
        origin=BUILTIN if style.is_builtin else UPLOADER,
        title=style.title,
        artist=style.artist,
        source_url=style.source_url,
        licence=style.licence,
    )


def upload_credit(filename: str | None) -> StyleCredit:
    """A style file sent with a job or a campaign: nothing declared, its file name known."""
    return StyleCredit(name=filename or "style", origin=UPLOADER)


def set_credit(name: str) -> StyleCredit:
    """A style set, or one image of it: its name only."""
    return StyleCredit(name=name, origin=STYLE_SET)


def recorded_credits(
    main: StyleCredit | None, regions: Sequence[StyleCredit] = ()
) -> list[dict[str, str | None]]:
    """A job's `style_credits`: the main style's, then each other style its `regions` paint,
    every style once (a region in the main style adds nothing)."""
    recorded: list[dict[str, str | None]] = []
    for credit in ([main] if main is not None else []) + list(regions):
        if credit.as_dict() not in recorded:
            recorded.append(credit.as_dict())
    return recorded


def job_credits(job: Job) -> list[StyleCredit]:
    return [StyleCredit.from_dict(c) for c in job.parameters.get("style_credits", [])]


def campaign_credits_text(campaign_name: str, members: Sequence[tuple[str, Job]]) -> str:
    """CREDITS.txt of a campaign's archive: each style's credit with the files made in it, and
    each model with its sha256. `members` are (file name in the archive, the child job)."""
    by_style: dict[int, tuple[list[StyleCredit], list[str]]] = {}
    models: dict[str, tuple[str, list[str]]] = {}
    for filename, job in members:
        credits, files = by_style.setdefault(int(job.parameters.get("campaign_style", 0)), ([], []))
        # One photo's styled regions may add styles another photo's image does not use.
        credits += [c for c in job_credits(job) if c not in credits]
        files.append(filename)
        info = job.result_info or {}
        sha = info.get("model_sha256")
        key = sha or "optimisation"
        name = f"{info.get('model_name')} (sha256 {sha})" if sha else "the optimisation method"
        models.setdefault(key, (name, []))[1].append(filename)
    lines = [
        f"Credits for the campaign {campaign_name!r}",
        "",
        "Every image here is a photo stylized by a trained model. Each says so in its own",
        f"metadata (XMP Iptc4xmpExt:DigitalSourceType {DIGITAL_SOURCE_TYPE}),",
        "with the software, the model's name and sha256, and the style's credit.",
        "",
        "Styles:",
    ]
    if not by_style:
        lines.append("  (no finished image yet)")
    for number, (_, (credits, files)) in enumerate(sorted(by_style.items()), start=1):
        text = "; ".join(c.line() for c in credits) or "not recorded (submitted before credits)"
        lines += [f"  {number}. {text}", f"     in: {', '.join(files)}"]
    lines += ["", "Made by:"]
    lines += [f"  {name}: {len(files)} image(s)" for name, files in models.values()]
    if not models:
        lines.append("  (no finished image yet)")
    return "\n".join(lines) + "\n"
