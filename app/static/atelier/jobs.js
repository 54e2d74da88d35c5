// A job: submitted from the form, followed to its result (the before/after comparison and the
// download), and the list of recent jobs.

import { $, ApiError, POLL_MS, api, imageUrl, state } from "./api.js";
import { clearErrors, errorField, plain, showError } from "./messages.js";
import { appendSettings, styleAndSize } from "./settings.js";
import { checkImageFile, croppedPreview, resetCrop, round4 } from "./photo.js";
import { loadGallery, styleCreditFields } from "./gallery.js";

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
    if (state.boxes.length) form.append("keep_boxes", JSON.stringify(state.boxes));
    if (state.regions.length) {
      const regions = state.regions.map(({ box, style }) => ({ box, style_id: style }));
      form.append("regions", JSON.stringify(regions));
    }
    if (state.boxes.length || state.regions.length) form.append("feather", $("feather").value);
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
        for (const [name, value] of Object.entries(styleCreditFields())) body.append(name, value);
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

export function statusText(job) {
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

// --- recent jobs ----------------------------------------------------------------------------

export async function loadRecent() {
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

export function wireJobs() {
  $("compare-slider").addEventListener("input", (e) => setCompare(e.target.value));
  $("stylize-form").addEventListener("submit", submit);
  $("try-another").addEventListener("click", tryAnother);
  $("refresh-recent").addEventListener("click", loadRecent);
}
