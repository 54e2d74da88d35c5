// The page's one way to the /v1 API, and what the panels share: the upload limits rendered
// into the page, the signed-in state, and `$`. The API key lives in localStorage; every request
// sends it as a Bearer token, so images are fetched with it and shown from blob: URLs.

export const LIMITS = JSON.parse(document.getElementById("limits").textContent);

export const POLL_MS = 500;

export const $ = (id) => document.getElementById(id);

export const state = {
  key: null,
  me: null,
  photo: null, // {file, img, url}
  prepared: null, // {url}: the photo as the result shows it (the crop window, for the comparison)
  boxes: [], // kept regions, [x0, y0, x1, y1] relative to the photo (sent as keep_boxes)
  regions: [], // regions in another style, {box, style} (sent as regions)
  crop: null, // the ad format's crop window, [x0, y0, x1, y1] relative (sent as crop)
  campaign: null, // {id, timer, files: [File]}
  job: null,
  jobTimer: null,
  features: { styleSets: false, contentSets: false, adminTrainings: false },
  training: null, // {id, timer, series: Map(name -> [[step, value]])}
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(path, { method = "GET", body, json, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${state.key}` };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(path, { method, body, headers });
  } catch (err) {
    throw new ApiError(0, "network", "The server could not be reached. Check your connection and try again.");
  }
  if (!res.ok) {
    let code = `http_${res.status}`;
    let message = res.statusText;
    try {
      const body = await res.json();
      code = body.error.code;
      message = body.error.message;
    } catch (_) { /* not our JSON error shape */ }
    throw new ApiError(res.status, code, message);
  }
  if (raw) return res;
  return res.status === 204 ? null : res.json();
}

const blobUrls = new Map();

export async function imageUrl(path) {
  // Authenticated images (results, style thumbnails) become blob: URLs, fetched once each.
  if (!blobUrls.has(path)) {
    const res = await api(path, { raw: true });
    blobUrls.set(path, URL.createObjectURL(await res.blob()));
  }
  return blobUrls.get(path);
}

export async function routeExists(path) {
  // A missing route answers 404 with code not_found; a present one answers 200 (or 405).
  try {
    await api(path);
    return true;
  } catch (err) {
    return !(err.status === 404 && err.code === "not_found");
  }
}
