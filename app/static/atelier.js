// Atelier page: plain JavaScript against the /v1 API, no framework and no build step.
// The API key lives in localStorage; every request sends it as a Bearer token, so images are
// fetched with it and shown from blob: URLs.
"use strict";

const LIMITS = JSON.parse(document.getElementById("limits").textContent);
const KEY_STORE = "atelier.apiKey";
const POLL_MS = 500;
const $ = (id) => document.getElementById(id);

const state = {
  key: null,
  me: null,
  photo: null, // {file, img, url}
  prepared: null, // {url}: the photo as the result shows it (the crop window, for the comparison)
  boxes: [], // kept regions, [x0, y0, x1, y1] relative to the photo (sent as keep_boxes)
  crop: null, // the ad format's crop window, [x0, y0, x1, y1] relative (sent as crop)
  campaign: null, // {id, timer, files: [File]}
  job: null,
  jobTimer: null,
  features: { styleSets: false, contentSets: false, adminTrainings: false },
  training: null, // {id, timer, series: Map(name -> [[step, value]])}
};

// --- API ----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, { method = "GET", body, json, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${state.key}` };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(path, { method, body, headers });
  } catch (err) {
    throw new ApiError(0, "network", "The server could not be reached. Check your connection and try again.");
  }
  if (!res.ok) {
    let code = `http_${res.status}`;
    let message = res.statusText;
    try {
      const body = await res.json();
      code = body.error.code;
      message = body.error.message;
    } catch (_) { /* not our JSON error shape */ }
    throw new ApiError(res.status, code, message);
  }
  if (raw) return res;
  return res.status === 204 ? null : res.json();
}

const blobUrls = new Map();
async function imageUrl(path) {
  // Authenticated images (results, style thumbnails) become blob: URLs, fetched once each.
  if (!blobUrls.has(path)) {
    const res = await api(path, { raw: true });
    blobUrls.set(path, URL.createObjectURL(await res.blob()));
  }
  return blobUrls.get(path);
}

async function routeExists(path) {
  // A missing route answers 404 with code not_found; a present one answers 200 (or 405).
  try {
    await api(path);
    return true;
  } catch (err) {
    return !(err.status === 404 && err.code === "not_found");
  }
}

// --- plain words ----------------------------------------------------------------------------

const mb = (n) => `${(n / 1048576).toFixed(1)} MB`;

function plain(err) {
  const words = {
    network: err.message,
    unauthorized: "This API key was not recognised. Check it and paste it again.",
    forbidden: "This needs an admin key.",
    empty_file: "This file is empty.",
    unsupported_format: "This file is not a PNG, JPEG, WebP or GIF image.",
    corrupt_image: "This image could not be read: it may be damaged or incomplete.",
    animated_image: "Animated images are not supported: use a single still picture.",
    too_many_pixels: `This image has too many pixels (the limit is ${(LIMITS.max_pixels / 1e6).toFixed(1)} megapixels).`,
    image_too_large: `This image is too big: each side can be at most ${LIMITS.max_upload_side} px.`,
    file_too_large: `This file is too large: the limit is ${mb(LIMITS.max_upload_bytes)}.`,
    style_not_found: "This style no longer exists. Pick another one.",
    style_set_not_found: "This style set no longer exists. Pick another one.",
    style_required: "Pick a style from the gallery, or upload a painting.",
    model_not_found: "The chosen model no longer exists.",
    no_active_model: "No style model is ready on the server yet. Ask an admin to activate one.",
    model_invalid: "The server's style model could not be loaded. Ask an admin to check it.",
    job_not_succeeded: "This job has no result yet.",
    box_outside: "A kept region reaches past the photo: draw it again inside the photo.",
    mask_all_black: "Everything is kept: leave some of the photo to stylize.",
    too_many_photos: `A campaign takes at most ${LIMITS.max_campaign_photos} photos.`,
  };
  return words[err.code] || err.message || "Something went wrong.";
}

// Which field an API error belongs to: the API names the form field in its message.
function errorField(err) {
  const named = /'(content|style|image|file|images)'/.exec(err.message || "");
  if (named) return named[1] === "content" ? "photo" : "style";
  if (err.code === "unauthorized") return "key";
  if (["style_not_found", "style_set_not_found", "style_required"].includes(err.code)) return "style";
  if (["file_too_large", "invalid_box", "box_outside", "invalid_mask", "mask_all_black"].includes(err.code)) return "photo";
  if (["invalid_size", "invalid_crop"].includes(err.code)) return "settings";
  if (err.code === "invalid_parameter") return "settings";
  return "submit";
}

function showError(field, message) {
  const el = $(`${field}-error`);
  el.textContent = message || "";
  if (message) el.closest("fieldset, form, section")?.scrollIntoView({ block: "nearest" });
}

function clearErrors(...fields) {
  for (const f of fields) showError(f, "");
}

// --- key ------------------------------------------------------------------------------------

async function useKey(key, { fromStorage = false } = {}) {
  state.key = key;
  try {
    state.me = await api("/v1/me");
  } catch (err) {
    state.key = null;
    state.me = null;
    showKeyForm();
    showError("key", err.code === "unauthorized"
      ? (fromStorage ? "The saved API key no longer works. Paste a current one." : plain(err))
      : plain(err));
    return false;
  }
  localStorage.setItem(KEY_STORE, key);
  clearErrors("key");
  $("key-section").hidden = true;
  $("designer").hidden = false;
  $("change-key").hidden = false;
  $("who").textContent = `Signed in with ${state.me.name}'s ${state.me.is_admin ? "admin " : ""}key`;
  await detectFeatures();
  loadGallery();
  loadRecent();
  $("admin").hidden = !state.me.is_admin;
  if (state.me.is_admin) loadAdmin();
  return true;
}

function showKeyForm() {
  $("key-section").hidden = false;
  $("designer").hidden = true;
  $("admin").hidden = true;
  $("change-key").hidden = true;
  $("who").textContent = "";
  $("api-key").focus();
}

async function detectFeatures() {
  // Issue-4 routes (style sets, admin trainings, rollback) may or may not be deployed yet.
  state.features.styleSets = await routeExists("/v1/style-sets");
  if (!state.me.is_admin) return;
  state.features.contentSets = await routeExists("/v1/content-sets");
  state.features.adminTrainings = await routeExists("/v1/admin/trainings");
}

// --- photo ----------------------------------------------------------------------------------

async function checkImageFile(file) {
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
const round4 = (v) => Math.round(v * 10000) / 10000;

function outputSize() {
  // The chosen size as [W, H], null for the photo's own size; an Error for a bad custom size.
  const option = $("size").selectedOptions[0];
  if (option.value === "custom") {
    const w = Number($("custom-width").value);
    const h = Number($("custom-height").value);
    const max = LIMITS.max_upload_side;
    if (![w, h].every((v) => Number.isInteger(v) && v >= 32 && v <= max)) {
      throw new Error(`A custom size is two whole numbers of pixels, each from 32 to ${max}.`);
    }
    return [w, h];
  }
  return option.dataset.width ? [Number(option.dataset.width), Number(option.dataset.height)] : null;
}

function resetCrop() {
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
  const modes = $("editor-modes");
  modes.hidden = !state.crop;
  const mode = state.crop ? "crop" : "keep";
  modes.querySelector(`input[value=${mode}]`).checked = true;
  drawEditor();
}

function editorMode() {
  return state.crop ? document.querySelector("input[name=editor-mode]:checked").value : "keep";
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
  const frame = $("crop-frame");
  frame.hidden = !state.crop;
  if (state.crop) {
    place(frame, state.crop);
    frame.dataset.crop = state.crop.map(round4).join(",");
  }
  const n = state.boxes.length;
  $("clear-boxes").hidden = n === 0;
  $("feather-row").hidden = n === 0;
  $("editor-hint").textContent = editorMode() === "crop"
    ? "Drag the crop window to choose what the ad shows; the dimmed part is left out."
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
    const box = drag.box;
    drag = null;
    // A click or a tiny slip of the finger is not a region.
    if (box && box[2] - box[0] > 0.01 && box[3] - box[1] > 0.01) state.boxes.push(box.map(round4));
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

async function croppedPreview(size) {
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

// --- styles ---------------------------------------------------------------------------------

function styleCard(value, name, badge, info) {
  const label = document.createElement("label");
  label.className = "style-card";
  if (info?.artist) {
    label.classList.add("builtin");
    label.title = `${info.title || name}, ${info.artist}, ${info.year} (${info.movement || "public domain"})`;
  }
  const input = document.createElement("input");
  input.type = "radio";
  input.name = "style";
  input.value = value;
  const img = document.createElement("img");
  img.alt = "";
  const caption = document.createElement("span");
  caption.textContent = name;
  label.append(input, img, caption);
  if (info?.artist) {
    const by = document.createElement("small");
    by.textContent = info.artist;
    label.append(by);
  }
  if (badge) {
    const b = document.createElement("span");
    b.className = "badge";
    b.textContent = badge;
    label.append(" ", b);
  }
  return { label, img };
}

async function loadGallery(selectValue) {
  const gallery = $("style-gallery");
  const previous = selectValue || document.querySelector("input[name=style]:checked")?.value;
  gallery.replaceChildren();
  const cards = [];
  try {
    const styles = await api("/v1/styles");
    // Your own styles first, then the built-in paintings (the API lists them in that order).
    for (const style of styles.data) {
      const card = styleCard(`style:${style.id}`, style.name, null, style.builtin ? style.info : null);
      cards.push([card, style.image_url]);
    }
    if (state.features.styleSets) {
      const sets = await api("/v1/style-sets");
      for (const set of sets.data) {
        const thumb = set.thumbnail_url || set.images?.[0]?.thumbnail_url || set.images?.[0]?.image_url;
        cards.push([styleCard(`set:${set.id}`, set.name, "set"), thumb]);
      }
    }
  } catch (err) {
    showError("style", plain(err));
  }
  for (const [card] of cards) gallery.append(card.label);
  $("gallery-empty").hidden = cards.length > 0;
  for (const [card, url] of cards) {
    if (url) imageUrl(url).then((src) => { card.img.src = src; }).catch(() => {});
  }
  const again = previous && gallery.querySelector(`input[value="${CSS.escape(previous)}"]`);
  if (again) again.checked = true;
  else if (previous === "upload") $("style-upload-choice").checked = true;
}

// --- submit and follow a job ----------------------------------------------------------------

async function submit(event) {
  event.preventDefault();
  clearErrors("photo", "style", "settings", "submit");
  if (!state.photo) {
    showError("photo", "Choose a photo first.");
    $("photo").focus();
    return;
  }
  const chosen = styleAndSize();
  if (!chosen) return;
  const { choice, styleFile, size } = chosen;
  const button = $("submit");
  button.disabled = true;
  try {
    const form = new FormData();
    form.append("content", state.photo.file, state.photo.file.name);
    if (state.boxes.length) {
      form.append("keep_boxes", JSON.stringify(state.boxes));
      form.append("feather", $("feather").value);
    }
    if (size) {
      if (!state.crop) resetCrop(); // a custom size typed without leaving the field
      form.append("output_size", `${size[0]}x${size[1]}`);
      form.append("crop", JSON.stringify(state.crop.map(round4)));
    }
    if (choice === "upload") {
      try {
        await checkImageFile(styleFile);
      } catch (err) {
        showError("style", err.message);
        return;
      }
      if ($("save-style").checked) {
        const body = new FormData();
        body.append("image", styleFile, styleFile.name);
        const style = await api("/v1/styles", { method: "POST", body });
        form.append("style_id", style.id);
        loadGallery(`style:${style.id}`);
      } else {
        form.append("style", styleFile, styleFile.name);
      }
    } else if (choice.startsWith("set:")) {
      form.append("style_set_id", choice.slice(4));
    } else {
      form.append("style_id", choice.slice(6));
    }
    appendSettings(form);
    const job = await api("/v1/stylizations", { method: "POST", body: form });
    if (state.prepared?.url) URL.revokeObjectURL(state.prepared.url);
    state.prepared = { url: await croppedPreview(size) };
    follow(job);
    loadRecent();
  } catch (err) {
    if (err instanceof ApiError) {
      const field = errorField(err);
      showError(field === "key" ? "submit" : field, plain(err));
    } else {
      showError("submit", err.message);
    }
  } finally {
    button.disabled = false;
  }
}

function styleAndSize() {
  // The chosen style and output size, or null with the error shown by its field.
  const choice = document.querySelector("input[name=style]:checked")?.value;
  const styleFile = $("style-file").files[0];
  if (!choice || (choice === "upload" && !styleFile)) {
    showError("style", choice ? "Choose the painting to use as the style." : "Pick a style from the gallery, or upload a painting.");
    return null;
  }
  try {
    return { choice, styleFile, size: outputSize() };
  } catch (err) {
    showError("settings", err.message);
    return null;
  }
}

function appendSettings(form) {
  // The options a single job and a campaign share.
  form.append("strength", $("strength").value);
  form.append("preserve_color", $("preserve-color").checked ? "true" : "false");
  form.append("output_format", $("output-format").value);
  form.append("method", $("method").value);
}

function statusText(job) {
  switch (job.status) {
    case "queued": return "Waiting for a free worker…";
    case "running": {
      const eta = job.eta_seconds != null ? ` · about ${Math.max(1, Math.round(job.eta_seconds))} s left` : "";
      return `Working: ${job.percent}%${eta}`;
    }
    case "succeeded": return "Done: 100%";
    case "canceled": return "Canceled";
    default: return `Failed: ${job.error ? plain(new ApiError(0, job.error.code, job.error.message)) : "unknown error"}`;
  }
}

function follow(job) {
  clearTimeout(state.jobTimer);
  state.job = job;
  $("job-section").hidden = false;
  $("job-section").dataset.jobId = job.id;
  $("compare").hidden = true;
  $("compare-slider").hidden = true;
  $("compare-label").hidden = true;
  $("download").hidden = true;
  $("try-another").hidden = true;
  document.body.classList.add("has-result");
  render(job);
  $("job-section").scrollIntoView({ block: "nearest" });
}

async function render(job) {
  $("job-progress").value = job.percent;
  $("job-progress").setAttribute("aria-valuetext", `${job.percent}%`);
  const status = $("job-status");
  status.textContent = statusText(job);
  status.className = `status-${job.status}`;
  if (job.status === "queued" || job.status === "running") {
    state.jobTimer = setTimeout(async () => {
      try {
        const fresh = await api(`/v1/jobs/${job.id}`);
        if (state.job?.id === fresh.id) render(fresh);
      } catch (err) {
        status.textContent = plain(err);
        state.jobTimer = setTimeout(() => render(job), POLL_MS * 4);
      }
    }, POLL_MS);
    return;
  }
  $("try-another").hidden = false;
  if (job.status === "succeeded") await showResult(job);
  loadRecent();
}

async function showResult(job) {
  const url = await imageUrl(job.result_url);
  $("before").src = state.prepared?.url || "";
  $("after").src = url;
  $("compare").hidden = !state.prepared;
  $("compare-slider").hidden = !state.prepared;
  $("compare-label").hidden = !state.prepared;
  if (!state.prepared) {
    // A job from the recent list: no original at hand, show the result alone.
    $("before").src = url;
    $("compare").hidden = false;
  }
  setCompare(state.prepared ? $("compare-slider").value : 100);
  const download = $("download");
  download.href = url;
  download.download = `atelier-${job.id}.${extension(job)}`;
  download.hidden = false;
}

function extension(job) {
  const fmt = job.parameters?.output_format || "png";
  return fmt === "jpeg" ? "jpg" : fmt;
}

function setCompare(value) {
  // Left of the handle: the photo; right of it: the stylized result.
  $("after-wrap").style.clipPath = `inset(0 0 0 ${value}%)`;
  $("compare-slider").setAttribute("aria-valuetext", `${value}% original`);
}

function tryAnother() {
  // Keep the photo and settings; go back to the style choice.
  const first = document.querySelector("input[name=style]:checked") || document.querySelector("input[name=style]");
  $("style-gallery").scrollIntoView({ block: "center" });
  first?.focus();
}

// --- campaigns: many photos, one look ---------------------------------------------------------

const campaignFiles = [];

async function addCampaignPhotos(files) {
  clearErrors("campaign");
  const refused = [];
  for (const file of files) {
    if (campaignFiles.length >= LIMITS.max_campaign_photos) {
      refused.push(`${file.name}: a campaign takes at most ${LIMITS.max_campaign_photos} photos`);
      continue;
    }
    try {
      const checked = await checkImageFile(file);
      campaignFiles.push(checked);
    } catch (err) {
      refused.push(`${file.name}: ${err.message}`);
    }
  }
  $("campaign-photos").value = "";
  if (refused.length) showError("campaign", refused.join(" "));
  drawChosen();
}

function drawChosen() {
  const list = $("campaign-chosen");
  list.replaceChildren(...campaignFiles.map(({ file, url }) => {
    const li = document.createElement("li");
    const img = Object.assign(document.createElement("img"), { src: url, alt: file.name });
    li.append(img);
    return li;
  }));
  const n = campaignFiles.length;
  $("campaign-start").disabled = n === 0;
  $("campaign-start").textContent = n ? `Start campaign (${n} photo${n > 1 ? "s" : ""})` : "Start campaign";
  $("campaign-clear").hidden = n === 0;
}

async function startCampaign() {
  clearErrors("campaign", "style", "settings");
  const chosen = styleAndSize();
  if (!chosen) return;
  const { choice, styleFile, size } = chosen;
  if (choice.startsWith("set:")) {
    showError("campaign", "A campaign takes one painting: pick a saved or built-in style, or upload one.");
    return;
  }
  const form = new FormData();
  for (const { file } of campaignFiles) form.append("photos", file, file.name);
  if (choice === "upload") form.append("styles", styleFile, styleFile.name);
  else form.append("style_ids", JSON.stringify([choice.slice(6)]));
  if (size) form.append("output_size", `${size[0]}x${size[1]}`);
  form.append("name", `Campaign of ${new Date().toLocaleString()}`);
  appendSettings(form);
  const button = $("campaign-start");
  button.disabled = true;
  try {
    followCampaign(await api("/v1/campaigns", { method: "POST", body: form }));
  } catch (err) {
    const field = errorField(err);
    showError(["style", "settings"].includes(field) ? field : "campaign", plain(err));
  } finally {
    button.disabled = campaignFiles.length === 0;
  }
}

function followCampaign(campaign) {
  if (state.campaign) clearTimeout(state.campaign.timer);
  state.campaign = { id: campaign.id, timer: null };
  $("campaign-run").hidden = false;
  $("campaign-grid").replaceChildren();
  $("campaign-run").dataset.campaignId = campaign.id;
  renderCampaign(campaign);
  $("campaign-run").scrollIntoView({ block: "nearest" });
}

function campaignCell(child) {
  const li = document.createElement("li");
  li.dataset.jobId = child.id;
  const img = document.createElement("img");
  img.alt = "";
  const caption = document.createElement("small");
  li.append(img, caption);
  return li;
}

function renderCampaign(campaign) {
  const grid = $("campaign-grid");
  for (const child of campaign.children) {
    let li = grid.querySelector(`li[data-job-id="${child.id}"]`);
    if (!li) grid.append(li = campaignCell(child));
    const name = child.parameters?.photo_name || `photo ${child.parameters?.campaign_photo + 1}`;
    li.dataset.status = child.status;
    li.querySelector("small").textContent = child.status === "running"
      ? `${name} · ${child.percent}%`
      : `${name} · ${child.status === "succeeded" ? "done" : child.status}`;
    li.className = `status-${child.status}`;
    const img = li.querySelector("img");
    if (child.status === "succeeded" && !img.dataset.loaded) {
      img.dataset.loaded = "1";
      img.alt = `Result for ${name}`;
      imageUrl(child.result_url).then((src) => { img.src = src; }).catch(() => {});
    }
  }
  const c = campaign.counts;
  const done = c.succeeded + c.failed + c.canceled;
  $("campaign-progress").value = campaign.percent;
  $("campaign-progress").setAttribute("aria-valuetext", `${campaign.percent}%`);
  const status = $("campaign-status");
  const parts = [`${done} of ${campaign.total} finished`];
  if (c.running) parts.push(`${c.running} working`);
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.canceled) parts.push(`${c.canceled} canceled`);
  const active = campaign.status === "queued" || campaign.status === "running";
  status.textContent = active ? `Working: ${parts.join(" · ")}` : `Campaign ${campaign.status}: ${parts.join(" · ")}`;
  status.className = `status-${campaign.status}`;
  $("campaign-cancel").hidden = !active;
  $("campaign-download").hidden = active || c.succeeded === 0;
  if (active) {
    state.campaign.timer = setTimeout(async () => {
      try {
        const fresh = await api(`/v1/campaigns/${campaign.id}`);
        if (state.campaign?.id === fresh.id) renderCampaign(fresh);
      } catch (err) {
        status.textContent = plain(err);
        state.campaign.timer = setTimeout(() => renderCampaign(campaign), POLL_MS * 4);
      }
    }, POLL_MS);
  } else {
    loadRecent();
  }
}

async function downloadCampaign() {
  // The archive needs the key: fetched, then handed to the browser as a file.
  clearErrors("campaign");
  try {
    const res = await api(`/v1/campaigns/${state.campaign.id}/archive`, { raw: true });
    const named = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await res.blob());
    a.download = named ? named[1] : `campaign-${state.campaign.id}.zip`;
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) {
    showError("campaign", plain(err));
  }
}

function wireCampaign() {
  $("campaign-photos").addEventListener("change", () => addCampaignPhotos([...$("campaign-photos").files]));
  dropZone($("campaign-drop"), (files) => addCampaignPhotos(files));
  $("campaign-start").addEventListener("click", startCampaign);
  $("campaign-clear").addEventListener("click", () => {
    campaignFiles.length = 0;
    drawChosen();
  });
  $("campaign-download").addEventListener("click", downloadCampaign);
  $("campaign-cancel").addEventListener("click", async () => {
    clearTimeout(state.campaign.timer);
    try {
      renderCampaign(await api(`/v1/campaigns/${state.campaign.id}/cancel`, { method: "POST" }));
    } catch (err) {
      showError("campaign", plain(err));
    }
  });
}

// --- recent jobs ----------------------------------------------------------------------------

async function loadRecent() {
  const list = $("recent-list");
  let jobs;
  try {
    jobs = (await api("/v1/jobs?kind=stylize&limit=12")).data;
  } catch (err) {
    list.replaceChildren(Object.assign(document.createElement("li"), { textContent: plain(err) }));
    return;
  }
  list.replaceChildren();
  if (!jobs.length) {
    list.append(Object.assign(document.createElement("li"), { textContent: "No jobs yet." }));
  }
  for (const job of jobs) {
    const li = document.createElement("li");
    li.dataset.jobId = job.id;
    const img = document.createElement("img");
    img.className = "thumb";
    img.alt = job.status === "succeeded" ? `Result of job ${job.id.slice(0, 8)}` : "";
    const meta = document.createElement("div");
    meta.className = "meta";
    const when = new Date(job.created_at).toLocaleString();
    const strength = Math.round((job.parameters?.strength ?? 1) * 100);
    meta.innerHTML = `<span class="status-${job.status}"></span><small></small>`;
    meta.firstChild.textContent = job.status === "running" ? `running ${job.percent}%` : job.status;
    meta.lastChild.textContent = `${when} · strength ${strength}% · ${job.parameters?.output_format || "png"}`;
    li.append(img, meta);
    if (job.status === "succeeded") {
      imageUrl(job.result_url).then((src) => { img.src = src; }).catch(() => {});
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Download";
      button.setAttribute("aria-label", `Download the result of job ${job.id.slice(0, 8)}`);
      button.addEventListener("click", async () => {
        const a = document.createElement("a");
        a.href = await imageUrl(job.result_url);
        a.download = `atelier-${job.id}.${extension(job)}`;
        document.body.append(a);
        a.click();
        a.remove();
      });
      li.append(button);
    }
    list.append(li);
  }
}

// --- admin: style and content sets ---------------------------------------------------------

async function loadAdmin() {
  const f = state.features;
  $("sets-unavailable").hidden = f.styleSets;
  $("sets-tools").hidden = !f.styleSets;
  $("set-kind-row").hidden = !f.contentSets;
  $("train-unavailable").hidden = f.adminTrainings;
  $("train-form").hidden = !f.adminTrainings;
  if (f.styleSets) loadSets();
  loadModels();
  resumeTraining();
}

function checksText(checks) {
  // The API's data-check findings ({code, message, images}); none means the set looks fine.
  if (!checks || !checks.length) return ["Data check: no problems found."];
  return checks.map((c) => `${c.message || c.code}`);
}

async function loadSets() {
  const list = $("set-list");
  const kinds = state.features.contentSets ? ["style", "content"] : ["style"];
  const all = [];
  try {
    for (const kind of kinds) {
      for (const set of (await api(`/v1/${kind}-sets`)).data) all.push({ ...set, kind });
    }
  } catch (err) {
    showError("set", plain(err));
    return;
  }
  list.replaceChildren();
  const styleSelect = $("train-set");
  const contentSelect = $("train-content-set");
  const chosen = [styleSelect.value, contentSelect.value];
  styleSelect.replaceChildren();
  contentSelect.replaceChildren(new Option("The worker's photo folder", ""));
  for (const set of all) {
    (set.kind === "style" ? styleSelect : contentSelect).append(new Option(set.name, set.id));
    const li = document.createElement("li");
    li.dataset.setId = set.id;
    const meta = document.createElement("div");
    meta.className = "meta";
    const title = document.createElement("strong");
    title.textContent = set.name;
    const count = document.createElement("small");
    count.textContent = `${set.kind} set · ${set.image_count} images`;
    // The data-check report: folded when long, the count always visible.
    const report = document.createElement("details");
    report.className = "checks";
    const findings = set.checks || [];
    report.open = findings.length <= 2;
    const summary = document.createElement("summary");
    summary.textContent = findings.length ? `Data check: ${findings.length} finding${findings.length > 1 ? "s" : ""}` : "Data check";
    const lines = document.createElement("ul");
    for (const line of checksText(findings)) {
      lines.append(Object.assign(document.createElement("li"), { textContent: line }));
    }
    report.append(summary, lines);
    meta.append(title, count, report);
    const thumbs = document.createElement("div");
    thumbs.className = "previews";
    for (const image of (set.images || []).slice(0, 6)) {
      const img = document.createElement("img");
      img.alt = image.filename;
      thumbs.append(img);
      imageUrl(image.thumbnail_url).then((src) => { img.src = src; }).catch(() => {});
    }
    const addLabel = document.createElement("label");
    addLabel.textContent = `Add images to ${set.name}`;
    const add = document.createElement("input");
    add.type = "file";
    add.multiple = true;
    add.accept = `${LIMITS.content_types.join(",")},.zip`;
    addLabel.append(add);
    add.addEventListener("change", async () => {
      clearErrors("set");
      try {
        await api(`/v1/${set.kind}-sets/${set.id}/images`, { method: "POST", body: filesForm(add.files) });
      } catch (err) {
        showError("set", plain(err));
      }
      loadSets();
    });
    li.append(meta, thumbs, addLabel);
    list.append(li);
  }
  styleSelect.value = chosen[0] || styleSelect.value;
  contentSelect.value = chosen[1];
}

function filesForm(files, fields = {}) {
  const body = new FormData();
  for (const [k, v] of Object.entries(fields)) body.append(k, v);
  for (const f of files) body.append(f.name.toLowerCase().endsWith(".zip") ? "archive" : "images", f, f.name);
  return body;
}

async function createSet(event) {
  event.preventDefault();
  clearErrors("set");
  const name = $("set-name").value.trim();
  const files = $("set-files").files;
  if (!name) return showError("set", "Give the set a name.");
  if (!files.length) return showError("set", "Choose the images for this set (or a zip of them).");
  const kind = state.features.contentSets ? $("set-kind").value : "style";
  try {
    await api(`/v1/${kind}-sets`, { method: "POST", body: filesForm(files, { name }) });
    $("set-form").reset();
    await loadSets();
    if (kind === "style") loadGallery();
  } catch (err) {
    showError("set", plain(err));
  }
}

// --- admin: training ------------------------------------------------------------------------

const TRAIN_JOB_STORE = "atelier.trainingJob";

async function startTraining(event) {
  event.preventDefault();
  clearErrors("train");
  const numbers = {
    steps: Number($("train-steps").value),
    image_size: Number($("train-size").value),
    batch_size: Number($("train-batch").value),
  };
  if (!$("train-set").value) return showError("train", "Create a style set first.");
  const body = { name: $("train-name").value.trim() || "model", style_set_id: $("train-set").value, ...numbers };
  if ($("train-content-set").value) body.content_set_id = $("train-content-set").value;
  if ($("train-base").value === "scratch") body.from_scratch = true;
  else if ($("train-base").value) body.base_model_id = $("train-base").value;
  const every = Number($("train-preview-every").value);
  if (every > 0) body.preview_every = every;
  let job;
  try {
    job = await api("/v1/admin/trainings", { method: "POST", json: body });
  } catch (err) {
    return showError("train", plain(err));
  }
  localStorage.setItem(TRAIN_JOB_STORE, job.id);
  followTraining(job);
}

async function resumeTraining() {
  // Reopening the page keeps following the last training started from this browser.
  const id = localStorage.getItem(TRAIN_JOB_STORE);
  if (!id || state.training) return;
  try {
    followTraining(await api(`/v1/jobs/${id}`));
  } catch (_) {
    localStorage.removeItem(TRAIN_JOB_STORE);
  }
}

function followTraining(job) {
  if (state.training) clearTimeout(state.training.timer);
  state.training = { id: job.id, timer: null, series: new Map(), preview: null };
  $("training").hidden = false;
  $("train-preview").hidden = true;
  renderTraining(job);
}

function recordLosses(info) {
  // The job row carries the latest losses; the chart keeps every sample it has seen.
  if (!info.losses || info.step == null) return;
  const series = state.training.series;
  for (const [name, value] of Object.entries(info.losses)) {
    if (typeof value !== "number" || !Number.isFinite(value)) continue;
    if (!series.has(name)) series.set(name, new Map());
    series.get(name).set(info.step, value);
  }
}

function drawChart(total) {
  const svg = $("loss-chart");
  const W = 320, H = 120, P = 6;
  const colours = ["#3948b8", "#c2410c", "#15803d", "#a21caf", "#0e7490", "#854d0e"];
  const lines = [...state.training.series.entries()];
  const parts = [];
  const legend = [];
  if (!lines.length) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle" font-size="11" fill="#5b5b66">Losses appear here as training reports them</text>`);
  }
  // Each loss on its own scale (they differ by orders of magnitude): the shape is what matters.
  const maxStep = Math.max(1, total || 0, ...lines.flatMap(([, pts]) => [...pts.keys()]));
  lines.forEach(([name, pts], i) => {
    const values = [...pts.values()];
    let lo = Math.min(...values), hi = Math.max(...values);
    if (hi === lo) { hi += 1; lo -= 1; }
    const colour = colours[i % colours.length];
    const coords = [...pts.entries()].sort((a, b) => a[0] - b[0]).map(([step, v]) =>
      `${(P + (step / maxStep) * (W - 2 * P)).toFixed(1)},${(H - P - ((v - lo) / (hi - lo)) * (H - 2 * P)).toFixed(1)}`);
    const label = name.replace(/[^\w .-]/g, "");
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${coords.join(" ")}"><title>${label}</title></polyline>`);
    const item = document.createElement("li");
    item.style.setProperty("--swatch", colour);
    item.textContent = `${label} ${values[values.length - 1].toPrecision(3)}`;
    legend.push(item);
  });
  svg.innerHTML = parts.join("");
  $("loss-legend").replaceChildren(...legend);
  svg.dataset.points = String(lines.reduce((n, [, pts]) => n + pts.size, 0));
}

function showPreview(job, info) {
  if (!job.preview_url || info.preview_step == null || state.training.preview === info.preview_step) return;
  state.training.preview = info.preview_step;
  const img = $("train-preview");
  // The preview's URL stays the same while its image changes: the step makes it a new fetch.
  imageUrl(`${job.preview_url}?step=${info.preview_step}`).then((src) => {
    img.src = src;
    img.alt = `Validation photos and their stylized versions at step ${info.preview_step}`;
    img.hidden = false;
  }).catch(() => {});
}

function renderTraining(job) {
  const info = job.progress_info || {};
  $("train-progress").value = job.percent;
  $("train-progress").setAttribute("aria-valuetext", `${job.percent}%`);
  const extra = [];
  if (job.status === "running" && info.step != null && info.total) extra.push(`step ${info.step} of ${info.total}`);
  if (job.status === "running" && info.images_per_s) extra.push(`${info.images_per_s} images/s`);
  if (job.status === "running" && info.phase && info.phase !== "training") extra.push(info.phase);
  const status = $("train-status");
  status.textContent = [statusText(job), ...extra].join(" · ");
  status.className = `status-${job.status}`;
  recordLosses(info);
  drawChart(info.total);
  showPreview(job, info);
  $("train-cancel").hidden = !["queued", "running"].includes(job.status);
  if (job.status === "queued" || job.status === "running") {
    state.training.timer = setTimeout(async () => {
      try {
        const fresh = await api(`/v1/jobs/${job.id}`);
        if (state.training?.id === fresh.id) renderTraining(fresh);
      } catch (err) {
        status.textContent = plain(err);
      }
    }, POLL_MS);
  } else {
    loadModels();
  }
}

// --- admin: models --------------------------------------------------------------------------

function metricsTable(model) {
  // Evaluation scores (flattened one level), else whatever numbers the model file carries.
  const source = Object.keys(model.evaluation || {}).length ? model.evaluation : model.info?.metrics || {};
  const rows = [];
  for (const [name, value] of Object.entries(source)) {
    if (typeof value === "number") rows.push([name, value]);
    else if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [sub, v] of Object.entries(value)) if (typeof v === "number") rows.push([`${name} ${sub}`, v]);
    }
  }
  if (!rows.length) return null;
  const table = document.createElement("table");
  table.className = "metrics";
  table.createCaption().textContent = "Evaluation";
  for (const [name, value] of rows.slice(0, 12)) {
    const tr = table.insertRow();
    tr.insertCell().textContent = name.replaceAll("_", " ");
    tr.insertCell().textContent = Number.isInteger(value) ? String(value) : value.toPrecision(4);
  }
  return table;
}

function gateText(gate) {
  if (!gate || !Object.keys(gate).length) return "Not gated (uploaded file)";
  if (gate.passed) return "Quality gate: passed";
  const why = (gate.failures || []).map((f) => f.message || f.code).join("; ");
  return `Quality gate: failed${why ? ` (${why})` : ""}`;
}

async function loadModels() {
  const list = $("model-list");
  const base = $("train-base");
  let models;
  try {
    models = (await api("/v1/models")).data;
  } catch (err) {
    showError("models", plain(err));
    return;
  }
  const chosenBase = base.value;
  list.replaceChildren();
  base.replaceChildren(new Option("The active model", ""), new Option("Scratch", "scratch"));
  $("rollback").hidden = !state.features.adminTrainings || !models.some((m) => m.is_active);
  if (!models.length) {
    list.append(Object.assign(document.createElement("li"), { textContent: "No models registered yet: stylizations use the optimisation method." }));
  }
  for (const model of models) {
    base.append(new Option(model.name, model.id));
    const li = document.createElement("li");
    li.dataset.modelId = model.id;
    const meta = document.createElement("div");
    meta.className = "meta";
    const title = document.createElement("strong");
    title.textContent = `${model.name}${model.builtin ? " (built-in)" : ""}${model.is_active ? " (active)" : ""}`;
    const when = document.createElement("small");
    when.textContent = `${new Date(model.created_at).toLocaleString()} · ${mb(model.size_bytes)}`;
    const gate = document.createElement("small");
    gate.textContent = gateText(model.gate);
    meta.append(title, when, gate);
    const table = metricsTable(model);
    if (table) meta.append(table);
    li.append(meta);
    if (model.contact_sheet_url) {
      const sheet = document.createElement("img");
      sheet.className = "sheet";
      sheet.alt = `Contact sheet of ${model.name}: photo, style and result per row`;
      imageUrl(model.contact_sheet_url).then((src) => { sheet.src = src; }).catch(() => {});
      li.append(sheet);
    }
    if (!model.is_active) li.append(activateControls(model));
    list.append(li);
  }
  base.value = chosenBase;
}

function activateControls(model) {
  // Activate; a model that failed its quality gate needs a recorded reason to be forced.
  const box = document.createElement("div");
  box.className = "row";
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Activate";
  button.setAttribute("aria-label", `Activate ${model.name}`);
  const failed = model.gate && Object.keys(model.gate).length && !model.gate.passed;
  let reason = null;
  if (failed) {
    const label = document.createElement("label");
    label.textContent = "Reason to override the gate";
    reason = document.createElement("input");
    reason.type = "text";
    reason.maxLength = 2000;
    label.append(reason);
    box.append(label);
    button.textContent = "Activate anyway";
  }
  button.addEventListener("click", () => {
    const body = reason ? { force: true, reason: reason.value.trim() } : undefined;
    if (reason && !body.reason) return showError("models", "Say why you override the quality gate.");
    modelAction(`/v1/models/${model.id}/activate`, body);
  });
  box.append(button);
  return box;
}

async function modelAction(path, json) {
  clearErrors("models");
  try {
    await api(path, { method: "POST", json });
  } catch (err) {
    showError("models", plain(err));
  }
  loadModels();
}

// --- wiring ---------------------------------------------------------------------------------

function dropZone(zone, onFiles) {
  // Files dragged from the desktop onto `zone`, highlighted while they hover.
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    onFiles([...e.dataTransfer.files]);
  });
}

function wire() {
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) return showError("key", "Paste your API key first.");
    useKey(key);
  });
  $("change-key").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORE);
    $("api-key").value = "";
    showKeyForm();
  });
  $("photo").addEventListener("change", () => { if ($("photo").files[0]) setPhoto($("photo").files[0]); });
  dropZone($("dropzone"), (files) => { if (files[0]) setPhoto(files[0]); });
  $("style-file").addEventListener("change", () => {
    $("style-upload-choice").checked = true;
    clearErrors("style");
  });
  $("style-gallery").addEventListener("change", () => clearErrors("style"));
  $("strength").addEventListener("input", () => {
    $("strength-value").textContent = `${Math.round($("strength").value * 100)}%`;
  });
  $("compare-slider").addEventListener("input", (e) => setCompare(e.target.value));
  $("stylize-form").addEventListener("submit", submit);
  wireEditor();
  wireCampaign();
  $("try-another").addEventListener("click", tryAnother);
  $("refresh-recent").addEventListener("click", loadRecent);
  $("set-form").addEventListener("submit", createSet);
  $("train-form").addEventListener("submit", startTraining);
  $("refresh-models").addEventListener("click", loadModels);
  $("rollback").addEventListener("click", () => modelAction("/v1/models/rollback"));
  $("train-cancel").addEventListener("click", async () => {
    if (!state.training) return;
    try {
      await api(`/v1/jobs/${state.training.id}/cancel`, { method: "POST" });
    } catch (err) {
      showError("train", plain(err));
    }
  });
}

function start() {
  wire();
  // `atelier serve` prints a URL carrying the key in the fragment (never sent to the server):
  // take it, keep it, and remove it from the address bar.
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromUrl) history.replaceState(null, "", location.pathname + location.search);
  const saved = fromUrl || localStorage.getItem(KEY_STORE);
  if (saved) useKey(saved, { fromStorage: !fromUrl });
  else showKeyForm();
}

start();
