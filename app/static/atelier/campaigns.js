// Campaigns: many photos, one look; the grid of results followed as they finish, and the
// archive of them all.

import { $, LIMITS, POLL_MS, api, imageUrl, state } from "./api.js";
import { clearErrors, errorField, plain, showError } from "./messages.js";
import { appendSettings, styleAndSize } from "./settings.js";
import { checkImageFile, dropZone } from "./photo.js";
import { loadRecent } from "./jobs.js";

const campaignFiles = [];

async function addCampaignPhotos(files) {
  clearErrors("campaign");
  const refused = [];
  for (const file of files) {
    if (campaignFiles.length >= LIMITS.max_campaign_photos) {
      refused.push(`${file.name}: a campaign takes at most ${LIMITS.max_campaign_photos} photos`);
      continue;
    }
    try {
      const checked = await checkImageFile(file);
      campaignFiles.push(checked);
    } catch (err) {
      refused.push(`${file.name}: ${err.message}`);
    }
  }
  $("campaign-photos").value = "";
  if (refused.length) showError("campaign", refused.join(" "));
  drawChosen();
}

function drawChosen() {
  const list = $("campaign-chosen");
  list.replaceChildren(...campaignFiles.map(({ file, url }) => {
    const li = document.createElement("li");
    const img = Object.assign(document.createElement("img"), { src: url, alt: file.name });
    li.append(img);
    return li;
  }));
  const n = campaignFiles.length;
  $("campaign-start").disabled = n === 0;
  $("campaign-start").textContent = n ? `Start campaign (${n} photo${n > 1 ? "s" : ""})` : "Start campaign";
  $("campaign-clear").hidden = n === 0;
}

async function startCampaign() {
  clearErrors("campaign", "style", "settings");
  const chosen = styleAndSize();
  if (!chosen) return;
  const { choice, styleFile, size } = chosen;
  if (choice.startsWith("set:")) {
    showError("campaign", "A campaign takes one painting: pick a saved or built-in style, or upload one.");
    return;
  }
  const form = new FormData();
  for (const { file } of campaignFiles) form.append("photos", file, file.name);
  if (choice === "upload") form.append("styles", styleFile, styleFile.name);
  else form.append("style_ids", JSON.stringify([choice.slice(6)]));
  if (size) form.append("output_size", `${size[0]}x${size[1]}`);
  form.append("name", `Campaign of ${new Date().toLocaleString()}`);
  appendSettings(form);
  const button = $("campaign-start");
  button.disabled = true;
  try {
    followCampaign(await api("/v1/campaigns", { method: "POST", body: form }));
  } catch (err) {
    const field = errorField(err);
    showError(["style", "settings"].includes(field) ? field : "campaign", plain(err));
  } finally {
    button.disabled = campaignFiles.length === 0;
  }
}

function followCampaign(campaign) {
  if (state.campaign) clearTimeout(state.campaign.timer);
  state.campaign = { id: campaign.id, timer: null };
  $("campaign-run").hidden = false;
  $("campaign-grid").replaceChildren();
  $("campaign-run").dataset.campaignId = campaign.id;
  renderCampaign(campaign);
  $("campaign-run").scrollIntoView({ block: "nearest" });
}

function campaignCell(child) {
  const li = document.createElement("li");
  li.dataset.jobId = child.id;
  const img = document.createElement("img");
  img.alt = "";
  const caption = document.createElement("small");
  li.append(img, caption);
  return li;
}

function renderCampaign(campaign) {
  const grid = $("campaign-grid");
  for (const child of campaign.children) {
    let li = grid.querySelector(`li[data-job-id="${child.id}"]`);
    if (!li) grid.append(li = campaignCell(child));
    const name = child.parameters?.photo_name || `photo ${child.parameters?.campaign_photo + 1}`;
    li.dataset.status = child.status;
    li.querySelector("small").textContent = child.status === "running"
      ? `${name} · ${child.percent}%`
      : `${name} · ${child.status === "succeeded" ? "done" : child.status}`;
    li.className = `status-${child.status}`;
    const img = li.querySelector("img");
    if (child.status === "succeeded" && !img.dataset.loaded) {
      img.dataset.loaded = "1";
      img.alt = `Result for ${name}`;
      imageUrl(child.result_url).then((src) => { img.src = src; }).catch(() => {});
    }
  }
  const c = campaign.counts;
  const done = c.succeeded + c.failed + c.canceled;
  $("campaign-progress").value = campaign.percent;
  $("campaign-progress").setAttribute("aria-valuetext", `${campaign.percent}%`);
  const status = $("campaign-status");
  const parts = [`${done} of ${campaign.total} finished`];
  if (c.running) parts.push(`${c.running} working`);
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.canceled) parts.push(`${c.canceled} canceled`);
  const active = campaign.status === "queued" || campaign.status === "running";
  status.textContent = active ? `Working: ${parts.join(" · ")}` : `Campaign ${campaign.status}: ${parts.join(" · ")}`;
  status.className = `status-${campaign.status}`;
  $("campaign-cancel").hidden = !active;
  $("campaign-download").hidden = active || c.succeeded === 0;
  if (active) {
    state.campaign.timer = setTimeout(async () => {
      try {
        const fresh = await api(`/v1/campaigns/${campaign.id}`);
        if (state.campaign?.id === fresh.id) renderCampaign(fresh);
      } catch (err) {
        status.textContent = plain(err);
        state.campaign.timer = setTimeout(() => renderCampaign(campaign), POLL_MS * 4);
      }
    }, POLL_MS);
  } else {
    loadRecent();
  }
}

async function downloadCampaign() {
  // The archive needs the key: fetched, then handed to the browser as a file.
  clearErrors("campaign");
  try {
    const res = await api(`/v1/campaigns/${state.campaign.id}/archive`, { raw: true });
    const named = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await res.blob());
    a.download = named ? named[1] : `campaign-${state.campaign.id}.zip`;
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) {
    showError("campaign", plain(err));
  }
}

export function wireCampaign() {
  $("campaign-photos").addEventListener("change", () => addCampaignPhotos([...$("campaign-photos").files]));
  dropZone($("campaign-drop"), (files) => addCampaignPhotos(files));
  $("campaign-start").addEventListener("click", startCampaign);
  $("campaign-clear").addEventListener("click", () => {
    campaignFiles.length = 0;
    drawChosen();
  });
  $("campaign-download").addEventListener("click", downloadCampaign);
  $("campaign-cancel").addEventListener("click", async () => {
    clearTimeout(state.campaign.timer);
    try {
      renderCampaign(await api(`/v1/campaigns/${state.campaign.id}/cancel`, { method: "POST" }));
    } catch (err) {
      showError("campaign", plain(err));
    }
  });
}
