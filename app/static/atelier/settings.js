// The settings panel: output size, strength, colour, format and method, which a single job
// and a campaign share.

import { $, LIMITS } from "./api.js";
import { showError } from "./messages.js";

export function outputSize() {
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

export function styleAndSize() {
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

export function appendSettings(form) {
  // The options a single job and a campaign share.
  form.append("strength", $("strength").value);
  form.append("preserve_color", $("preserve-color").checked ? "true" : "false");
  form.append("output_format", $("output-format").value);
  form.append("method", $("method").value);
}

export function wireSettings() {
  $("strength").addEventListener("input", () => {
    $("strength-value").textContent = `${Math.round($("strength").value * 100)}%`;
  });
}
