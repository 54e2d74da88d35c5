// The style gallery: your saved styles, then the built-in paintings, then style sets.

import { $, api, imageUrl, state } from "./api.js";
import { clearErrors, plain, showError } from "./messages.js";

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

export async function loadGallery(selectValue) {
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

export function wireGallery() {
  $("style-file").addEventListener("change", () => {
    $("style-upload-choice").checked = true;
    clearErrors("style");
  });
  $("style-gallery").addEventListener("change", () => clearErrors("style"));
}
