// The gateway's public HTTP API, and nothing else: every call the page makes is here.
import { parse, stringify } from "./json.js";
import { events } from "./sse.js";

const KEY = "diffstream.key";
export const TERMINAL = new Set(["completed", "failed", "cancelled", "expired"]);

/** An answer other than 2xx: the status, the API's field errors and its message. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const errors = Array.isArray(body?.errors) ? body.errors : [];
    const nested = typeof body?.error === "object" && body.error !== null ? body.error.message : body?.error;
    const detail = [body?.detail, body?.message, nested].find((d) => typeof d === "string");
    super(detail || errors.map((e) => e.message).join("; ") || `HTTP ${status}`);
    this.status = status;
    this.errors = errors;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

export const key = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

/** Take a key handed over in the address (`/#key=...`), then remove it from the bar. */
export function adoptKeyFromFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const handed = fragment.get("key");
  if (!handed) return false;
  key.set(handed);
  fragment.delete("key");
  const rest = fragment.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  return true;
}

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  const k = key.get();
  if (k) h.Authorization = `Bearer ${k}`;
  return h;
}

async function call(method, path, { body, type = "application/json", signal, raw } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": type }), signal };
  if (body !== undefined) init.body = type === "application/json" ? stringify(body) : body;
  const response = await fetch(path, init);
  if (raw && response.ok) return response;
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? parse(text) : null;
  } catch {
    parsed = { message: text };
  }
  if (!response.ok) {
    const retry = Number(response.headers.get("Retry-After")) || null;
    const error = new ApiError(response.status, parsed, retry);
    if (response.status === 401) window.dispatchEvent(new CustomEvent("diffstream:unauthorized"));
    throw error;
  }
  return parsed;
}

export const api = {
  models: () => call("GET", "/v1/models"),
  create: (request) => call("POST", "/v1/generations", { body: request }),
  get: (id) => call("GET", `/v1/generations/${encodeURIComponent(id)}`),
  cancel: (id) => call("POST", `/v1/generations/${encodeURIComponent(id)}/cancel`),
  list: (params) => call("GET", `/v1/generations?${new URLSearchParams(params)}`),
  batch: (text, type) => call("POST", "/v1/batches", { body: text, type }),
  batchStatus: (id) => call("GET", `/v1/batches/${encodeURIComponent(id)}`),
};

/** The models as a list of names, whatever shape the list comes in. */
export function modelNames(answer) {
  const items = Array.isArray(answer) ? answer : answer?.models ?? answer?.data ?? [];
  return items.map((m) => (typeof m === "string" ? m : m.name ?? m.id)).filter(Boolean);
}

/** The items and the next cursor of a list answer. */
export function page(answer) {
  const items = Array.isArray(answer) ? answer : answer?.items ?? answer?.data ?? answer?.generations ?? [];
  return { items, cursor: answer?.next_cursor ?? answer?.cursor ?? null };
}

/** How many images a state has ready (the API may list them, or only count them). */
export function imageCount(state) {
  if (Array.isArray(state?.images)) return state.images.length;
  if (Array.isArray(state?.image_urls)) return state.image_urls.length;
  return state?.status === "completed" ? Number(state?.num_images ?? state?.request?.num_images ?? 1) : 0;
}

const blobs = new Map();

/**
 * A URL an <img> can load for image `index` of a request. The state's presigned
 * `download_url` needs no key; without one, the image route (which needs the key and
 * answers with a redirect) is fetched here and shown from an object URL.
 */
export function imageUrl(id, index = 0, state = null) {
  const presigned = state?.images?.find?.((image) => image?.index === index)?.download_url
    ?? state?.images?.[index]?.download_url;
  if (presigned) return Promise.resolve(presigned);
  const cacheKey = `${id}/${index}`;
  if (!blobs.has(cacheKey)) {
    const loading = fetch(`/v1/generations/${encodeURIComponent(id)}/images/${index}`, {
      headers: headers({ Accept: "image/*" }),
    }).then(async (response) => {
      if (!response.ok) throw new ApiError(response.status, null, null);
      return URL.createObjectURL(await response.blob());
    });
    loading.catch(() => blobs.delete(cacheKey));
    blobs.set(cacheKey, loading);
  }
  return blobs.get(cacheKey);
}

/**
 * Follow a request's event stream until its terminal event, calling `onEvent(name, data)`
 * for each. Reconnects with Last-Event-ID when the connection drops.
 */
export async function follow(id, onEvent, signal) {
  let lastId = null;
  let delay = 500;
  while (!signal?.aborted) {
    try {
      const extra = { Accept: "text/event-stream" };
      if (lastId !== null) extra["Last-Event-ID"] = lastId;
      const response = await fetch(`/v1/generations/${encodeURIComponent(id)}/events`, {
        headers: headers(extra),
        signal,
        cache: "no-store",
      });
      if (!response.ok) {
        const error = new ApiError(response.status, null, null);
        if (response.status === 401) window.dispatchEvent(new CustomEvent("diffstream:unauthorized"));
        if (response.status < 500 && response.status !== 429) throw error;
      } else {
        for await (const message of events(response.body)) {
          if (message.id !== null) lastId = message.id;
          let data = {};
          try {
            data = parse(message.data);
          } catch {
            data = { message: message.data };
          }
          const name = message.event === "message" ? data.status ?? data.event ?? "message" : message.event;
          onEvent(name, data);
          const state = data.status ?? (TERMINAL.has(name) ? name : null);
          if (TERMINAL.has(name) || (name === "status" && TERMINAL.has(state))) return;
        }
        delay = 500;
      }
    } catch (error) {
      if (signal?.aborted) return;
      if (error instanceof ApiError && error.status < 500 && error.status !== 429) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 5000);
  }
}
