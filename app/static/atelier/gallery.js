// The style gallery: your saved styles, then the built-in paintings, then style sets.

import { $, api, imageUrl, state } from "./api.js";
import { clearErrors, plain, showError } from "./messages.js";

// A style's credit as the card shows it: the artist under the name, then the licence; the
// whole credit (title, artist, year, licence, source) as the card's tooltip. Nothing is shown
// for what nobody declared.
function creditTooltip(name, credit, info) {
  const parts = [credit.title ? `“${credit.title}”` : name];
  if (credit.artist) parts.push(credit.artist);
  if (info?.year) parts.push(info.year);
  const lines = [parts.join(", ")];
  lines.push(`Licence: ${credit.licence || "unknown"}`);
  if (credit.source_url) lines.push(`Source: ${credit.source_url}`);
  if (credit.declared_by === "uploader") lines.push("As declared by the uploader");
  return lines.join("\n");
}

function styleCard(value, name, badge, credit, info) {
  const label = document.createElement("label");
  label.className = "style-card";
  if (info?.artist) label.classList.add("builtin");
  const input = document.createElement("input");
  input.type = "radio";
  input.name = "style";
  input.value = value;
  const img = document.createElement("img");
  img.alt = "";
  const caption = document.createElement("span");
  caption.textContent = name;
  label.append(input, img, caption);
  const declared = credit && (credit.title || credit.artist || credit.licence || credit.source_url);
  if (declared) {
    label.title = creditTooltip(name, credit, info);
    if (credit.artist) {
      const by = document.createElement("small");
      by.className = "artist";
      by.textContent = credit.artist;
      label.append(by);
    }
    if (credit.licence) {
      const licence = document.createElement("small");
      licence.className = "licence";
      licence.textContent = credit.licence;
      label.append(licence);
    }
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
      const card = styleCard(
        `style:${style.id}`, style.name, null, style.credit, style.builtin ? style.info : null,
      );
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

// The credit of a painting the designer saves: asked for only when it is saved.
export function styleCreditFields() {
  const fields = {};
  for (const name of ["title", "artist", "source_url", "licence"]) {
    const value = $(`credit-${name}`).value.trim();
    if (value) fields[name] = value;
  }
  return fields;
}

export function wireGallery() {
  $("style-file").addEventListener("change", () => {
    $("style-upload-choice").checked = true;
    clearErrors("style");
  });
  $("save-style").addEventListener("change", () => {
    $("style-credit").hidden = !$("save-style").checked;
  });
  $("style-gallery").addEventListener("change", () => clearErrors("style"));
}
