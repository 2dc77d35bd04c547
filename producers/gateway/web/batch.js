// Batch: upload a JSONL or CSV file, watch its counts, then see its contact sheet.
import { ApiError, api, imageCount, imageUrl, page } from "./api.js";
import { paramsOf } from "./params.js";
import { $, h, toast } from "./ui.js";

const STATES = ["queued", "running", "completed", "failed", "cancelled", "expired"];
const OPEN = new Set(["queued", "running", "pending", "in_flight"]);
const SHEET_PAGES = 20;

export class Batch {
  constructor(openResult) {
    this.openResult = openResult;
    this.invalid = [];
    $("#batch-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.upload();
    });
    $("#batch-file").addEventListener("change", () => { $("#batch-file-error").textContent = ""; });
  }

  async upload() {
    const file = $("#batch-file").files[0];
    const error = $("#batch-file-error");
    error.textContent = "";
    if (!file) {
      error.textContent = "Choose a .jsonl or .csv file first.";
      $("#batch-file").focus();
      return;
    }
    const type = /\.csv$/i.test(file.name) || file.type === "text/csv" ? "text/csv" : "application/x-ndjson";
    try {
      const created = await api.batch(await file.text(), type);
      this.show(created);
    } catch (failure) {
      const details = failure instanceof ApiError ? failure.errors.map((e) => e.message) : [];
      error.textContent = [failure.message, ...details.slice(0, 5)].filter(Boolean).join(" · ");
    }
  }

  async show(created) {
    this.id = created.id ?? created.batch_id;
    this.invalid = Array.isArray(created.invalid) ? created.invalid : [];
    $("#batch-invalid").replaceChildren(...this.invalid.slice(0, 20).map((e) => h("li", {}, `line ${e.line}: ${e.message}`)));
    $("#batch-invalid").hidden = this.invalid.length === 0;
    this.stopped = false;
    $("#batch-id").textContent = this.id;
    $("#batch-status").hidden = false;
    $("#batch-sheet-wrap").hidden = true;
    this.render(created);
    const id = this.id;
    while (!this.stopped && id === this.id) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      try {
        const status = await api.batchStatus(id);
        if (id !== this.id) return;
        this.render(status);
        if (finished(status)) break;
      } catch (failure) {
        if (failure instanceof ApiError && failure.status < 500) {
          toast(`Batch ${id}: ${failure.message}`, "error");
          return;
        }
      }
    }
    if (id === this.id) await this.sheet(id);
  }

  render(status) {
    const counts = countsOf(status);
    const total = Number(status.total ?? status.accepted ?? status.published ?? Object.values(counts).reduce((a, b) => a + b, 0));
    const names = [...new Set([...STATES, ...Object.keys(counts)])].filter((n) => n in counts || STATES.slice(0, 4).includes(n));
    $("#batch-counts").replaceChildren(
      h("div", { class: "count total" }, h("dt", {}, "total"), h("dd", {}, String(total))),
      ...names.map((n) => h("div", { class: `count ${n}${counts[n] ? " some" : ""}` }, h("dt", {}, n), h("dd", {}, String(counts[n] ?? 0)))),
      ...(this.invalid.length ? [h("div", { class: "count failed some" }, h("dt", {}, "invalid lines"), h("dd", {}, String(this.invalid.length)))] : []),
    );
    $("#batch-bar").replaceChildren(...STATES.filter((n) => counts[n]).map((n) => h("span", {
      class: `seg ${n}`, style: `flex-grow:${counts[n]}`, title: `${n}: ${counts[n]}`,
    })));
    $("#batch-bar").setAttribute("aria-label", names.map((n) => `${n} ${counts[n] ?? 0}`).join(", ") + ` of ${total}`);
  }

  /** The batch's images in one grid: from the ids the batch lists, or the tenant's list. */
  async sheet(id) {
    const wrap = $("#batch-sheet-wrap");
    const list = $("#batch-sheet");
    list.replaceChildren();
    wrap.hidden = false;
    const states = await this.members(id);
    for (const state of states) {
      if (state.status !== "completed") continue;
      const rid = state.id ?? state.request_id;
      const params = paramsOf(state);
      for (let index = 0; index < Math.max(imageCount(state), 1); index += 1) {
        const img = h("img", { alt: params.prompt ?? rid, title: params.prompt ?? rid });
        imageUrl(rid, index, state).then((url) => { img.src = url; }, () => img.classList.add("broken"));
        list.append(h("li", {}, h("button", {
          type: "button", class: "tile-button", onclick: () => this.openResult(state, null, index),
          "aria-label": `Open “${params.prompt ?? rid}”`,
        }, img)));
      }
    }
    if (!list.children.length) list.append(h("li", { class: "muted" }, "No images in this batch."));
  }

  async members(id) {
    const status = await api.batchStatus(id).catch(() => ({}));
    const ids = status.request_ids ?? status.requests?.map((r) => (typeof r === "string" ? r : r.id));
    if (Array.isArray(ids) && ids.length) {
      return Promise.all(ids.map((rid) => api.get(rid).catch(() => ({ id: rid, status: "unknown" }))));
    }
    const found = [];
    let cursor = null;
    for (let i = 0; i < SHEET_PAGES; i += 1) {
      const query = { limit: 100, batch_id: id };
      if (cursor) query.cursor = cursor;
      const { items, cursor: next } = page(await api.list(query));
      found.push(...items.filter((s) => (s.batch_id ?? s.request?.batch_id) === id));
      if (!next || items.length === 0) break;
      cursor = next;
    }
    // The sheet reads in the order of submission (the list is newest first).
    return found.reverse().sort((a, b) => String(a.created_at ?? "").localeCompare(String(b.created_at ?? "")));
  }
}

function countsOf(status) {
  const source = status.counts ?? status.by_status ?? status;
  const counts = {};
  for (const [name, value] of Object.entries(source)) {
    if (typeof value === "number" && !["total", "accepted", "published"].includes(name)) counts[name] = value;
  }
  return counts;
}

function finished(status) {
  const counts = countsOf(status);
  const total = Number(status.total ?? status.accepted ?? status.published ?? 0);
  const open = Object.entries(counts).filter(([n]) => OPEN.has(n)).reduce((a, [, v]) => a + v, 0);
  const closed = Object.entries(counts).filter(([n]) => !OPEN.has(n)).reduce((a, [, v]) => a + v, 0);
  return status.done === true || (open === 0 && (total === 0 || closed >= total));
}
