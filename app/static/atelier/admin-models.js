// Admin: the model registry, with each model's evaluation and quality gate; activate, roll back.

import { $, api, imageUrl, state } from "./api.js";
import { clearErrors, mb, plain, showError } from "./messages.js";

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

export async function loadModels() {
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

export function wireModels() {
  $("refresh-models").addEventListener("click", loadModels);
  $("rollback").addEventListener("click", () => modelAction("/v1/models/rollback"));
}
