// Admin: fine-tuning a model, followed with its loss chart and validation previews.

import { $, POLL_MS, api, imageUrl, state } from "./api.js";
import { clearErrors, plain, showError } from "./messages.js";
import { statusText } from "./jobs.js";
import { loadModels } from "./admin-models.js";

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

export async function resumeTraining() {
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

export function wireTraining() {
  $("train-form").addEventListener("submit", startTraining);
  $("train-cancel").addEventListener("click", async () => {
    if (!state.training) return;
    try {
      await api(`/v1/jobs/${state.training.id}/cancel`, { method: "POST" });
    } catch (err) {
      showError("train", plain(err));
    }
  });
}
