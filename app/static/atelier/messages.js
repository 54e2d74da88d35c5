// Plain words for the API's error codes, and the field under which each error is shown.

import { $, LIMITS } from "./api.js";

export const mb = (n) => `${(n / 1048576).toFixed(1)} MiB`;

export function plain(err) {
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
    invalid_credit: `The painting's credit was not accepted: ${err.message}.`,
    not_a_video: "This file is not a video that can be read (MP4, MOV, WebM, MKV…).",
    no_video_stream: "This file has no picture: it may be sound only.",
    video_too_long: `This clip is too long: the limit is ${LIMITS.video_max_seconds} s.`,
    video_too_large: `This clip is too big: each side can be at most ${LIMITS.video_max_side} px.`,
    corrupt_video: "This clip could not be read: it may be damaged or incomplete.",
  };
  return words[err.code] || err.message || "Something went wrong.";
}

// Which field an API error belongs to: the API names the form field in its message.
export function errorField(err) {
  const named = /'(content|style|image|file|images)'/.exec(err.message || "");
  if (named) return named[1] === "content" ? "photo" : "style";
  if (err.code === "unauthorized") return "key";
  if (["style_not_found", "style_set_not_found", "style_required", "invalid_credit"].includes(err.code)) return "style";
  if (["file_too_large", "invalid_box", "box_outside", "invalid_mask", "mask_all_black"].includes(err.code)) return "photo";
  if (["invalid_size", "invalid_crop"].includes(err.code)) return "settings";
  if (err.code === "invalid_parameter") return "settings";
  return "submit";
}

export function showError(field, message) {
  const el = $(`${field}-error`);
  el.textContent = message || "";
  if (message) el.closest("fieldset, form, section")?.scrollIntoView({ block: "nearest" });
}

export function clearErrors(...fields) {
  for (const f of fields) showError(f, "");
}
