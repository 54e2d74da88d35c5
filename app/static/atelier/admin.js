// The admin section: which of its routes this deployment has, and the style and content sets.

import { $, LIMITS, api, imageUrl, state } from "./api.js";
import { clearErrors, plain, showError } from "./messages.js";
import { loadGallery } from "./gallery.js";
import { loadModels } from "./admin-models.js";
import { resumeTraining } from "./admin-training.js";

export async function loadAdmin() {
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

export function wireAdmin() {
  $("set-form").addEventListener("submit", createSet);
}
