// The API client: config.json says where the API is; errors become ApiError with API.md's code.
import { announce } from "./ui.js";
import { token } from "./auth.js";
import { language } from "./i18n.js";

let config = null;
let skewMs = 0; // server clock minus ours, so a hold's countdown is right on a wrong clock

export async function loadConfig() {
  if (!config) {
    const response = await fetch("config.json", { cache: "no-cache" });
    config = await response.json();
  }
  return config;
}

export const serverNow = () => Date.now() + skewMs;

export class ApiError extends Error {
  constructor(status, error = {}) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "error";
    this.fields = error.fields || [];
    this.opensAt = error.opens_at || null; // not_open_yet: when the person's wave opens
  }
}

// The words api.js says itself; the portal puts its language's in (staff pages: these).
export const texts = {
  network: "Får ikke kontakt med tjenesten. Sjekk nettet og prøv igjen.",
  busy: (seconds) => `Mange bestiller nå. Vi prøver igjen om ${seconds} sekund${seconds === 1 ? "" : "er"} …`,
};

const PUBLIC = /^\/(health-contacts|timebooks)(\/|\?|$)/;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const MAX_TRIES = 5;

// 429 and 503 are retried after Retry-After (a crowd, not a fault), with a visible message.
// `cache`: fetch's own (e.g. "no-cache" for a read a change is made from).
export async function api(path, { method = "GET", body, headers = {}, raw = false, cache } = {}) {
  const { api: base } = await loadConfig();
  // The person's language (nb, nn, en): what they book or join in gets its messages and .ics in
  // it. A safelisted header for these values, so a public GET stays a simple request.
  const sent = { "Accept-Language": language(), ...headers };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  // Discovery and availability are public: no token, so the browser sends them as simple
  // requests (no preflight for every day's URL) and caches may keep them.
  const bearer = method === "GET" && PUBLIC.test(path) ? null : token();
  if (bearer) sent.Authorization = `Bearer ${bearer}`;
  for (let attempt = 1; ; attempt += 1) {
    let response;
    try {
      response = await fetch(base + path, { method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body), cache });
    } catch {
      throw new ApiError(0, { code: "network", message: texts.network });
    }
    // Only from answers that cannot come from a cache (a cached GET keeps its old Date).
    const date = response.headers.get("Date");
    if (date && method !== "GET") skewMs = new Date(date).getTime() - Date.now();
    if ((response.status === 429 || response.status === 503) && attempt < MAX_TRIES) {
      const seconds = Math.min(Math.max(Number(response.headers.get("Retry-After")) || 1, 1), 30);
      announce(texts.busy(seconds));
      await sleep(seconds * 1000);
      continue;
    }
    if (attempt > 1) announce("");
    if (response.status === 204) return null;
    if (!response.ok) {
      let error = {};
      try {
        error = (await response.json()).error || {};
      } catch {
        /* not JSON */
      }
      throw new ApiError(response.status, error);
    }
    return raw ? response : response.json();
  }
}

// A list of API.md: {items} or a page {items, next_cursor}. Follows next_cursor up to maxPages.
export async function listAll(path, maxPages = 10) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page += 1) {
    const separator = path.includes("?") ? "&" : "?";
    const data = await api(cursor ? `${path}${separator}cursor=${encodeURIComponent(cursor)}` : path);
    items.push(...(data.items || []));
    cursor = data.next_cursor || null;
    if (!cursor) break;
  }
  return items;
}
