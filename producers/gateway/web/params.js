// What a request asked for, read from the API's state (or the body the page sent).
import { stringify } from "./json.js";

const FIELDS = [
  "prompt", "negative_prompt", "model", "width", "height", "steps", "guidance_scale", "seed",
  "num_images", "lane", "labels",
];

/** The generation parameters of a state, as a request body the API accepts again. */
export function paramsOf(state, sent = null) {
  const source = { ...(sent ?? {}), ...(state?.request ?? state?.params ?? state ?? {}) };
  const out = {};
  for (const field of FIELDS) {
    const value = source[field];
    if (value === null || value === undefined || value === "") continue;
    if (field === "labels" && typeof value === "object" && Object.keys(value).length === 0) continue;
    out[field] = value;
  }
  // The API's state names the size and seed per image; take them when nothing else did.
  const first = Array.isArray(state?.images) ? state.images[0] : null;
  if (first?.width && out.width === undefined) out.width = first.width;
  if (first?.height && out.height === undefined) out.height = first.height;
  if (Array.isArray(state?.images) && out.num_images === undefined && state.images.length) {
    out.num_images = state.images.length;
  }
  return out;
}

/** The seeds the images were drawn with (reported per image), else the one asked for. */
export function seedsOf(state, params) {
  const images = Array.isArray(state?.images) ? state.images : [];
  const seeds = images.map((image) => image?.seed).filter((s) => s !== null && s !== undefined);
  if (seeds.length) return seeds;
  if (Array.isArray(state?.seeds)) return state.seeds;
  return params.seed !== undefined ? [params.seed] : [];
}

/** A curl command line that submits the same request (the key comes from the shell). */
export function curlFor(params) {
  const url = `${location.origin}/v1/generations`;
  const body = stringify(params).replaceAll("'", "'\\''");
  return [
    `curl -sS -X POST '${url}' \\`,
    `  -H "Authorization: Bearer $DIFFSTREAM_API_KEY" \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d '${body}'`,
  ].join("\n");
}

export function sizeOf(params) {
  return params.width && params.height ? `${params.width}×${params.height}` : "";
}
