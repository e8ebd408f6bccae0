// Create's image rendered in the visitor's browser: onnxruntime-web runs the exported synthesis
// network on a canvas while a slider is dragged, with no request to the server. The server
// sends the seed's w, the average w and the directions once per seed / model / method
// (the hidden #web box); it still renders everything that must be exact (downloads, recipes,
// history). Anything that fails here leaves the page on server rendering.
import { decodeF32, toRGBA, wsFor } from "./latent.mjs";

const config = JSON.parse(document.getElementById("ganart-web-config")?.textContent || "{}");
const G = (window.ganart = { active: false, failed: null, frames: [], runs: [], paints: 0, source: config.source });
let ort = null;
let state = null; // what frames are painted from, with the session of its model
let stateSeq = 0; // the newest setState: an older one finishing later (a slow model load) is dropped
let pending = null;
let busy = false;

async function fetchChecked(url, integrity, kind) {
  const response = await fetch(url, { integrity }); // the browser refuses bytes that differ from the pin
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response[kind]();
}

async function loadRuntime() {
  if (!config.module) throw new Error("no runtime configured");
  const [code, wasm] = await Promise.all([
    fetchChecked(config.module, config.module_integrity, "text"),
    fetchChecked(config.wasm, config.wasm_integrity, "arrayBuffer"),
  ]);
  const mod = await import(URL.createObjectURL(new Blob([code], { type: "text/javascript" })));
  mod.env.wasm.wasmBinary = wasm;
  mod.env.wasm.numThreads = 1; // threads need cross-origin isolation, which a Space does not give
  ort = mod;
  return mod;
}

// shape: [1, num_ws, w_dim], for one warm-up pass (the first pass is several times slower)
async function openSession(url, shape) {
  const bytes = fetch(url).then((r) => (r.ok ? r.arrayBuffer() : Promise.reject(new Error(`${url}: HTTP ${r.status}`))));
  await runtimeReady; // the model downloads meanwhile
  // the export is already folded (onnx_export.py): optimising it again only delays the first frame
  const s = await ort.InferenceSession.create(await bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "disabled" });
  await s.run({ ws: new ort.Tensor("float32", new Float32Array(shape[1] * shape[2]), shape) });
  return s;
}

// started as the page opens, while Gradio builds the page and the server renders the first
// image: the runtime, and the default model's network
const runtimeReady = loadRuntime();
G.times = { start: performance.now() }; // when each part of the first frame was ready (ms since navigation)
runtimeReady.then(() => { G.times.runtime = performance.now(); });
const sessions = new Map(); // onnx URL -> Promise of its session
if (config.model) {
  const opened = openSession(config.model.url, config.model.shape);
  sessions.set(config.model.url, opened.then((x) => { G.times.model = performance.now(); return x; }));
}
runtimeReady.catch(() => {}); // reported by the first setState
sessions.forEach((p) => p.catch(() => {}));

function fallback(error) {
  G.active = false;
  G.failed = String(error && error.message ? error.message : error);
  showCanvas(false);
  console.warn("ganart: rendering on the server:", G.failed);
}

// the state a frame needs: the same key the server computed (the model, and a projected
// picture's box while its seed is shown, else the seed)
function keyOf(box, model, seed) {
  return `${model ?? ""}\n${box && box.split("@")[0] === String(seed) ? box : String(seed)}`;
}

// the page's preview on screen, or the server's exact image
function showCanvas(on) {
  document.documentElement.classList.toggle("ganart-web", on);
}

G.setState = async (json, values) => {
  const mine = ++stateSeq;
  try {
    if (!json) return;
    G.times.state ??= performance.now();
    const s = JSON.parse(json);
    if (!s.onnx) return mine === stateSeq && fallback(s.reason || "the server offers no model for the page");
    await runtimeReady;
    if (!sessions.has(s.onnx)) sessions.set(s.onnx, openSession(s.onnx, [1, s.num_ws, s.w_dim]));
    const session = await sessions.get(s.onnx);
    if (mine !== stateSeq) return; // a newer state arrived while this one's model loaded
    G.onnxBytes = s.onnx_bytes;
    state = { ...s, session, w: decodeF32(s.w), w_avg: decodeF32(s.w_avg), dirs: decodeF32(s.dirs), stds: decodeF32(s.stds) };
    G.active = true;
    G.paint(values, performance.now()); // ready for the next drag; the server's image stays on screen
  } catch (error) {
    fallback(error);
  }
};

// latest values win: a drag faster than the network paints its newest position next
G.paint = async (values, t) => {
  if (!G.active || !state) return;
  pending = { values, t };
  if (busy) return;
  busy = true;
  try {
    while (pending) {
      const { values: v, t: t0 } = pending;
      pending = null;
      const [box, model, seed, psi, method, lo, hi, ...amounts] = v;
      const st = state; // a new state may arrive while this frame runs
      if (keyOf(box, model, seed) !== st.key || method !== st.method) continue; // its state is on the way
      const ws = wsFor(st, Number(psi), Number(lo), Number(hi), amounts.map(Number));
      if (!ws) continue; // a layer range the server refuses too: no preview
      const t1 = performance.now();
      const out = await st.session.run({ ws: new ort.Tensor("float32", ws, [1, st.num_ws, st.w_dim]) });
      G.runs.push(performance.now() - t1);
      const image = out.image;
      const res = st.resolution;
      const canvas = document.querySelector("#create-canvas canvas");
      if (canvas.width !== res) canvas.width = canvas.height = res;
      canvas.getContext("2d").putImageData(new ImageData(toRGBA(image.data, image.dims[1], res), res, res), 0, 0);
      G.frames.push(performance.now() - t0);
      G.paints += 1;
      G.times.painted ??= performance.now();
      G.painted = v;
    }
  } catch (error) {
    fallback(error);
  } finally {
    busy = false;
  }
};

// a slider moved: paint here and show it, or (no runtime) ask the server as before
G.drag = (...values) => {
  if (G.active) {
    G.lastDrag = performance.now();
    showCanvas(true);
    G.paint(values, G.lastDrag);
  } else document.querySelector("#server-render")?.click();
};

// a slider's handle held down: the drag is under way however long the pointer rests on it.
// Letting go ends it at once, so the release's exact image shows however fast it comes back.
// Anything that can swallow the release (a context menu, the window losing focus) lets go too.
let held = false;
let keyHeld = false; // a key on a slider is down (it repeats without a pointer)
document.addEventListener("pointerdown", (e) => {
  if (!e.isPrimary || e.button !== 0) return;
  held = Boolean(e.target.closest?.('input[type="range"]'));
}, true);
const letGo = () => {
  held = keyHeld = false;
};
for (const type of ["pointerup", "pointercancel", "lostpointercapture", "contextmenu"]) {
  document.addEventListener(type, (e) => e.isPrimary !== false && letGo(), true);
}
window.addEventListener("blur", letGo);
// Keys move a slider too, but Gradio sends a slider's release (the exact render, the history)
// only on pointerup: a key let go sends it the same way.
const sliderKey = (e) => /^(Arrow|Page|Home|End)/.test(e.key) && e.target.closest?.('input[type="range"]');
document.addEventListener("keydown", (e) => { if (sliderKey(e)) keyHeld = true; }, true);
document.addEventListener("keyup", (e) => {
  const range = sliderKey(e);
  if (!range) return;
  keyHeld = false;
  range.dispatchEvent(new PointerEvent("pointerup", { bubbles: true }));
}, true);

// the server sent an image: show it, unless a drag (pointer or key) is under way: an image asked
// for before the drag, or a release's image arriving during the next drag, would flicker back
G.showServer = () => {
  if (!held && !keyHeld) showCanvas(false);
};
