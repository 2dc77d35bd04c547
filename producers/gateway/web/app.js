// The page's entry: sign in, tabs, and wiring of the create form, requests, result view,
// gallery and batch parts. Everything goes through the gateway's public API (api.js).
import { ApiError, TERMINAL, adoptKeyFromFragment, api, key, modelNames, page } from "./api.js";
import { Batch } from "./batch.js";
import { CreateForm } from "./create.js";
import { Gallery } from "./gallery.js";
import { Requests } from "./requests.js";
import { ResultView } from "./result.js";
import { $, toast } from "./ui.js";

const TABS = ["create", "gallery", "batch"];

const result = new ResultView((params) => {
  selectTab("create");
  form.submit(params);
});
const open = (state, sent, index) => result.open(state, sent, index);
const requests = new Requests(open);
const form = new CreateForm((created, sent) => {
  const id = created.id ?? created.request_id;
  requests.add(id, sent, created.status ? created : null);
  gallery.stale = true;
});
const gallery = new Gallery(open);
// A finished image joins an open gallery at once (when its top is in view), else next time.
requests.onFinished = (state) => {
  if (state.status !== "completed") return;
  if (!$("#view-gallery").hidden && scrollY < 200) gallery.reload();
  else gallery.stale = true;
};
new Batch(open);

function selectTab(name, focus = false) {
  for (const tab of TABS) {
    const button = $(`#tab-${tab}`);
    const selected = tab === name;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    $(`#view-${tab}`).hidden = !selected;
    if (selected && focus) button.focus();
  }
  if (name === "gallery" && (gallery.stale || !gallery.started)) {
    gallery.started = true;
    gallery.stale = false;
    gallery.reload();
  }
}

for (const tab of TABS) {
  $(`#tab-${tab}`).addEventListener("click", () => selectTab(tab));
  $(`#tab-${tab}`).addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (event.key === "Home" || event.key === "End" || step) {
      event.preventDefault();
      const at = TABS.indexOf(tab);
      const next = event.key === "Home" ? 0 : event.key === "End" ? TABS.length - 1 : (at + step + TABS.length) % TABS.length;
      selectTab(TABS[next], true);
    }
  });
}

function showSignedIn(signedIn) {
  $("#view-signin").hidden = signedIn;
  $(".tabs").hidden = !signedIn;
  $("#sign-out").hidden = !signedIn;
  if (signedIn) selectTab("create");
  else for (const tab of TABS) $(`#view-${tab}`).hidden = true;
}

async function signIn(message = "") {
  showSignedIn(false);
  $("#api-key-error").textContent = message;
  $("#api-key").focus();
}

/** Check the key with one authenticated call, then load the models and the requests in flight. */
async function start() {
  try {
    const { items } = page(await api.list({ limit: 50 }));
    showSignedIn(true);
    for (const state of items.slice().reverse()) {
      const id = state.id ?? state.request_id;
      if (id && !TERMINAL.has(state.status)) requests.add(id, null, state);
    }
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      key.clear();
      signIn("This key was not accepted: check it, or create one with diffstream keys create.");
    } else {
      signIn(`The gateway could not be reached: ${error.message}`);
    }
    return;
  }
  try {
    const names = modelNames(await api.models());
    form.setModels(names);
    gallery.setModels(names);
  } catch (error) {
    toast(`Could not list the models: ${error.message}`, "error");
  }
  $("#prompt").focus();
}

$("#signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("#api-key").value.trim();
  if (!value) {
    $("#api-key-error").textContent = "Paste your API key.";
    return;
  }
  key.set(value);
  $("#api-key").value = "";
  start();
});

$("#sign-out").addEventListener("click", () => {
  key.clear();
  requests.clear();
  signIn();
});

window.addEventListener("diffstream:unauthorized", () => {
  if (!key.get()) return;
  key.clear();
  requests.clear();
  signIn("Your key was refused (revoked?): sign in again.");
});

// A link with a key may also be opened on a page that is already loaded.
window.addEventListener("hashchange", () => {
  if (adoptKeyFromFragment()) start();
});

adoptKeyFromFragment();
if (key.get()) start();
else signIn();
