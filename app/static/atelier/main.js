// Atelier page: plain JavaScript ES modules against the /v1 API, one per panel, no framework
// and no build step. This one signs in with the API key and wires every panel.

import { $, api, routeExists, state } from "./api.js";
import { clearErrors, plain, showError } from "./messages.js";
import { wireSettings } from "./settings.js";
import { wirePhoto } from "./photo.js";
import { loadGallery, wireGallery } from "./gallery.js";
import { loadRecent, wireJobs } from "./jobs.js";
import { wireCampaign } from "./campaigns.js";
import { wireVideo } from "./video.js";
import { wireModels } from "./admin-models.js";
import { wireTraining } from "./admin-training.js";
import { loadAdmin, wireAdmin } from "./admin.js";

const KEY_STORE = "atelier.apiKey";

async function useKey(key, { fromStorage = false } = {}) {
  state.key = key;
  try {
    state.me = await api("/v1/me");
  } catch (err) {
    state.key = null;
    state.me = null;
    showKeyForm();
    showError("key", err.code === "unauthorized"
      ? (fromStorage ? "The saved API key no longer works. Paste a current one." : plain(err))
      : plain(err));
    return false;
  }
  localStorage.setItem(KEY_STORE, key);
  clearErrors("key");
  $("key-section").hidden = true;
  $("designer").hidden = false;
  $("change-key").hidden = false;
  $("who").textContent = `Signed in with ${state.me.name}'s ${state.me.is_admin ? "admin " : ""}key`;
  await detectFeatures();
  loadGallery();
  loadRecent();
  $("admin").hidden = !state.me.is_admin;
  if (state.me.is_admin) loadAdmin();
  return true;
}

function showKeyForm() {
  $("key-section").hidden = false;
  $("designer").hidden = true;
  $("admin").hidden = true;
  $("change-key").hidden = true;
  $("who").textContent = "";
  $("api-key").focus();
}

async function detectFeatures() {
  // Issue-4 routes (style sets, admin trainings, rollback) may or may not be deployed yet.
  state.features.styleSets = await routeExists("/v1/style-sets");
  if (!state.me.is_admin) return;
  state.features.contentSets = await routeExists("/v1/content-sets");
  state.features.adminTrainings = await routeExists("/v1/admin/trainings");
}

function wire() {
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) return showError("key", "Paste your API key first.");
    useKey(key);
  });
  $("change-key").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORE);
    $("api-key").value = "";
    showKeyForm();
  });
  wirePhoto();
  wireGallery();
  wireSettings();
  wireJobs();
  wireCampaign();
  wireVideo();
  wireAdmin();
  wireTraining();
  wireModels();
}

function start() {
  wire();
  // `atelier serve` prints a URL carrying the key in the fragment (never sent to the server):
  // take it, keep it, and remove it from the address bar.
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromUrl) history.replaceState(null, "", location.pathname + location.search);
  const saved = fromUrl || localStorage.getItem(KEY_STORE);
  if (saved) useKey(saved, { fromStorage: !fromUrl });
  else showKeyForm();
}

start();
