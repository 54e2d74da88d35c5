// The photo panel: the photo checked before upload and previewed, and on it the kept regions
// and the ad format's crop window, drawn with Pointer Events (mouse, pen and touch alike).

import { $, LIMITS, state } from "./api.js";
import { clearErrors, mb, showError } from "./messages.js";
import { outputSize } from "./settings.js";

export async function checkImageFile(file) {
  // The same limits the API enforces, checked before anything is uploaded.
  if (file.size === 0) throw new Error("This file is empty.");
  if (file.type && !LIMITS.content_types.includes(file.type)) {
    throw new Error(`This file is not a ${LIMITS.formats.join(", ")} image.`);
  }
  if (file.size > LIMITS.max_upload_bytes) {
    throw new Error(`This file is ${mb(file.size)}; the limit is ${mb(LIMITS.max_upload_bytes)}.`);
  }
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.src = url;
  try {
    await img.decode();
  } catch (_) {
    URL.revokeObjectURL(url);
    throw new Error("This file could not be read as an image: it may be damaged or not a picture.");
  }
  const w = img.naturalWidth;
  const h = img.naturalHeight;
  if (w * h > LIMITS.max_pixels) {
    throw new Error(`This image is ${w} × ${h}: more than ${(LIMITS.max_pixels / 1e6).toFixed(1)} megapixels.`);
  }
  if (Math.max(w, h) > LIMITS.max_upload_side) {
    throw new Error(`This image is ${w} × ${h}: a side is longer than ${LIMITS.max_upload_side} px.`);
  }
  return { file, img, url };
}

async function setPhoto(file) {
  clearErrors("photo", "submit");
  const preview = $("photo-preview");
  try {
    state.photo = await checkImageFile(file);
  } catch (err) {
    state.photo = null;
    preview.hidden = true;
    $("photo-editor").hidden = true;
    $("photo").value = "";
    showError("photo", err.message);
    return;
  }
  preview.src = state.photo.url;
  preview.hidden = false;
  preview.alt = `Preview of ${file.name} (${state.photo.img.naturalWidth} × ${state.photo.img.naturalHeight})`;
  $("photo-editor").hidden = false;
  fitPreview();
  state.boxes = [];
  state.regions = []; // [{box, style}]: painted in another style (the API's `regions`)
  resetCrop();
  drawEditor();
}

function fitPreview() {
  // As large as the column allows (up to 360 px high), small photos too: regions are drawn on it.
  const img = state.photo?.img;
  if (!img || $("photo-editor").hidden) return;
  const scale = Math.min($("photo-editor").clientWidth / img.naturalWidth, 360 / img.naturalHeight);
  $("photo-preview").style.width = `${Math.floor(img.naturalWidth * scale)}px`;
  $("photo-preview").style.height = `${Math.floor(img.naturalHeight * scale)}px`;
}

// --- kept regions and the crop window, drawn on the photo -----------------------------------

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

const MAX_REGIONS = LIMITS.max_regions; // contracts.regions.MAX_REGIONS, rendered into the page
export const round4 = (v) => Math.round(v * 10000) / 10000;

export function resetCrop() {
  // The largest window of the format's shape, centred (what the API does without a crop).
  $("custom-size").hidden = $("size").value !== "custom";
  let size = null;
  try { size = outputSize(); } catch (_) { /* an unfinished custom size: no window yet */ }
  const img = state.photo?.img;
  if (!size || !img) {
    state.crop = null;
  } else {
    const photoRatio = img.naturalWidth / img.naturalHeight;
    const ratio = size[0] / size[1];
    const w = ratio >= photoRatio ? 1 : ratio / photoRatio;
    const h = ratio >= photoRatio ? photoRatio / ratio : 1;
    state.crop = [(1 - w) / 2, (1 - h) / 2, (1 + w) / 2, (1 + h) / 2];
  }
  $("crop-mode").hidden = !state.crop;
  const mode = state.crop ? "crop" : "keep";
  $("editor-modes").querySelector(`input[value=${mode}]`).checked = true;
  drawEditor();
}

function editorMode() {
  const mode = document.querySelector("input[name=editor-mode]:checked").value;
  return mode === "crop" && !state.crop ? "keep" : mode;
}

function styleChoices() {
  // The gallery's saved and built-in styles, as [id, name], for a region's style.
  return [...document.querySelectorAll("input[name=style][value^='style:']")].map((input) => [
    input.value.slice("style:".length),
    input.closest("label").querySelector("span").textContent,
  ]);
}

function regionBox(region, i) {
  // A region painted in another style: its box, a style picker and a remove button.
  const el = document.createElement("div");
  el.className = "keep-box region-box";
  place(el, region.box);
  el.dataset.box = region.box.map(round4).join(",");
  const pick = document.createElement("select");
  pick.setAttribute("aria-label", `Style of region ${i + 1}`);
  for (const [id, name] of styleChoices()) pick.append(new Option(name, id, false, id === region.style));
  region.style = pick.value;
  pick.addEventListener("change", () => { region.style = pick.value; });
  pick.addEventListener("pointerdown", (e) => e.stopPropagation());
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "×";
  remove.setAttribute("aria-label", `Remove styled region ${i + 1}`);
  remove.addEventListener("click", () => { state.regions.splice(i, 1); drawEditor(); });
  el.append(pick, remove);
  return el;
}

function place(el, [x0, y0, x1, y1]) {
  el.style.left = `${x0 * 100}%`;
  el.style.top = `${y0 * 100}%`;
  el.style.width = `${(x1 - x0) * 100}%`;
  el.style.height = `${(y1 - y0) * 100}%`;
}

function drawEditor(draft) {
  const layer = $("keep-layer");
  layer.replaceChildren();
  const boxes = draft ? [...state.boxes, draft] : state.boxes;
  boxes.forEach((box, i) => {
    const el = document.createElement("div");
    el.className = box === draft ? "keep-box draft" : "keep-box";
    place(el, box);
    el.dataset.box = box.map(round4).join(",");
    if (box !== draft) {
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.setAttribute("aria-label", `Remove kept region ${i + 1}`);
      remove.addEventListener("click", () => { state.boxes.splice(i, 1); drawEditor(); });
      const tag = document.createElement("span");
      tag.textContent = "kept";
      el.append(tag, remove);
    }
    layer.append(el);
  });
  state.regions.forEach((region, i) => layer.append(regionBox(region, i)));
  const frame = $("crop-frame");
  frame.hidden = !state.crop;
  if (state.crop) {
    place(frame, state.crop);
    frame.dataset.crop = state.crop.map(round4).join(",");
  }
  const n = state.boxes.length;
  $("clear-boxes").hidden = n === 0;
  $("feather-row").hidden = n + state.regions.length === 0;
  $("editor-hint").textContent = editorMode() === "crop"
    ? "Drag the crop window to choose what the ad shows; the dimmed part is left out."
    : editorMode() === "region"
    ? `Drag on the photo to paint a region in another style (up to ${MAX_REGIONS}); pick its style on it.`
    : n
      ? `${n} region${n > 1 ? "s" : ""} kept photographic (the rest is stylized). Drag to add another.`
      : "Drag on the photo to mark a region to keep photographic (a product, a logo, a price).";
}

function wireEditor() {
  // Pointer Events: one code path for mouse, pen and touch (touch-action: none on the stage).
  const stage = $("editor-stage");
  let drag = null;
  const at = (e) => {
    const r = $("photo-preview").getBoundingClientRect();
    return [clamp((e.clientX - r.left) / r.width, 0, 1), clamp((e.clientY - r.top) / r.height, 0, 1)];
  };
  stage.addEventListener("pointerdown", (e) => {
    if (!state.photo || e.target.closest("button") || e.button > 0) return;
    e.preventDefault();
    try {
      stage.setPointerCapture(e.pointerId); // keep the drag when the finger leaves the photo
    } catch (_) { /* a pointer the browser does not track (a synthetic event) */ }
    drag = { mode: editorMode(), start: at(e), crop: state.crop && [...state.crop], box: null };
  });
  stage.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const [x, y] = at(e);
    const [sx, sy] = drag.start;
    if (drag.mode === "crop") {
      const [x0, y0, x1, y1] = drag.crop;
      const dx = clamp(x - sx, -x0, 1 - x1);
      const dy = clamp(y - sy, -y0, 1 - y1);
      state.crop = [x0 + dx, y0 + dy, x1 + dx, y1 + dy];
      drawEditor();
    } else {
      drag.box = [Math.min(sx, x), Math.min(sy, y), Math.max(sx, x), Math.max(sy, y)];
      drawEditor(drag.box);
    }
  });
  const end = () => {
    if (!drag) return;
    const { box, mode } = drag;
    drag = null;
    // A click or a tiny slip of the finger is not a region.
    if (box && box[2] - box[0] > 0.01 && box[3] - box[1] > 0.01) {
      if (mode !== "region") state.boxes.push(box.map(round4));
      else if (state.regions.length < MAX_REGIONS) state.regions.push({ box: box.map(round4), style: null });
    }
    drawEditor();
  };
  stage.addEventListener("pointerup", end);
  stage.addEventListener("pointercancel", end);
  $("clear-boxes").addEventListener("click", () => { state.boxes = []; drawEditor(); });
  $("editor-modes").addEventListener("change", () => drawEditor());
  // The column's width changes with the window and when the result column appears.
  new ResizeObserver(() => fitPreview()).observe($("photo-editor"));
  $("feather").addEventListener("input", () => { $("feather-value").textContent = `${$("feather").value} px`; });
  for (const id of ["size", "custom-width", "custom-height"]) $(id).addEventListener("change", resetCrop);
}

export async function croppedPreview(size) {
  // The photo as the result will show it (crop window, format's size), for the comparison.
  const img = state.photo.img;
  if (!size) return URL.createObjectURL(state.photo.file);
  const [x0, y0, x1, y1] = state.crop;
  const scale = Math.min(1, 720 / Math.max(...size));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(size[0] * scale);
  canvas.height = Math.round(size[1] * scale);
  const W = img.naturalWidth, H = img.naturalHeight;
  canvas.getContext("2d").drawImage(
    img, x0 * W, y0 * H, (x1 - x0) * W, (y1 - y0) * H, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
  return URL.createObjectURL(blob);
}

export function dropZone(zone, onFiles) {
  // Files dragged from the desktop onto `zone`, highlighted while they hover.
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    onFiles([...e.dataTransfer.files]);
  });
}

export function wirePhoto() {
  $("photo").addEventListener("change", () => { if ($("photo").files[0]) setPhoto($("photo").files[0]); });
  dropZone($("dropzone"), (files) => { if (files[0]) setPhoto(files[0]); });
  wireEditor();
}
