// The create form: reads the controls into a request body, shows the API's field errors
// next to their fields, and submits on the button or Ctrl+Enter.
import { ApiError, api } from "./api.js";
import { $, randomSeed, toast } from "./ui.js";

// Which control shows an error about which API field.
const CONTROL_OF = {
  width: "size", height: "size", "width*height": "size", size: "size",
  prompt: "prompt", negative_prompt: "negative_prompt", model: "model", steps: "steps",
  guidance_scale: "guidance_scale", seed: "seed", num_images: "num_images", lane: "lane",
  labels: "labels",
};

function controlFor(field) {
  const name = String(field ?? "");
  return CONTROL_OF[name] ?? CONTROL_OF[name.split(".")[0]] ?? null;
}

/** Field errors from a 422 answer, in the API's shape or FastAPI's default one. */
export function fieldErrors(error) {
  if (error.errors.length) return error.errors;
  const detail = Array.isArray(error.body?.detail) ? error.body.detail : [];
  return detail.map((d) => ({
    field: Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "request",
    message: d.msg ?? String(d),
  }));
}

export class CreateForm {
  constructor(onCreated) {
    this.form = $("#create-form");
    this.onCreated = onCreated;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.form.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.submit();
      }
    });
    $("#dice").addEventListener("click", () => {
      $("#seed").value = String(randomSeed());
      this.clearError("seed");
    });
    this.form.addEventListener("input", (event) => {
      const id = event.target.name === "lane" ? "lane" : event.target.id;
      if (id) this.clearError(id);
    });
  }

  setModels(names) {
    const select = $("#model");
    const current = select.value;
    select.replaceChildren(...names.map((name) => new Option(name, name)));
    if (names.includes(current)) select.value = current;
    else if (names.includes("digits")) select.value = "digits";
  }

  /** The request body, or null after showing the local errors (format only: the API judges limits). */
  read() {
    const value = (id) => $(`#${id}`).value.trim();
    const errors = {};
    const body = { prompt: $("#prompt").value, model: value("model") };
    const negative = $("#negative_prompt").value;
    if (negative.trim()) body.negative_prompt = negative;
    const size = value("size").match(/^(\d+)\s*(?:[x×X*]\s*(\d+))?$/);
    if (size) {
      body.width = Number(size[1]);
      body.height = Number(size[2] ?? size[1]);
    } else {
      errors.size = "Write the size as WIDTHxHEIGHT, for example 128x128.";
    }
    for (const [id, integer] of [["steps", true], ["guidance_scale", false], ["num_images", true]]) {
      const text = value(id);
      const number = Number(text);
      if (text === "" || !Number.isFinite(number) || (integer && !Number.isInteger(number))) {
        errors[id] = `Enter ${integer ? "a whole number" : "a number"}.`;
      } else {
        body[id] = number;
      }
    }
    const seed = value("seed");
    if (/^\d+$/.test(seed)) body.seed = Number.isSafeInteger(Number(seed)) ? Number(seed) : BigInt(seed);
    else if (seed !== "") errors.seed = "A seed is a whole number of 0 or more; leave it empty for a random one.";
    body.lane = this.form.elements.lane.value || "interactive";
    const labels = value("labels");
    if (labels) {
      body.labels = {};
      for (const pair of labels.split(",").map((p) => p.trim()).filter(Boolean)) {
        const [k, ...rest] = pair.split("=");
        if (!k.trim() || rest.length === 0) {
          errors.labels = `"${pair}" is not key=value; separate labels with commas.`;
          break;
        }
        body.labels[k.trim()] = rest.join("=").trim();
      }
    }
    this.clearErrors();
    for (const [id, message] of Object.entries(errors)) this.showError(id, message);
    if (Object.keys(errors).length) {
      this.focusFirstError();
      return null;
    }
    return body;
  }

  async submit(override = null) {
    const body = override ?? this.read();
    if (!body) return;
    const button = $("#generate");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      const created = await api.create(body);
      this.onCreated(created, body);
    } catch (error) {
      this.showApiError(error);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  showApiError(error) {
    if (!(error instanceof ApiError)) {
      $("#create-error").textContent = `The gateway could not be reached: ${error.message}`;
      return;
    }
    if (error.status === 422 || error.status === 400) {
      const unplaced = [];
      for (const item of fieldErrors(error)) {
        const id = controlFor(item.field);
        if (id) this.showError(id, item.message, true);
        else unplaced.push(item.message);
      }
      if (unplaced.length || !fieldErrors(error).length) {
        $("#create-error").textContent = unplaced.join(" ") || error.message;
      }
      this.focusFirstError();
      return;
    }
    if (error.status === 429 || error.status === 503) {
      const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : "";
      const text = `${error.message.replace(/\.$/, "")}.${wait}`;
      $("#create-error").textContent = text;
      toast(text, "warn");
      return;
    }
    $("#create-error").textContent = error.message;
  }

  showError(id, message, append = false) {
    const box = $(`#${id}-error`);
    // One line per error (a 7x7 size breaks the width and the height rules).
    box.textContent = append && box.textContent ? `${box.textContent}\n${message}` : message;
    const control = id === "lane" ? $("#lane-interactive") : $(`#${id}`);
    control?.setAttribute("aria-invalid", "true");
    control?.closest(".field")?.classList.add("invalid");
  }

  clearError(id) {
    const box = $(`#${id}-error`);
    if (!box) return;
    box.textContent = "";
    const control = id === "lane" ? $("#lane-interactive") : $(`#${id}`);
    control?.removeAttribute("aria-invalid");
    control?.closest(".field")?.classList.remove("invalid");
  }

  clearErrors() {
    for (const box of this.form.querySelectorAll(".field-error")) this.clearError(box.id.replace(/-error$/, ""));
    $("#create-error").textContent = "";
  }

  focusFirstError() {
    const field = this.form.querySelector(".field.invalid");
    field?.querySelector("input:not([type=radio]), textarea, select, input[type=radio]")?.focus();
  }
}
