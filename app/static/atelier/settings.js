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

export function chosenStyle() {
  // The chosen style ({choice, styleFile}), or null with the error shown under the gallery.
  const choice = document.querySelector("input[name=style]:checked")?.value;
  const styleFile = $("style-file").files[0];
  if (!choice || (choice === "upload" && !styleFile)) {
    showError("style", choice ? "Choose the painting to use as the style." : "Pick a style from the gallery, or upload a painting.");
    return null;
  }
  return { choice, styleFile };
}

export function styleAndSize() {
  // The chosen style and output size, or null with the error shown by its field.
  const style = chosenStyle();
  if (!style) return null;
  try {
    return { ...style, size: outputSize() };
  } catch (err) {
    showError("settings", err.message);
    return null;
  }
}

export function appendSettings(form) {
  // The options a single job and a campaign share.
  if ($("apart").checked) {
    // Colour and texture replace the two shorthands (the API refuses both at once).
    form.append("color_strength", $("color-strength").value);
    form.append("texture_strength", $("texture-strength").value);
  } else {
    form.append("strength", $("strength").value);
    form.append("preserve_color", $("preserve-color").checked ? "true" : "false");
  }
  if ($("stroke").checked) form.append("stroke_scale", $("stroke-scale").value);
  form.append("output_format", $("output-format").value);
  form.append("method", $("method").value);
}

export function wireSettings() {
  $("strength").addEventListener("input", () => {
    $("strength-value").textContent = `${Math.round($("strength").value * 100)}%`;
  });
  for (const id of ["color-strength", "texture-strength"]) {
    $(id).addEventListener("input", () => {
      $(`${id}-value`).textContent = `${Math.round($(id).value * 100)}%`;
    });
  }
  $("stroke-scale").addEventListener("input", () => {
    $("stroke-scale-value").textContent = `${Number($("stroke-scale").value)}\u00d7`;
  });
  $("apart").addEventListener("change", () => {
    // The shorthands or the two controls, never both.
    const apart = $("apart").checked;
    $("apart-controls").hidden = !apart;
    $("strength").disabled = $("preserve-color").disabled = apart;
  });
  $("stroke").addEventListener("change", () => {
    $("stroke-controls").hidden = !$("stroke").checked;
  });
}
