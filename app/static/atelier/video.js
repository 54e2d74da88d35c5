// Video: a clip, its first frame stylized as a preview, then the whole clip as a video job
// followed to a player of the clip beside its result. The preview needs no endpoint of its own:
// the browser decodes the first frame from the local file and sends it as a still job.

import { $, ApiError, LIMITS, POLL_MS, api, imageUrl } from "./api.js";
import { clearErrors, errorField, mb, plain, showError } from "./messages.js";
import { chosenStyle } from "./settings.js";
import { dropZone } from "./photo.js";
import { statusText } from "./jobs.js";

const clip = { file: null, url: null, frame: null }; // the chosen clip, its blob: URL, its first frame (a Blob)
const run = { job: null, timer: null, source: null }; // the video job followed, and the clip's URL it came from
let previewRun = 0; // the latest preview: one that finishes after a newer one started is dropped

const active = (job) => job.status === "queued" || job.status === "running";
const toBlob = (canvas, type, quality) => new Promise((ok) => canvas.toBlob(ok, type, quality));

function appendStyle(form) {
  // The style chosen above and the two settings a clip takes (POST /v1/videos has no colour and
  // texture controls, so the preview is made without them too); false with the error shown.
  const style = chosenStyle();
  if (!style) return false;
  const { choice, styleFile } = style;
  if (choice.startsWith("set:")) {
    showError("video", "A clip takes one painting: pick a saved or built-in style, or upload one.");
    return false;
  }
  if (choice === "upload") form.append("style", styleFile, styleFile.name);
  else form.append("style_id", choice.slice(6));
  form.append("strength", $("strength").value);
  form.append("preserve_color", $("preserve-color").checked ? "true" : "false");
  return true;
}

function showFailure(err, { upload = false } = {}) {
  // Under the gallery when it is about the style; the rest under the clip.
  if (!(err instanceof ApiError)) return showError("video", err.message);
  const message = upload && err.code === "file_too_large"
    ? `This clip is too large: the limit is ${mb(LIMITS.video_max_bytes)}.`
    : plain(err);
  showError(errorField(err) === "style" ? "style" : "video", message);
}

// --- the clip and its first frame ------------------------------------------------------------

function firstFrame(url) {
  // The clip's first frame, drawn on a canvas of the clip's size (scaled down only to fit the
  // limits on a photo), with the clip's size and length as the browser reads them.
  return new Promise((resolve, reject) => {
    const v = document.createElement("video");
    v.muted = true;
    v.preload = "auto";
    const fail = () => {
      clearTimeout(timer);
      v.removeAttribute("src");
      reject(new Error("This browser cannot show this clip, so there is no preview; the whole clip can still be stylized."));
    };
    const timer = setTimeout(fail, 20_000);
    v.addEventListener("error", fail, { once: true });
    v.addEventListener("loadeddata", () => {
      // HAVE_CURRENT_DATA at the start: the picture at time 0 can be drawn.
      clearTimeout(timer);
      const w = v.videoWidth;
      const h = v.videoHeight;
      const scale = Math.min(1, LIMITS.max_upload_side / Math.max(w, h), Math.sqrt(LIMITS.max_pixels / (w * h)));
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.floor(w * scale));
      canvas.height = Math.max(1, Math.floor(h * scale));
      canvas.getContext("2d").drawImage(v, 0, 0, canvas.width, canvas.height);
      resolve({ canvas, width: w, height: h, duration: v.duration });
      v.removeAttribute("src");
    }, { once: true });
    v.src = url;
  });
}

function refuse(message) {
  clip.file = null;
  clip.frame = null;
  $("video-file").value = "";
  $("video-first").hidden = true;
  $("video-preview-again").hidden = true;
  $("video-start").disabled = true;
  showError("video", message);
}

async function setClip(file) {
  // The same limits the API checks, those the browser can read before anything is uploaded.
  clearErrors("video");
  if (file.size === 0) return refuse("This file is empty.");
  if (file.type && !file.type.startsWith("video/")) return refuse("This file is not a video.");
  if (file.size > LIMITS.video_max_bytes) {
    return refuse(`This clip is ${mb(file.size)}; the limit is ${mb(LIMITS.video_max_bytes)}.`);
  }
  if (clip.url && clip.url !== run.source) URL.revokeObjectURL(clip.url);
  Object.assign(clip, { file, url: URL.createObjectURL(file), frame: null });
  previewRun += 1; // a preview of the previous clip is no longer wanted
  $("video-start").disabled = false;
  $("video-first").hidden = false;
  $("video-preview-again").hidden = true;
  const frameImg = $("video-frame");
  if (frameImg.src) URL.revokeObjectURL(frameImg.src);
  frameImg.removeAttribute("src");
  $("video-preview").removeAttribute("src");
  $("video-preview-status").textContent = "Reading the clip…";
  let frame;
  try {
    frame = await firstFrame(clip.url);
  } catch (err) {
    if (clip.file !== file) return;
    $("video-first").hidden = true;
    showError("video", err.message);
    return;
  }
  if (clip.file !== file) return; // another clip was chosen meanwhile
  if (Number.isFinite(frame.duration) && frame.duration > LIMITS.video_max_seconds) {
    return refuse(`This clip is ${Math.round(frame.duration)} s long; the limit is ${LIMITS.video_max_seconds} s.`);
  }
  if (Math.max(frame.width, frame.height) > LIMITS.video_max_side) {
    return refuse(`This clip is ${frame.width} × ${frame.height}: a side is longer than ${LIMITS.video_max_side} px.`);
  }
  // PNG keeps the frame as decoded; a frame too large for a photo's byte limit goes as JPEG.
  let blob = await toBlob(frame.canvas, "image/png");
  if (blob.size > LIMITS.max_upload_bytes) blob = await toBlob(frame.canvas, "image/jpeg", 0.92);
  clip.frame = blob;
  frameImg.src = URL.createObjectURL(blob);
  frameImg.alt = `The first frame of ${file.name} (${frame.width} × ${frame.height})`;
  preview();
}

async function preview() {
  // The first frame as a still job with the clip's style and settings, by the GAN as the clip
  // will be (whatever method is chosen for photos).
  if (!clip.frame) return;
  clearErrors("video", "style");
  const caption = $("video-preview-status");
  const img = $("video-preview");
  $("video-preview-again").hidden = false;
  const form = new FormData();
  form.append("content", clip.frame, clip.frame.type === "image/png" ? "first-frame.png" : "first-frame.jpg");
  if (!appendStyle(form)) {
    caption.textContent = "Pick a style above, then preview again.";
    return;
  }
  form.append("method", "gan");
  form.append("output_format", "png");
  const id = ++previewRun;
  img.removeAttribute("src");
  caption.textContent = "Stylizing the first frame…";
  $("video-preview-again").disabled = true;
  try {
    let job = await api("/v1/stylizations", { method: "POST", body: form });
    while (active(job)) {
      await new Promise((ok) => setTimeout(ok, POLL_MS));
      if (id !== previewRun) return;
      job = await api(`/v1/jobs/${job.id}`);
    }
    if (id !== previewRun) return;
    if (job.status !== "succeeded") {
      caption.textContent = `Preview: ${statusText(job)}`;
      return;
    }
    img.src = await imageUrl(job.result_url);
    caption.textContent = "The first frame, stylized";
  } catch (err) {
    if (id !== previewRun) return;
    caption.textContent = "No preview";
    showFailure(err);
  } finally {
    if (id === previewRun) $("video-preview-again").disabled = false;
  }
}

// --- the whole clip --------------------------------------------------------------------------

async function start() {
  clearErrors("video", "style");
  if (!clip.file) return showError("video", "Choose a clip first.");
  const form = new FormData();
  form.append("video", clip.file, clip.file.name);
  if (!appendStyle(form)) return;
  const button = $("video-start");
  button.disabled = true;
  try {
    follow(await api("/v1/videos", { method: "POST", body: form }));
  } catch (err) {
    showFailure(err, { upload: true });
  } finally {
    button.disabled = !clip.file;
  }
}

function follow(job) {
  clearTimeout(run.timer);
  if (run.source && run.source !== clip.url) URL.revokeObjectURL(run.source);
  Object.assign(run, { job, source: clip.url });
  $("video-run").hidden = false;
  $("video-run").dataset.jobId = job.id;
  $("video-result").hidden = true;
  $("video-download").hidden = true;
  for (const v of [$("video-source"), $("video-output")]) {
    v.pause();
    v.removeAttribute("src");
    v.removeAttribute("poster");
    v.load();
  }
  render(job);
  $("video-run").scrollIntoView({ block: "nearest" });
}

function progressText(job) {
  // The stills' wording (percent and ETA), with the frames done while it runs.
  if (active(job) && job.cancel_requested) return "Canceling…";
  const info = job.progress_info || {};
  const frames = info.frames ?? job.parameters?.clip?.frames;
  const done = job.status === "running" && frames ? ` · frame ${info.frames_done ?? 0} of ${frames}` : "";
  return statusText(job) + done;
}

async function render(job) {
  if (run.job?.id !== job.id) return;
  run.job = job;
  $("video-progress").value = job.percent;
  $("video-progress").setAttribute("aria-valuetext", `${job.percent}%`);
  const status = $("video-status");
  status.textContent = progressText(job);
  status.className = `status-${job.status}`;
  $("video-cancel").hidden = !active(job) || job.cancel_requested;
  if (active(job)) {
    run.timer = setTimeout(async () => {
      try {
        render(await api(`/v1/jobs/${job.id}`));
      } catch (err) {
        status.textContent = plain(err);
        run.timer = setTimeout(() => render(job), POLL_MS * 4);
      }
    }, POLL_MS);
    return;
  }
  if (job.status === "succeeded") await showResult(job);
}

async function showResult(job) {
  // The MP4 and its poster need the key: fetched, then played from blob: URLs.
  try {
    const [url, poster] = await Promise.all([
      imageUrl(job.result_url),
      job.poster_url ? imageUrl(job.poster_url) : null,
    ]);
    if (run.job?.id !== job.id) return;
    const output = $("video-output");
    if (poster) output.poster = poster;
    output.src = url;
    $("video-source").src = run.source;
    $("video-result").hidden = false;
    const download = $("video-download");
    download.href = url;
    download.download = `atelier-${job.id}.mp4`;
    download.hidden = false;
  } catch (err) {
    showFailure(err);
  }
}

async function cancel() {
  const job = run.job;
  if (!job || !active(job)) return;
  clearTimeout(run.timer);
  const button = $("video-cancel");
  button.disabled = true;
  try {
    render(await api(`/v1/jobs/${job.id}/cancel`, { method: "POST" }));
  } catch (err) {
    if (err.code !== "job_finished") showFailure(err); // finished meanwhile: show how it ended
    render(job);
  } finally {
    button.disabled = false;
  }
}

export function wireVideo() {
  $("video-file").addEventListener("change", () => { if ($("video-file").files[0]) setClip($("video-file").files[0]); });
  dropZone($("video-drop"), (files) => { if (files[0]) setClip(files[0]); });
  $("video-preview-again").addEventListener("click", preview);
  $("video-start").addEventListener("click", start);
  $("video-cancel").addEventListener("click", cancel);
}
