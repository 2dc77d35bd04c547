// The result view: the image, its parameters, download, again with a new seed, copy as curl.
import { imageCount, imageUrl } from "./api.js";
import { curlFor, paramsOf, seedsOf, sizeOf } from "./params.js";
import { $, copyText, h, randomSeed, toast } from "./ui.js";

export class ResultView {
  constructor(again) {
    this.dialog = $("#result");
    this.again = again;
    $("#result-close").addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("click", (event) => {
      if (event.target === this.dialog) this.dialog.close();  // a click on the backdrop
    });
    $("#result-again").addEventListener("click", () => {
      this.dialog.close();
      this.again({ ...this.params, seed: randomSeed() });
    });
    $("#result-download").addEventListener("click", (event) => this.download(event));
    $("#result-curl").addEventListener("click", async () => {
      const copied = await copyText(curlFor(this.curlParams));
      toast(copied ? "curl command copied (it reads the key from $DIFFSTREAM_API_KEY)" : "Copy failed: select the text below", copied ? "info" : "warn");
      if (!copied) $(".curl").open = true;
    });
  }

  open(state, sent = null, index = 0) {
    this.state = state;
    this.params = paramsOf(state, sent);
    const { params } = this;
    const id = state.id ?? state.request_id;
    const count = Math.max(imageCount(state), 1);
    $("#result-title").textContent = params.prompt ?? "Result";
    const figures = [];
    for (let i = 0; i < count; i += 1) {
      const img = h("img", { alt: `${params.prompt ?? "image"} (${i + 1} of ${count})`, width: params.width, height: params.height });
      const figure = h("figure", { class: i === index ? "current" : "" }, img);
      figures.push(figure);
      imageUrl(id, i, state).then((url) => {
        img.src = url;
        if (i === index) this.setDownload(url, id, i);
      }, () => img.classList.add("broken"));
      img.addEventListener("click", () => {
        for (const f of figures) f.classList.remove("current");
        figure.classList.add("current");
        imageUrl(id, i, state).then((url) => this.setDownload(url, id, i));
      });
    }
    $("#result-images").replaceChildren(...figures);
    $("#result-images").classList.toggle("many", count > 1);
    const seeds = seedsOf(state, params);
    const rows = [
      ["Prompt", params.prompt],
      ["Negative", params.negative_prompt],
      ["Model", params.model],
      ["Size", sizeOf(params)],
      ["Steps", params.steps],
      ["Guidance", params.guidance_scale],
      ["Seed", seeds.map(String).join(", ") || "random"],
      ["Images", params.num_images],
      ["Lane", params.lane],
      ["Labels", params.labels && Object.entries(params.labels).map(([k, v]) => `${k}=${v}`).join(", ")],
      ["Request", id],
      ["Status", state.status],
    ];
    $("#result-params").replaceChildren(...rows.filter(([, v]) => v !== undefined && v !== null && v !== "")
      .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));
    // With one image, the curl line repeats its seed, so that it draws the same picture.
    this.curlParams = seeds.length === 1 && count === 1 ? { ...params, seed: seeds[0] } : params;
    $("#result-curl-text").textContent = curlFor(this.curlParams);
    $(".curl").open = false;
    const download = $("#result-download");
    download.removeAttribute("href");
    download.setAttribute("aria-disabled", "true");
    if (!this.dialog.open) this.dialog.showModal();
  }

  setDownload(url, id, index) {
    const download = $("#result-download");
    const type = this.state?.images?.[index]?.content_type ?? "image/png";
    download.href = url;
    download.download = `${id}-${index}.${type.split("/")[1] ?? "png"}`;
    download.removeAttribute("aria-disabled");
  }

  /** Save the image under its name: a presigned link is on another origin, where a plain
   * link with `download` would only open it, so read it into an object URL first. */
  async download(event) {
    const link = event.currentTarget;
    if (link.href.startsWith("blob:") || link.dataset.saving) return;
    event.preventDefault();
    link.dataset.saving = "1";
    try {
      const response = await fetch(link.href);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const url = URL.createObjectURL(await response.blob());
      const save = h("a", { href: url, download: link.download, class: "offscreen" });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch {
      window.open(link.href, "_blank", "noopener");
    } finally {
      delete link.dataset.saving;
    }
  }
}
