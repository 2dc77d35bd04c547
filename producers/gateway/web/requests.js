// Every request of this session: queued, step x of y with a bar, then its images; cancel.
import { ApiError, TERMINAL, api, follow, imageCount, imageUrl } from "./api.js";
import { paramsOf, sizeOf } from "./params.js";
import { $, h, toast } from "./ui.js";

const LABELS = {
  queued: "Queued", running: "Drawing", completed: "Done", failed: "Failed",
  cancelled: "Cancelled", expired: "Expired", submitting: "Sending",
};

export class Requests {
  constructor(openResult) {
    this.list = $("#requests");
    this.openResult = openResult;
    this.entries = new Map();
  }

  /** Show and follow a request the API accepted (`created` is its 202 or its state). */
  add(id, sent = null, state = null) {
    if (this.entries.has(id)) return this.entries.get(id);
    const params = paramsOf(state, sent);
    const entry = { id, params, state: { status: "queued", ...(state ?? {}) }, controller: new AbortController() };
    entry.el = this.render(entry);
    this.list.prepend(entry.el);
    $("#requests-empty").hidden = true;
    this.entries.set(id, entry);
    this.update(entry);
    // On a phone the list sits below the form: bring the new request into view.
    if (sent && matchMedia("(max-width: 860px)").matches) entry.el.scrollIntoView({ block: "center" });
    if (TERMINAL.has(entry.state.status)) this.finish(entry);
    else this.watch(entry);
    return entry;
  }

  render(entry) {
    const { params } = entry;
    const meta = [params.model, sizeOf(params), params.steps && `${params.steps} steps`, params.lane]
      .filter(Boolean).join(" · ");
    entry.bar = h("div", {
      class: "bar-track", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": params.steps || 1,
      "aria-valuenow": 0, "aria-label": `Progress of “${params.prompt ?? entry.id}”`,
    }, h("span", { class: "bar-fill" }));
    entry.chip = h("span", { class: "chip" });
    entry.detail = h("span", { class: "req-detail" });
    entry.thumbs = h("div", { class: "req-thumbs" }, h("div", { class: "thumb placeholder", "aria-hidden": "true" }));
    entry.cancel = h("button", {
      type: "button", class: "secondary small cancel", onclick: () => this.cancel(entry),
      "aria-label": `Cancel “${params.prompt ?? entry.id}”`,
    }, "Cancel");
    entry.open = h("button", {
      type: "button", class: "secondary small open", hidden: true, onclick: () => this.openResult(entry.state, entry.params),
    }, "Details");
    return h("li", { class: "req card", dataset: { id: entry.id } },
      entry.thumbs,
      h("div", { class: "req-main" },
        h("p", { class: "req-prompt" }, params.prompt ?? entry.id),
        h("p", { class: "req-meta muted" }, meta),
        entry.bar,
        h("p", { class: "req-status" }, entry.chip, entry.detail)),
      h("div", { class: "req-actions" }, entry.cancel, entry.open));
  }

  /** Redraw the chip, the bar and the detail line from the entry's state. */
  update(entry) {
    const { state } = entry;
    const status = state.status ?? "queued";
    if (entry.el.dataset.status && entry.el.dataset.status !== status) {
      $("#announcer").textContent = `${entry.params.prompt ?? "Request"}: ${LABELS[status] ?? status}`;
    }
    entry.el.dataset.status = status;
    entry.chip.className = `chip ${status}`;
    entry.chip.textContent = LABELS[status] ?? status;
    const steps = Number(state.steps ?? entry.params.steps ?? 0);
    const step = Math.min(Number(state.step ?? 0), steps || Infinity);
    const done = status === "completed";
    entry.bar.setAttribute("aria-valuemax", String(steps || 1));
    entry.bar.setAttribute("aria-valuenow", String(done ? steps || 1 : step));
    entry.bar.firstChild.style.width = `${done ? 100 : steps ? (100 * step) / steps : 0}%`;
    // Without progress events (processors publish them only when configured to), a
    // running request has no step to show: the bar just says "busy".
    const stepKnown = state.step !== undefined && state.step !== null;
    entry.bar.classList.toggle("indeterminate", status === "queued" || (status === "running" && !stepKnown));
    entry.bar.hidden = TERMINAL.has(status) && !done;
    let detail = "";
    if (status === "running" && steps && stepKnown) detail = `step ${step} of ${steps}`;
    else if (status === "running") detail = "drawing";
    else if (status === "queued") detail = state.position ? `position ${state.position}` : "waiting for a worker";
    else if (status === "failed" || status === "expired") detail = state.error?.message ?? state.message ?? state.code ?? "";
    else if (done) detail = timing(state);
    entry.detail.textContent = detail;
    entry.cancel.hidden = TERMINAL.has(status);
  }

  async watch(entry) {
    try {
      await follow(entry.id, (name, data) => this.onEvent(entry, name, data), entry.controller.signal);
    } catch (error) {
      // No stream (or it was refused): poll the state instead.
      if (!(error instanceof ApiError) || error.status === 401) return;
      await this.poll(entry);
      return;
    }
    if (!entry.controller.signal.aborted) await this.finish(entry);
  }

  onEvent(entry, name, data) {
    const next = { ...entry.state };
    if (name === "progress") {
      next.status = "running";
      if (data.step !== undefined) next.step = data.step;
      if (data.steps !== undefined) next.steps = data.steps;
    } else {
      Object.assign(next, data);
      if (!data.status && (TERMINAL.has(name) || name === "queued" || name === "running")) next.status = name;
      // A state event repeats the request's steps; keep the step count seen so far.
      if (next.status === "running" && data.step === undefined) next.step = entry.state.step;
    }
    entry.state = next;
    this.update(entry);
  }

  async poll(entry) {
    while (!entry.controller.signal.aborted) {
      try {
        entry.state = { ...entry.state, ...(await api.get(entry.id)) };
        this.update(entry);
        if (TERMINAL.has(entry.state.status)) break;
      } catch (error) {
        if (error instanceof ApiError && error.status < 500) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    await this.finish(entry);
  }

  /** The terminal state: fetch the full state (image links, timings), then the images. */
  async finish(entry) {
    try {
      entry.state = { ...entry.state, ...(await api.get(entry.id)) };
    } catch {
      // Keep what the stream said; the images below may still load.
    }
    this.update(entry);
    this.onFinished?.(entry.state);
    if (entry.state.status !== "completed") {
      entry.thumbs.replaceChildren(h("div", { class: `thumb placeholder ${entry.state.status}`, "aria-hidden": "true" }));
      return;
    }
    const count = imageCount(entry.state) || entry.params.num_images || 1;
    const buttons = [];
    for (let index = 0; index < count; index += 1) {
      const img = h("img", { alt: `${entry.params.prompt ?? "image"} (${index + 1} of ${count})`, class: "thumb" });
      buttons.push(h("button", {
        type: "button", class: "thumb-button", onclick: () => this.openResult(entry.state, entry.params, index),
        "aria-label": `Open image ${index + 1} of “${entry.params.prompt ?? entry.id}”`,
      }, img));
      imageUrl(entry.id, index, entry.state).then((url) => { img.src = url; }, () => img.classList.add("broken"));
    }
    entry.thumbs.replaceChildren(...buttons);
    entry.open.hidden = false;
  }

  async cancel(entry) {
    entry.cancel.disabled = true;
    try {
      await api.cancel(entry.id);
      toast("Cancel sent: it takes effect unless drawing has begun.");
    } catch (error) {
      toast(`Could not cancel: ${error.message}`, "error");
    } finally {
      entry.cancel.disabled = false;
    }
  }

  clear() {
    for (const entry of this.entries.values()) entry.controller.abort();
    this.entries.clear();
    this.list.replaceChildren();
    $("#requests-empty").hidden = false;
  }
}

function timing(state) {
  const total = state.timings?.end_to_end_s;
  const model = state.timings?.inference_s;
  if (typeof total !== "number") return "";
  const drawn = typeof model === "number" ? `, ${model.toFixed(2)} s drawing` : "";
  return `in ${total.toFixed(total < 10 ? 2 : 1)} s${drawn}`;
}
