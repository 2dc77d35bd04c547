// The gallery: the tenant's images, newest first, loading more as the end scrolls into view.
import { api, imageCount, imageUrl, page } from "./api.js";
import { paramsOf } from "./params.js";
import { $, h } from "./ui.js";

// A page fills the screen and a row more: a phone reads a few images at a time.
const TILE_PX = 230;
const pageSize = () => Math.min(60, Math.max(8, Math.floor(innerWidth / TILE_PX + 1) * (Math.ceil(innerHeight / TILE_PX) + 1)));
// Pages to read in one go while a filter hides every item of a page.
const MAX_EMPTY_PAGES = 5;

export class Gallery {
  constructor(openResult) {
    this.list = $("#gallery");
    this.openResult = openResult;
    this.filter = { model: "", label: "" };
    this.reset();
    $("#gallery-filter").addEventListener("submit", (event) => {
      event.preventDefault();
      this.filter = { model: $("#filter-model").value, label: $("#filter-label").value.trim() };
      this.reload();
    });
    $("#filter-model").addEventListener("change", () => $("#gallery-filter").requestSubmit());
    $("#gallery-load").addEventListener("click", () => this.more());
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.more();
    }, { rootMargin: "400px" });
    this.observer.observe($("#gallery-more"));
  }

  reset() {
    this.cursor = null;
    this.done = false;
    this.loading = null;
    this.shown = 0;
    this.seen = new Set();
    this.generation = (this.generation ?? 0) + 1;
  }

  setModels(names) {
    const select = $("#filter-model");
    const current = select.value;
    select.replaceChildren(new Option("All models", ""), ...names.map((n) => new Option(n, n)));
    select.value = names.includes(current) ? current : "";
  }

  reload() {
    this.reset();
    this.list.replaceChildren();
    $("#gallery-empty").hidden = true;
    $("#gallery-more").hidden = false;
    return this.more();
  }

  /** Load the next page (once at a time); keep going while a filter hides whole pages. */
  more() {
    if (this.done || this.loading) return this.loading;
    const generation = this.generation;
    this.loading = (async () => {
      try {
        for (let empty = 0; empty < MAX_EMPTY_PAGES && !this.done; empty += 1) {
          const added = await this.loadPage(generation);
          if (generation !== this.generation) return;
          if (added > 0) break;
        }
      } finally {
        if (generation === this.generation) this.loading = null;
      }
      if (generation !== this.generation) return;
      $("#gallery-more").hidden = this.done;
      $("#gallery-empty").hidden = this.shown > 0 || !this.done;
      // A short page leaves the sentinel in view: the observer does not fire again by itself.
      if (!this.done && this.visible($("#gallery-more"))) this.more();
    })();
    return this.loading;
  }

  visible(el) {
    const box = el.getBoundingClientRect();
    return box.top < innerHeight + 400 && box.bottom > 0 && !$("#view-gallery").hidden;
  }

  async loadPage(generation) {
    const query = { limit: pageSize(), status: "completed" };
    if (this.cursor) query.cursor = this.cursor;
    if (this.filter.model) query.model = this.filter.model;
    if (this.filter.label.includes("=")) query.label = this.filter.label;
    const { items, cursor } = page(await api.list(query));
    if (generation !== this.generation) return 0;
    this.cursor = cursor;
    if (!cursor || items.length === 0) this.done = true;
    let added = 0;
    for (const state of items) {
      const id = state.id ?? state.request_id;
      if (this.seen.has(id) || !this.matches(state)) continue;
      this.seen.add(id);
      added += this.addTiles(state, id);
    }
    this.shown += added;
    return added;
  }

  matches(state) {
    if (state.status !== "completed") return false;
    const params = paramsOf(state);
    if (this.filter.model && params.model !== this.filter.model) return false;
    if (this.filter.label) {
      const [k, ...rest] = this.filter.label.split("=");
      const labels = params.labels ?? {};
      if (rest.length === 0) return k.trim() in labels || Object.values(labels).includes(k.trim());
      if (labels[k.trim()] !== rest.join("=").trim()) return false;
    }
    return true;
  }

  addTiles(state, id) {
    const params = paramsOf(state);
    const count = Math.max(imageCount(state), 1);
    for (let index = 0; index < count; index += 1) {
      const img = h("img", { alt: params.prompt ?? "image", loading: "lazy", width: params.width, height: params.height });
      imageUrl(id, index, state).then((url) => { img.src = url; }, () => img.classList.add("broken"));
      const caption = [params.model, params.width && `${params.width}×${params.height}`].filter(Boolean).join(" · ");
      this.list.append(h("li", { class: "tile", dataset: { id, index } },
        h("button", {
          type: "button", class: "tile-button", onclick: () => this.openResult(state, null, index),
          "aria-label": `Open “${params.prompt ?? id}”`,
        }, img),
        h("p", { class: "tile-caption" }, h("span", { class: "tile-prompt" }, params.prompt ?? ""), h("span", { class: "muted" }, caption))));
    }
    return count;
  }
}
