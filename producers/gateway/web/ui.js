// Small DOM helpers shared by the page's parts.

/** Build an element: h("p", {class: "x"}, "text", child). `on*` attributes add listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** A short message at the bottom of the screen, read out by screen readers. */
export function toast(message, kind = "info", ms = 5000) {
  const item = h("div", { class: `toast ${kind}` }, message);
  $("#toasts").append(item);
  setTimeout(() => item.remove(), ms);
}

/** A random seed, uniform in [0, 2**32): plenty, and exact in JavaScript numbers. */
export function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Without clipboard permission (or outside a secure context), fall back to a selection.
    const area = h("textarea", { class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    return done;
  }
}
