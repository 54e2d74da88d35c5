"""The web page at `/`: one server-rendered template and a script of ES modules, one per panel,
served as they are (no build step).

The page talks to the same `/v1` API as any client (with the key kept in the browser), so it
needs no routes of its own beyond serving itself; the upload limits are rendered into it so the
browser can check a photo or a clip before sending it.
"""

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app.api.deps import SettingsDep
from app.images import ALLOWED_FORMATS
from contracts import stylize
from contracts.regions import AD_FORMATS, MAX_REGIONS
from contracts.training import BY_API_NAME

APP_DIR = Path(__file__).resolve().parents[1]
STATIC_DIR = APP_DIR / "static"
SCRIPT_DIR = STATIC_DIR / "atelier"  # the page's ES modules; main.js imports the others
templates = Jinja2Templates(directory=APP_DIR / "templates")
router = APIRouter(include_in_schema=False)

FORMAT_NAMES = {"WEBP": "WebP"}
# The ad formats (contracts.regions, the API's `output_size`): the page shows a crop window of
# the format's shape on the photo and sends `output_size` + `crop`; the service crops and scales.
_FORMAT_NAMES = {"1080x1080": "square post", "1200x628": "link ad", "1080x1920": "story"}
SIZE_PRESETS = [
    ("original", "Original size", None),
    *(
        (value, f"{w} × {h} ({_FORMAT_NAMES.get(value, 'ad')})", (w, h))
        for value, (w, h) in AD_FORMATS.items()
    ),
    ("custom", "Custom width × height", None),
]

TRAINING_FORM = ("steps", "image_size", "batch_size", "preview_every")


@lru_cache
def asset_version() -> str:
    """A digest of the static files, appended to their URLs so a new release is never stale."""
    digest = hashlib.sha256()
    for path in sorted(p for p in STATIC_DIR.rglob("*") if p.is_file()):
        digest.update(path.relative_to(STATIC_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@lru_cache
def import_map() -> dict[str, dict[str, str]]:
    """Each module's URL mapped to its versioned URL: the modules import one another by plain
    relative paths (`./api.js`), and the browser's import map adds the version to those too."""
    version = asset_version()
    urls = [
        f"/static/{p.relative_to(STATIC_DIR).as_posix()}" for p in sorted(SCRIPT_DIR.glob("*.js"))
    ]
    return {"imports": {url: f"{url}?v={version}" for url in urls}}


@router.get("/", response_class=HTMLResponse)
def index(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The designer page (and the admin section for admin keys)."""
    limits = {
        "max_upload_bytes": settings.max_upload_bytes,
        "max_pixels": settings.max_pixels,
        "max_upload_side": settings.max_upload_side,
        "formats": [FORMAT_NAMES.get(f, f) for f in ALLOWED_FORMATS],
        "content_types": sorted(ALLOWED_FORMATS.values()),
        "max_campaign_photos": settings.max_campaign_photos,
        "max_regions": MAX_REGIONS,
        # A clip (POST /v1/videos): checked in the browser before the upload, as a photo is.
        "video_max_bytes": settings.video_max_bytes,
        "video_max_seconds": settings.video_max_seconds,
        "video_max_side": settings.video_max_side,
    }
    # The training form's defaults and bounds: the API's own (contracts.training).
    training = {name: BY_API_NAME[name] for name in TRAINING_FORM}
    return templates.TemplateResponse(
        request,
        "index.html",
        {
            "limits": limits,
            "training": training,
            # The colour, texture and stroke controls' defaults and bounds: the API's own.
            "controls": stylize,
            "presets": SIZE_PRESETS,
            "version": asset_version(),
            "import_map": import_map(),
        },
    )


def install(app: FastAPI) -> None:
    """Serve the page at `/` and its script modules and stylesheet under `/static`."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
