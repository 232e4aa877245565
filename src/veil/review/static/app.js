// veil review: check and correct every file before publishing.
// Plain JavaScript, no dependencies. The server is the authority on edits: every
// change is sent as the file's whole edits entry, validated against the run and
// saved; the page keeps undo/redo stacks of those entries.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const SVGNS = "http://www.w3.org/2000/svg";
const BOX_CHUNK = 500;
const FLAG_TEXT = {residual: "possible missed face", leak: "still matches", unverifiable: "not measured",
  unsure: "maybe not a face",
  gaps: "track with gaps", other: ""};
const STATE_TEXT = {removed: "deleted", left_visible: "left visible"};

// The pictures' zoom when they fit their frames (S.view is replaced, never changed in place).
const FIT = Object.freeze({z: 1, x: 0, y: 0});

const S = {
  run: null, file: null, fileId: null, frame: 0, shown: -1, tool: "select", sel: null, drawKind: "face",
  undo: [], redo: [], chunks: new Map(), outVersion: 0, playing: false, polling: null, pollFailures: 0,
  view: FIT,  // zoom of both pictures: scale, and the shift in CSS pixels of the frame box
};

// -- access --------------------------------------------------------------------------------
// The printed URL brings the token once (?token=); it is kept in this origin's storage (which
// other ports cannot read, unlike cookies, which browsers send to every port of a host) and
// sent as a header with every request. It leaves the address bar at once.
const TOKEN_KEY = "veil-review-token";
const GIVEN = (() => {
  const given = new URLSearchParams(location.search).get("token");
  if (given) {
    try { localStorage.setItem(TOKEN_KEY, given); } catch (e) { /* storage off: this tab still works */ }
    history.replaceState(null, "", "/" + location.hash);
  }
  return given || "";
})();
// Read at each request: a review restarted on the same port gives a tab opened before it the new token.
function token() {
  try { return localStorage.getItem(TOKEN_KEY) || GIVEN; } catch (e) { return GIVEN; }
}
const NO_ACCESS = "Open the URL veil review printed: it carries the access token.";
const authorized = (opts = {}) => Object.assign({}, opts, {headers: Object.assign({"X-Veil-Token": token()}, opts.headers)});

async function fetchPicture(url) {
  const res = await fetch(url, authorized());
  if (!res.ok) throw new Error(res.status === 401 ? NO_ACCESS : `${res.status} ${res.statusText}`);
  return URL.createObjectURL(await res.blob());
}
// A picture, fetched with the token, shown from memory (an <img> cannot send a header). An element
// the page has dropped meanwhile (another file opened) gets nothing.
async function showPicture(img, url) {
  const blob = await fetchPicture(url);
  if (!img.isConnected) { URL.revokeObjectURL(blob); throw new Error("dropped"); }
  const old = img.dataset.blob;
  img.dataset.blob = blob;
  img.src = blob;
  if (old) URL.revokeObjectURL(old);  // the old picture stays on screen until the new one is drawn
}
// Thumbnails (small, made by the server) load as they scroll into view and are kept until Apply
// rewrites outputs, so the overview shows them at once when it comes back.
const thumbCache = new Map();  // url -> Promise of a blob URL
const thumbs = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    thumbs.unobserve(e.target);
    const url = e.target.dataset.src;
    if (!thumbCache.has(url)) thumbCache.set(url, fetchPicture(url).catch((err) => { thumbCache.delete(url); throw err; }));
    thumbCache.get(url).then((blob) => { e.target.src = blob; }, () => e.target.classList.add("failed"));
  }
}, {rootMargin: "300px"});
function forgetThumbnails() {
  for (const blob of thumbCache.values()) blob.then(URL.revokeObjectURL, () => {});
  thumbCache.clear();
}
// Before #main's pictures are replaced: their memory goes with them (thumbnails stay cached).
function releasePictures() {
  thumbs.disconnect();
  for (const img of document.querySelectorAll("#main img[data-blob]")) URL.revokeObjectURL(img.dataset.blob);
}

// -- small helpers -------------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "style") el.style.cssText = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false)
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
// replaceChildren without the holes (null, false) that conditional parts leave.
function put(el, ...kids) { el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false)); }
function s(tag, attrs = {}) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, v);
  return el;
}
function toast(text, error = false) {
  const t = $("#toast");
  t.textContent = text;
  t.className = "show" + (error ? " error" : "");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = error ? "error" : ""; }, error ? 6000 : 2600);
}
async function api(path, opts = {}) {
  let res;
  try { res = await fetch(path, authorized(opts)); } catch (e) {
    const saving = opts.method === "PUT" || opts.method === "POST";
    throw new Error(`${saving ? "Not saved: v" : "V"}eil review cannot be reached (was it stopped?). ` +
      "Start it again and open its new URL.");
  }
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok && res.status !== 202) {
    const err = new Error(res.status === 401 ? NO_ACCESS : (body && body.error) || `${res.status} ${res.statusText}`);
    err.conflict = Boolean(body && body.conflict);
    throw err;
  }
  return body;
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const clone = (x) => JSON.parse(JSON.stringify(x));
const plural = (n, w, p) => `${n} ${n === 1 ? w : (p || w + "s")}`;
function timecode(frame) {
  const rate = S.file && S.file.rate;
  if (!rate) return "";
  const t = frame / rate, m = Math.floor(t / 60), sec = (t - 60 * m).toFixed(2).padStart(5, "0");
  return `${m}:${sec}`;
}
function confirmDialog(title, text, ok) {
  const d = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = ok;
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), {once: true});
    d.returnValue = "";
    d.showModal();
  });
}

// -- routing -------------------------------------------------------------------------------
// The run as the server has it now. Another veil run into the folder since the page last read it
// (a new generation) may have made file N another file: nothing of this page's work on a file
// (undo, redo, selection, thumbnails) carries over, and the file list is shown. True then.
async function takeRun() {
  const run = await api("/api/run");
  const changed = S.run !== null && run.generation !== S.run.generation;
  S.run = run;
  if (!changed) return false;
  Object.assign(S, {undo: [], redo: [], sel: null, file: null, fileId: null, chunks: new Map()});
  S.outVersion++;
  forgetThumbnails();
  toast("The output folder changed (another veil run): here it is as that run left it.", true);
  return true;
}
async function route() {
  stopPlaying();
  const m = location.hash.match(/^#\/file\/(\d+)(?:\/f(\d+))?/);
  let changed;
  try {
    changed = await takeRun();
  } catch (e) {
    put($("#main"), h("p", {class: "loading"}, `Cannot load the run: ${e.message}`));
    return;
  }
  renderApply();
  if (S.run.problem) toast(S.run.problem, true);
  if (m && !changed) await openFile(Number(m[1]), m[2] ? Number(m[2]) : null);
  else showFileList();
}
// The file list, by its address where a file's is shown (the change of address draws it).
function showFileList() {
  if (location.hash.startsWith("#/file")) location.hash = "#/"; else renderOverview();
}

// -- overview ------------------------------------------------------------------------------
function flagChips(counts) {
  const out = [];
  if (counts.residual) out.push(h("span", {class: "chip residual"}, plural(counts.residual, "possible missed face")));
  if (counts.leak) out.push(h("span", {class: "chip leak"}, plural(counts.leak, "leak")));
  if (counts.unverifiable) out.push(h("span", {class: "chip unverifiable"}, `${counts.unverifiable} not measured`));
  if (counts.gaps) out.push(h("span", {class: "chip gaps"}, plural(counts.gaps, "track") + " with gaps"));
  return out;
}
// Plates and text a file's run covered ("2 plates", "1 text"), where it looked for them.
function coveredKinds(covered) {
  return Object.entries(covered || {}).filter(([, n]) => n).map(([k, n]) => k === "text" ? `${n} text` : plural(n, k));
}
// What a person changed in a file ("1 deleted, 1 left visible, 2 drawn"), so a card does not read as untouched.
const CHANGE_TEXT = {removed: "deleted", left_visible: "left visible", added: "drawn", extended: "extended"};
function changesText(changes) {
  return Object.entries(changes || {}).map(([k, n]) => `${n} ${CHANGE_TEXT[k]}`).join(", ");
}
// A file name as text to look at: control and bidi-override characters (which can make
// "gpj.exe.jpg" read as another name) shown as \uXXXX, as the HTML report shows them.
const nameOf = (name) => String(name).replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
  (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
function renderOverview() {
  S.file = null; S.fileId = null;
  $("#where").textContent = nameOf(S.run.outdir);
  document.title = `veil review: ${S.run.outdir}`;
  const files = S.run.files;
  const attention = files.filter((f) => !f.problem && f.needs_eyes).length;
  const cards = files.map((f) => {
    const thumb = f.problem ? h("div", {class: "thumbph"}) :
      h("img", {"data-src": `/api/files/${f.id}/thumb?v=${S.outVersion}`, alt: ""});
    const share = f.items ? Math.round(100 * f.reviewed / f.items) : 100;
    return h("a", {class: `filecard p${f.priority}` + (f.problem ? " problem" : ""), href: `#/file/${f.id}`},
      thumb,
      h("div", {class: "body"},
        h("div", {class: "name"}, nameOf(f.relative_path)),
        h("div", {class: "muted"}, [f.kind === "video" ? `video · ${f.frames} frames` : "photo",
          ...[plural(f.faces || 0, "face"), ...coveredKinds(f.covered)].map((c) => c.replace(" ", "\u00a0"))].join(" · ")),
        f.problem ? h("div", {class: "muted"}, f.problem) : h("div", {class: "chips"}, flagChips(f.counts),
          f.pending ? h("span", {class: "chip pending"}, "edited, not applied") : null,
          changesText(f.changes) ? h("span", {class: "chip edited"}, changesText(f.changes)) : null,
          !flagChips(f.counts).length ? h("span", {class: "chip"}, "nothing flagged") : null),
        f.problem ? null : h("div", {class: "muted"}, `${f.reviewed} of ${plural(f.items, "item")} reviewed`),
        f.problem ? null : h("div", {class: "progress"}, h("i", {style: `width:${share}%`}))));
  });
  releasePictures();
  put($("#main"), h("div", {class: "overview"},
    h("h1", {}, "Review before publishing"),
    h("p", {class: "lede"}, attention
      ? `${plural(attention, "file")} need${attention === 1 ? "s" : ""} your eyes first (listed first). In each file, check what is flagged, delete false detections, draw over any face, plate or text veil missed, and mark items reviewed. Then Apply: veil re-renders and verifies the edited files and updates the report.`
      : "Nothing is flagged. Look through each file all the same: veil can miss a face. Mark items reviewed as you go; Apply writes your edits."),
    h("div", {class: "files"}, cards),
    earlierRuns(S.run.earlier || [])));
  for (const img of $("#main").querySelectorAll("img[data-src]")) thumbs.observe(img);
}

function earlierRuns(earlier) {
  if (!earlier.length) return null;
  return h("div", {class: "earlier"},
    h("h2", {}, `Also in this folder: ${plural(earlier.length, "output")} of earlier runs`),
    h("p", {class: "muted"}, "Made by earlier veil runs into this folder (other inputs or settings) and not reviewable here. Publishing the folder publishes them too: to review one, run veil anonymize on its original into this folder again, then veil review."),
    h("ul", {}, earlier.slice(0, 300).map((e) => h("li", {}, h("span", {class: "mono"}, nameOf(e.relative_path)), ` · ${e.verdict || "?"}`))));
}

// -- file view -----------------------------------------------------------------------------
async function openFile(id, frame) {
  let model;
  try { model = await api(`/api/files/${id}`); } catch (e) { toast(e.message, true); renderOverview(); return; }
  if (S.fileId !== id) {
    S.undo = []; S.redo = []; S.sel = null; S.chunks = new Map(); S.tool = "select"; S.view = FIT;
  }
  S.fileId = id; S.file = model; S.shown = -1;
  S.frame = frame !== null ? frame : (model.kind === "video" ? Math.min(S.frame, model.frames - 1) : 0);
  if (model.kind !== "video") S.frame = 0;
  document.title = `veil review: ${nameOf(model.relative_path)}`;
  $("#where").textContent = `${nameOf(S.run.outdir)} / ${nameOf(model.relative_path)}`;
  buildFileView();
  await showFrame(S.frame, true);
}
const itemByKey = (key) => S.file.items.find((it) => it.key === key);
const addedById = (id) => S.file.edits.added.find((a) => a.id === id);

// What a drawn region covers (face, licence plate, text): plates and text are covered as boxes.
const KINDS = [["face", "Face"], ["plate", "Plate"], ["text", "Text"]];
function kindPicker(value, onchange, title) {
  return h("select", {class: "kind", title, "aria-label": title, onchange: (ev) => onchange(ev.target.value)},
    KINDS.map(([k, label]) => h("option", {value: k, selected: k === value}, label)));
}
async function setAddedKind(id, kind) {
  const edits = clone(S.file.edits), region = edits.added.find((a) => a.id === id);
  if (!region || region.kind === kind) return;
  region.kind = kind;
  if (await commit(edits)) toast(`Drawn ${id} covers a ${kind}${kind === "face" ? "" : " (as a box)"}.`);
}
// ‹ and › step through the files in the order the page first listed them: an Apply re-sorts the
// list (what needs eyes first), and the next file must not become one already seen.
function fileOrder() {
  S.order = S.order || S.run.files.map((x) => x.id);
  const at = (x) => { const i = S.order.indexOf(x.id); return i < 0 ? S.order.length : i; };
  return [...S.run.files].sort((a, b) => at(a) - at(b));
}
function stepFile(by) {
  const files = fileOrder(), to = files[files.findIndex((x) => x.id === S.file.id) + by];
  if (to) location.hash = `#/file/${to.id}`;
}
function buildFileView() {
  const f = S.file, video = f.kind === "video";
  const files = fileOrder(), pos = files.findIndex((x) => x.id === f.id);
  const prev = files[pos - 1], next = files[pos + 1];
  const tool = (name, label, key, title) => h("button", {class: "tool icon", "data-tool": name, title: `${title} (${key})`,
    onclick: () => setTool(name)}, label);
  const tools = h("div", {class: "tools"},
    h("button", {onclick: () => { location.hash = "#/"; }, title: "All files"}, "← Files"),
    h("button", {class: "icon hide-narrow", disabled: !prev, title: "Previous file ([)",
      onclick: () => stepFile(-1)}, "‹"),
    h("button", {class: "icon hide-narrow", disabled: !next, title: "Next file (])",
      onclick: () => stepFile(1)}, "›"),
    h("span", {class: "name", title: nameOf(f.relative_path)}, nameOf(f.relative_path)),
    f.verdict ? h("span", {class: `badge ${f.verdict === "pass" ? "pass" : f.verdict === "leak" ? "leak" : "warn"}`},
      f.verdict === "pass" ? "verified" : f.verdict) : null,
    h("span", {class: "grow"}),
    tool("select", "Select", "V", "Select a region"),
    tool("box", "▭ Box", "B", "Draw a box over a missed face"),
    tool("ellipse", "◯ Ellipse", "E", "Draw an ellipse over a missed face"),
    kindPicker(S.drawKind, (k) => { S.drawKind = k; }, "What the next region you draw covers"),
    h("span", {class: "sep"}),
    h("button", {id: "undo", class: "icon", title: "Undo (Ctrl+Z)", onclick: undo}, "↶"),
    h("button", {id: "redo", class: "icon", title: "Redo (Ctrl+Shift+Z)", onclick: redo}, "↷"),
    h("span", {class: "sep"}),
    h("button", {class: "icon", title: "Zoom out (-)", onclick: () => zoomBy(1 / 1.5)}, "−"),
    h("button", {class: "zoomlevel", id: "zoom-level", title: "Fit the picture (0); zoom with the wheel, drag to move",
      onclick: () => setView(FIT)}, "100%"),
    h("button", {class: "icon", title: "Zoom in (+)", onclick: () => zoomBy(1.5)}, "+"),
    h("button", {class: "icon hide-narrow", title: "Keyboard shortcuts (?)", onclick: () => $("#help").showModal()}, "?"));
  const pane = (which, title, note) => h("div", {class: "pane"},
    h("h3", {}, title, h("span", {class: "note", id: `note-${which}`}, note)),
    // Tall pictures (portrait photos, phone video) fit the window's height; both panes alike.
    h("div", {class: "frame", id: `frame-${which}`, style: `aspect-ratio:${f.width} / ${f.height};` +
      `width:min(100%, calc((100vh - ${video ? 330 : 150}px) * ${f.width / f.height}))`},
      h("div", {class: "zoom", id: `zoom-${which}`},
        h("img", {id: `img-${which}`, alt: which === "input" ? "original" : "anonymized output", draggable: "false",
          style: "object-fit:contain"}),
        which === "input" ? buildOverlay() : null)));
  const stages = h("div", {class: "stages"},
    pane("input", "Original", "only shown here, never in a report"),
    pane("output", "Output", "as written"));
  const work = h("div", {class: "work"}, f.problem ? h("div", {class: "problem"}, f.problem) : null, stages,
    video ? buildTransport() : null, video ? h("div", {class: "timeline", id: "timeline"}) : null);
  const side = h("aside", {class: "side"}, h("section", {class: "detail", id: "detail"}),
    h("section", {id: "list"}));
  releasePictures();
  resetLoaders();
  put($("#main"), h("div", {class: "fileview"}, tools, work, side));
  for (const which of ["input", "output"]) {
    const img = $(`#img-${which}`);
    img.addEventListener("load", () => { if (img.isConnected) onImageLoad(which); });
    img.addEventListener("error", () => { if (img.isConnected) onImageLoad(which, true); });
    const frame = $(`#frame-${which}`);
    frame.addEventListener("wheel", onWheel, {passive: false});
    if (which === "output") {  // the output only moves: it follows the original's window
      frame.addEventListener("pointerdown", onPanDown);
      frame.addEventListener("pointermove", onPanMove);
      frame.addEventListener("pointerup", onPanUp);
    }
  }
  applyView();
  setTool(S.tool);
  renderPanel();
  if (video) renderTimeline();
}

// -- pictures ------------------------------------------------------------------------------
// Each picture loads one frame at a time; while it loads, only the latest wanted frame waits.
const loaders = {};
function resetLoaders() {
  for (const which of ["input", "output"]) loaders[which] = {busy: false, want: null, shows: -1};
}
resetLoaders();
function pictureUrl(which, frame) {
  const f = S.file, v = which === "output" ? `?v=${S.outVersion}` : "";
  return f.kind === "video" ? `/api/files/${f.id}/${which}/${frame}${v}` : `/api/files/${f.id}/${which}${v}`;
}
function load(which, frame, force = false) {
  const l = loaders[which];
  if (!force && l.shows === frame && !l.busy) return;
  if (l.busy) { l.want = frame; return; }
  l.busy = true; l.loading = frame;
  // The element it was asked for: its load event, or a failure here, ends this load (not once
  // another file's view has replaced it: that view has loaders of its own).
  const img = $(`#img-${which}`);
  showPicture(img, pictureUrl(which, frame)).catch(() => { if (img.isConnected) onImageLoad(which, true); });
}
function onImageLoad(which, failed = false) {
  const l = loaders[which];
  l.busy = false;
  if (!failed) l.shows = l.loading;
  if (which === "input") { S.shown = l.shows; document.body.dataset.shown = String(S.shown); renderOverlay(); }
  if (l.want !== null && l.want !== l.shows) { const w = l.want; l.want = null; load(which, w); }
  else l.want = null;
  if (which === "input" && S.playing) playStep();
}
async function showFrame(frame, force = false) {
  const f = S.file;
  frame = Math.max(0, Math.min(f.frames - 1, Math.round(frame)));
  S.frame = frame;
  if (f.kind === "video") {
    await ensureBoxes(frame);
    // Another file opened meanwhile (']' pressed as a video opened): its address and pictures are not
    // this frame's to set (the address went back to the video, and the page with it).
    if (S.file !== f) return;
    const slider = $("#scrub"), num = $("#frame-num");
    if (slider) slider.value = frame;
    if (num && document.activeElement !== num) num.value = frame;
    $("#pos").textContent = `of ${f.frames} · ${timecode(frame)}`;
    history.replaceState(null, "", `#/file/${f.id}/f${frame}`);
    renderTimelineCursor();
  }
  if (!f.problem) load("input", frame, force);
  load("output", frame, force);
  if (f.problem) { S.shown = frame; renderOverlay(); }
  renderDetail();
}
async function ensureBoxes(frame) {
  const c = Math.floor(frame / BOX_CHUNK);
  for (const k of [c, c + 1]) {
    if (S.chunks.has(k) || k * BOX_CHUNK >= S.file.frames) continue;
    const start = k * BOX_CHUNK;
    S.chunks.set(k, api(`/api/files/${S.file.id}/boxes?start=${start}&stop=${start + BOX_CHUNK}`).then((r) => r.frames));
  }
  return S.chunks.get(c);
}
async function rowsAt(frame) {
  if (S.file.kind !== "video") return S.file.rows || [];
  const chunk = await ensureBoxes(frame);
  return (chunk && chunk[String(frame)]) || [];
}

// -- overlay -------------------------------------------------------------------------------
function buildOverlay() {
  const f = S.file;
  const svg = s("svg", {id: "overlay", viewBox: `0 0 ${f.width} ${f.height}`, preserveAspectRatio: "xMidYMid meet"});
  svg.addEventListener("pointerdown", onPointerDown);
  svg.addEventListener("pointermove", onPointerMove);
  svg.addEventListener("pointerup", onPointerUp);
  return svg;
}
function shape(box, cls, key, round) {
  const [x1, y1, x2, y2] = box;
  const el = round ? s("ellipse", {cx: (x1 + x2) / 2, cy: (y1 + y2) / 2, rx: Math.max((x2 - x1) / 2, 0.5), ry: Math.max((y2 - y1) / 2, 0.5)})
    : s("rect", {x: x1, y: y1, width: Math.max(x2 - x1, 1), height: Math.max(y2 - y1, 1)});
  el.setAttribute("class", "ov " + cls);
  if (key) el.dataset.key = key;
  return el;
}
function label(svg, box, text, placed = []) {
  // Sized in picture pixels: about the same on screen for a small video and a large photo.
  const size = Math.max(11, S.file.width / 48) / S.view.z, half = text.length * size * 0.3 + 2;
  const x = Math.min(Math.max((box[0] + box[2]) / 2, half), S.file.width - half);  // stays in the picture
  // Above the box, else below it; a label that would cover another one already there is left out
  // (the region's tooltip and the side panel still name it).
  const spots = [Math.max(box[1] - size / 3, size), Math.min(box[3] + size, S.file.height - size / 4)];
  const free = (y) => !placed.some((r) => Math.abs(r[0] - x) < r[2] + half && Math.abs(r[1] - y) < size);
  const y = spots.find(free);
  if (y === undefined) return;
  placed.push([x, y, half]);
  const t = s("text", {x, y, class: "ov-label", "text-anchor": "middle", "font-size": size, "stroke-width": size / 4});
  t.textContent = text;
  svg.append(t);
}
function titled(el, text) { const t = s("title"); t.textContent = text; el.append(t); return el; }
// Labels only where they help: the selection, a person's decisions, what is flagged red. Past a few
// deletions on one frame (every plate or line of text at once) their labels and crosses would hide the
// picture: the dashed outline says it, the selection and the tooltip name them.
const MANY_REMOVED = 5;
function wantsLabel(item, crowded) {
  const st = S.file.states[item.key];
  return (S.sel && S.sel.key === item.key) || (st && !(crowded && st === "removed")) || item.flags.includes("leak");
}
function itemClasses(item) {
  const st = S.file.states[item.key];
  const cls = [st || "", item.flags.includes("residual") ? "residual" : item.flags.includes("leak") ? "leak"
    : item.flags.includes("unverifiable") ? "unverifiable" : ""];
  if (S.file.reviewed.includes(item.key)) cls.push("reviewed");
  if (S.sel && S.sel.key === item.key) cls.push("selected");
  return cls.join(" ");
}
function addedBoxAt(region, frame) {
  const keys = region.keyframes;
  if (frame < keys[0].frame || frame > keys[keys.length - 1].frame) return null;
  for (let j = 0; j < keys.length; j++) {
    if (keys[j].frame === frame) return {box: keys[j].box, key: true};
    if (keys[j + 1] && keys[j + 1].frame > frame) {
      const a = keys[j], b = keys[j + 1], t = (frame - a.frame) / (b.frame - a.frame);
      return {box: a.box.map((v, i) => v + t * (b.box[i] - v)), key: false};
    }
  }
  return null;
}
async function renderOverlay() {
  const svg = $("#overlay");
  if (!svg || !S.file) return;
  const frame = S.shown < 0 ? S.frame : S.shown, round = S.file.shape === "ellipse";
  const generation = S.overlayGen = (S.overlayGen || 0) + 1;
  const rows = await rowsAt(frame);
  if (generation !== S.overlayGen) return;  // a newer frame or edit drew it already
  const shapes = [], labels = [];
  let crowded = false;
  if (S.file.kind === "video") {
    const groups = new Map();
    for (const r of rows) {
      const key = r[8] >= 0 ? `track:${r[8]}` : (S.file.items.find((it) => it.kind === "box" && it.frame === frame
        && same(it.box, r.slice(0, 4))) || {}).key;
      if (!key) continue;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(r);
    }
    crowded = [...groups.keys()].filter((key) => S.file.states[key] === "removed").length > MANY_REMOVED;
    for (const [key, group] of groups) {
      const item = itemByKey(key);
      if (!item) continue;
      for (const r of group) shapes.push([r.slice(4, 8), itemClasses(item), key, r[11] || 0]);
      if (wantsLabel(item, crowded)) labels.push([group[0].slice(4, 8), `${item.label}${S.file.states[key] ? ": " + STATE_TEXT[S.file.states[key]] : ""}`]);
    }
    // A track extended to this frame: Apply covers it with its regions held from its nearest end.
    for (const [key, [first, last]] of Object.entries(S.file.extended || {})) {
      const item = itemByKey(key), id = Number(key.split(":")[1]);
      const track = S.file.tracks.find((t) => t.id === id);
      if (!item || !track || groups.has(key) || frame < first || frame > last) continue;
      const end = frame < track.first ? track.first : frame > track.last ? track.last : null;
      if (end === null) continue;
      const held = (await rowsAt(end)).filter((r) => r[8] === id);
      if (generation !== S.overlayGen) return;
      if (!held.length) continue;
      const hull = [0, 1, 2, 3].map((i) => (i < 2 ? Math.min : Math.max)(...held.map((r) => r[4 + i])));
      shapes.push([hull, itemClasses(item) + " extension", key, held[0][11] || 0]);
      labels.push([hull, `${item.label}: extended`]);
    }
  } else {
    crowded = rows.filter((r, i) => S.file.states[`det:${i}`] === "removed").length > MANY_REMOVED;
    const r0 = frameRect(), perPixel = r0 ? r0.width / S.file.width * S.view.z : 1;  // screen px per picture px
    rows.forEach((r, i) => {
      const item = itemByKey(`det:${i}`);
      if (!item) return;
      shapes.push([r.slice(4, 8), itemClasses(item), item.key, r[11] || 0]);
      if (crowded && !wantsLabel(item, true) && S.file.states[item.key] === "removed") return;
      // In a crowd a number on every face would bury them: faces under 18 px on screen get one when zoomed in.
      if (!wantsLabel(item, false) && (r[6] - r[4]) * perPixel < 18) return;
      const name = item.what && item.what !== "face" ? item.label : `${i + 1}`;  // "plate 2", "text 4"
      labels.push([r.slice(4, 8), `${name}${S.file.states[item.key] ? ": " + STATE_TEXT[S.file.states[item.key]] : ""}`]);
    });
  }
  shapes.sort((a, b) => (b[0][2] - b[0][0]) * (b[0][3] - b[0][1]) - (a[0][2] - a[0][0]) * (a[0][3] - a[0][1]));
  // Plates and text (kind 1, 2) are covered as boxes, whatever the faces' shape.
  const els = shapes.map(([box, cls, key, kind]) => titled(shape(box, cls, key, round && !kind), itemByKey(key).label));
  for (const item of S.file.items) {  // possible missed faces on this frame
    if (item.kind !== "residual" || (S.file.kind === "video" && item.frame !== frame)) continue;
    els.push(titled(shape(item.box, itemClasses(item), item.key, false), item.label));
    labels.push([item.box, item.tag]);
  }
  for (const region of S.file.edits.added) {
    const at = addedBoxAt(region, frame);
    if (!at) continue;
    const selected = S.sel && S.sel.added === region.id;
    els.push(titled(shape(at.box, `added${at.key ? "" : " between"}${selected ? " selected" : ""}`, `added:${region.id}`,
      region.shape === "ellipse" && (region.kind || "face") === "face"), `drawn ${region.id} (${region.kind || "face"})`));
    labels.push([at.box, `drawn ${region.id}${at.key ? "" : " (interpolated)"}`]);
  }
  svg.replaceChildren(...els);
  for (const el of els) el.addEventListener("click", (ev) => { if (S.tool === "select") { ev.stopPropagation(); selectKey(el.dataset.key); } });
  const placed = [];
  for (const [box, text] of labels) if (text) label(svg, box, text, placed);
  for (const [box, cls, key] of shapes) if (S.file.states[key] === "removed" && (!crowded || (S.sel && S.sel.key === key))) {
    svg.append(s("line", {x1: box[0], y1: box[1], x2: box[2], y2: box[3], class: "ov-cross"}));
  }
  if (S.draft) svg.append(S.draft.el);
}

// -- zoom: both pictures show the same window -----------------------------------------------
const MAX_ZOOM = 16;
function frameRect() { const fr = $("#frame-input"); return fr ? fr.getBoundingClientRect() : null; }
function setView(view) {
  const r = frameRect();
  if (!r) return;
  const z = Math.min(MAX_ZOOM, Math.max(1, view.z));
  // the picture always fills the frame: no empty margin past its edges
  S.view = {z, x: Math.min(0, Math.max(r.width * (1 - z), view.x)), y: Math.min(0, Math.max(r.height * (1 - z), view.y))};
  applyView();
  scheduleOverlay();
}
function applyView() {
  const {z, x, y} = S.view;
  for (const which of ["input", "output"]) {
    const el = $(`#zoom-${which}`);
    if (el) el.style.transform = z === 1 ? "" : `translate(${x}px, ${y}px) scale(${z})`;
  }
  const overlay = $("#overlay");
  if (overlay) overlay.style.setProperty("--z", String(z));  // strokes keep their width on screen
  const level = $("#zoom-level");
  if (level) level.textContent = `${Math.round(z * 100)}%`;
  document.body.dataset.zoom = String(Math.round(z * 100) / 100);
}
function zoomAt(factor, cx, cy) {  // (cx, cy): the point that stays put, in CSS pixels of the frame box
  const v = S.view, z = Math.min(MAX_ZOOM, Math.max(1, v.z * factor));
  setView({z, x: cx - (cx - v.x) * z / v.z, y: cy - (cy - v.y) * z / v.z});
}
function zoomBy(factor) { const r = frameRect(); if (r) zoomAt(factor, r.width / 2, r.height / 2); }
function onWheel(ev) {
  ev.preventDefault();
  const r = ev.currentTarget.getBoundingClientRect();
  zoomAt(Math.exp(-ev.deltaY * 0.002), ev.clientX - r.left, ev.clientY - r.top);
}
// Show a box (picture pixels) in the middle, zoomed in where it is too small to see or judge.
function zoomTo(box, {minScreen = 60} = {}) {
  const r = frameRect();
  if (!r || !S.file) return;
  const k = r.width / S.file.width, w = Math.max(box[2] - box[0], box[3] - box[1]) * k;
  const z = w * S.view.z < minScreen ? Math.min(MAX_ZOOM, Math.max(S.view.z, minScreen / Math.max(w, 1))) : S.view.z;
  const cx = k * (box[0] + box[2]) / 2, cy = k * (box[1] + box[3]) / 2;
  setView({z, x: r.width / 2 - cx * z, y: r.height / 2 - cy * z});
}
let overlayQueued = false;
function scheduleOverlay() {
  if (overlayQueued) return;
  overlayQueued = true;
  requestAnimationFrame(() => { overlayQueued = false; renderOverlay(); });
}
function onPanDown(ev) {
  const onRegion = ev.target !== $("#overlay") && ev.target.closest && ev.target.closest("#overlay");
  if (onRegion && ev.button !== 1) return;  // a region: its click selects it
  S.pan = {x: ev.clientX, y: ev.clientY, view: Object.assign({}, S.view), moved: false, id: ev.pointerId,
    el: ev.currentTarget};
  ev.currentTarget.setPointerCapture(ev.pointerId);  // the release comes here, wherever it happens
}
function onPanMove(ev) {
  const p = S.pan;
  if (!p || ev.pointerId !== p.id) return;
  const dx = ev.clientX - p.x, dy = ev.clientY - p.y;
  if (!p.moved && Math.hypot(dx, dy) < 4) return;
  p.moved = true;
  if (S.view.z > 1) setView({z: p.view.z, x: p.view.x + dx, y: p.view.y + dy});
}
function onPanUp(ev) {
  const p = S.pan;
  S.pan = null;
  if (!p || p.moved || ev.button === 1) return;
  if (p.el === $("#overlay") && S.tool === "select") select(null);  // a click on the picture, off every region
}

// -- drawing -------------------------------------------------------------------------------
function toPicture(ev) {
  const svg = $("#overlay");
  const p = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(svg.getScreenCTM().inverse());
  return [Math.max(0, Math.min(S.file.width, p.x)), Math.max(0, Math.min(S.file.height, p.y))];
}
function onPointerDown(ev) {
  // A click on the picture ends typing (the frame number): the keys act on the picture again.
  const focused = document.activeElement;
  if (focused && (focused.tagName === "INPUT" || focused.tagName === "TEXTAREA")) focused.blur();
  if (S.tool === "select" || ev.button === 1) {
    onPanDown(ev);  // a drag moves a zoomed picture; a click on no region clears the selection
    return;
  }
  if (S.file.problem) return;
  ev.preventDefault();
  S.pan = null;
  $("#overlay").setPointerCapture(ev.pointerId);
  const [x, y] = toPicture(ev);
  S.draft = {x0: x, y0: y, box: [x, y, x, y], el: s(S.tool === "ellipse" ? "ellipse" : "rect", {class: "ov-draft"})};
  $("#overlay").append(S.draft.el);
}
function onPointerMove(ev) {
  if (S.pan) return onPanMove(ev);
  if (!S.draft) return;
  const [x, y] = toPicture(ev), d = S.draft;
  d.box = [Math.min(d.x0, x), Math.min(d.y0, y), Math.max(d.x0, x), Math.max(d.y0, y)];
  const [x1, y1, x2, y2] = d.box;
  if (S.tool === "ellipse") Object.entries({cx: (x1 + x2) / 2, cy: (y1 + y2) / 2, rx: (x2 - x1) / 2, ry: (y2 - y1) / 2})
    .forEach(([k, v]) => d.el.setAttribute(k, v));
  else Object.entries({x: x1, y: y1, width: x2 - x1, height: y2 - y1}).forEach(([k, v]) => d.el.setAttribute(k, v));
}
async function onPointerUp(ev) {
  if (S.pan) return onPanUp(ev);
  const d = S.draft;
  if (!d) return;
  S.draft = null;
  d.el.remove();
  const box = d.box.map((v) => Math.round(v * 10) / 10);
  if (box[2] - box[0] < 3 || box[3] - box[1] < 3) { toast("Drag to draw: that region was too small."); return; }
  await drawRegion(box);
}
async function drawRegion(box, {reviewed = null, at = null} = {}) {
  // On the frame the person sees (the picture shown), unless told which.
  const edits = clone(S.file.edits), frame = S.file.kind === "video" ? (at !== null ? at : S.shown) : 0;
  if (reviewed && !edits.reviewed.some((r) => same(r, reviewed))) edits.reviewed.push(reviewed);
  const selected = S.sel && S.sel.added && edits.added.find((a) => a.id === S.sel.added);
  if (selected && S.file.kind === "video") {
    selected.keyframes = selected.keyframes.filter((k) => k.frame !== frame).concat([{frame, box}])
      .sort((a, b) => a.frame - b.frame);
    if (await commit(edits)) toast(`Key frame ${frame} set for ${selected.id}: covered from frame ${selected.keyframes[0].frame} to ${selected.keyframes[selected.keyframes.length - 1].frame}.`);
    return;
  }
  let n = 1;
  while (edits.added.some((a) => a.id === `a${n}`)) n++;
  const id = `a${n}`;
  edits.added.push({id, kind: S.drawKind, shape: S.tool === "ellipse" ? "ellipse" : "box", keyframes: [{frame, box}]});
  if (await commit(edits)) {
    S.sel = {added: id};
    renderAll();
    toast(S.file.kind === "video" ? `Drawn ${id} on frame ${frame}. Go to another frame and draw again to add a key frame; veil interpolates between key frames.`
      : `Drawn ${id}: it will be covered as drawn.`);
  }
}

// -- edits ---------------------------------------------------------------------------------
// Saves run one after another, and undo/redo wait for the saves in flight: an undo pressed
// while a save is on its way would otherwise step back from the state before that save.
let saving = Promise.resolve();
function commit(edits, opts) {
  const run = saving.then(() => save(edits, opts));
  saving = run.catch(() => false);
  return run;
}
async function save(edits, {record = true} = {}) {
  const before = clone(S.file.edits);
  let state;
  try {
    // base: the edits this change was made on; another tab's save since is refused, not overwritten.
    state = await api(`/api/files/${S.file.id}/edits`, {method: "PUT", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(Object.assign({}, edits, {base: S.file.revision}))});
  } catch (e) {
    if (e.conflict) {
      if (await takeRun()) {  // another veil run: this file id may name another file now
        showFileList();
        return false;
      }
      // Undo steps were made on the state this page had; they would overwrite the other tab's edits.
      S.undo = []; S.redo = [];
      await openFile(S.file.id, S.frame);
      renderApply();  // takeRun read the other tab's pending files too
      toast("Not saved: this file's edits were changed in another tab or window. Its latest edits are shown now; " +
        "make your change again.", true);
    } else toast(e.message, true);
    return false;
  }
  if (record) { S.undo.push(before); S.redo = []; }
  Object.assign(S.file, state);
  const mine = S.run.files.find((x) => x.id === S.file.id);
  if (mine) mine.pending = state.pending || state.marks_pending;
  renderAll();
  renderApply();
  return true;
}
async function undo() {
  await saving;
  if (!S.undo.length) return;
  const stack = S.undo, prev = stack.pop(), now = clone(S.file.edits);
  // (a conflict starts new stacks: the step is not put back then)
  if (await commit(prev, {record: false})) { S.redo.push(now); toast("Undone."); } else if (S.undo === stack) stack.push(prev);
  renderPanel();
}
async function redo() {
  await saving;
  if (!S.redo.length) return;
  const stack = S.redo, next = stack.pop(), now = clone(S.file.edits);
  if (await commit(next, {record: false})) { S.undo.push(now); toast("Redone."); } else if (S.redo === stack) stack.push(next);
  renderPanel();
}
const without = (list, ref) => list.filter((r) => !same(r, ref));
const refOf = (ext) => { const r = Object.assign({}, ext); delete r.first; delete r.last; return r; };
async function deleteSelected() {
  if (!S.sel) return;
  const edits = clone(S.file.edits);
  if (S.sel.added) {
    edits.added = edits.added.filter((a) => a.id !== S.sel.added);
    if (await commit(edits)) { toast(`Drawn region ${S.sel.added} deleted.`); select(null); }
    return;
  }
  const item = itemByKey(S.sel.key);
  if (!item || item.kind === "residual") return;
  if (S.file.states[item.key] === "removed") return restoreSelected();
  // A face the detector is sure of, deleted, is shown bare: one key press must not do that unasked.
  if ((item.what || "face") === "face" && !item.flags.includes("unsure")) {
    const ok = await confirmDialog("Delete this face?",
      `veil's detector is confident ${item.label} is a face. Deleted, it is shown uncovered in the output and counted as a false detection (not a face). If it is a face whose person agreed to be shown, use Leave visible (L) instead, so the report says so. Ctrl+Z undoes it.`,
      "Delete");
    if (!ok) return;
  }
  edits.left_visible = without(edits.left_visible, item.ref);
  edits.extended = edits.extended.filter((e) => !same(refOf(e), item.ref));
  edits.removed.push(item.ref);
  if (await commit(edits)) toast(`${item.label} deleted: it will not be covered (a false detection). Undo with Ctrl+Z.`);
}
// Plates and text a file shows none of (a speech, a studio) can come out as many false regions: one
// action deletes every region of that kind veil found, as deleting each would.
const KIND_NAMES = {plate: ["plate", "plates"], text: ["line of text", "lines of text"]};
function foundOfKind(what) {
  return S.file.items.filter((it) => it.what === what && it.kind !== "residual" && !S.file.states[it.key]);
}
async function deleteEveryOfKind(what) {
  const items = foundOfKind(what), [one, many] = KIND_NAMES[what];
  if (!items.length) return;
  const ok = await confirmDialog(`Delete every ${one} veil found?`,
    `None of the ${plural(items.length, one, many)} veil found in ${nameOf(S.file.relative_path)} will be covered: each counts as a false detection, as if deleted one by one. Faces, and regions you drew, stay covered. Do this when the footage shows no ${many} to hide. Ctrl+Z undoes it.`,
    `Delete ${items.length}`);
  if (!ok) return;
  const edits = clone(S.file.edits);
  for (const it of items) {
    edits.extended = edits.extended.filter((e) => !same(refOf(e), it.ref));
    edits.removed.push(it.ref);
  }
  if (await commit(edits)) { select(null); toast(`${plural(items.length, one, many)} deleted: not covered. Undo with Ctrl+Z.`); }
}
// Items one look at the whole output can clear: not a possible miss or a leak (each is looked at on its own).
const ONE_BY_ONE = ["residual", "leak", "partly_covered"];
function markableAtOnce() {
  const f = S.file;
  return f.items.filter((it) => !f.reviewed.includes(it.key) && !f.states[it.key]
    && !it.flags.some((x) => ONE_BY_ONE.includes(x)));
}
async function markRestReviewed() {
  const items = markableAtOnce();
  if (!items.length) return;
  const ok = await confirmDialog(`Mark ${plural(items.length, "item")} reviewed?`,
    `Every item of ${nameOf(S.file.relative_path)} not yet reviewed or decided, but possible missed faces and leaks (look at each of those). Do this after looking over the whole output${S.file.kind === "video" ? " on every frame" : ""}: every face, plate and text covered, nothing missed. The report says a person reviewed them. Ctrl+Z undoes it.`,
    "Mark reviewed");
  if (!ok) return;
  const edits = clone(S.file.edits);
  edits.reviewed = edits.reviewed.concat(items.map((it) => it.ref));
  if (await commit(edits)) toast(`${plural(items.length, "item")} marked reviewed. Undo with Ctrl+Z.`);
}
function kindActions() {
  const buttons = Object.keys(KIND_NAMES).map((what) => [what, foundOfKind(what).length]).filter(([, n]) => n)
    .map(([what, n]) => h("button", {class: "danger", "data-kind": what, onclick: () => deleteEveryOfKind(what),
      title: `Delete every ${KIND_NAMES[what][0]} veil found in this file (it asks first)`},
    `Delete every ${KIND_NAMES[what][0]} (${n})…`));
  const rest = markableAtOnce().length;
  if (rest > 1) buttons.unshift(h("button", {id: "mark-rest", onclick: markRestReviewed,
    title: "Mark every item reviewed but possible misses and leaks, after looking over the whole output (it asks first)"},
  `Mark ${rest} reviewed…`));
  return buttons.length ? h("div", {class: "actions bulk"}, buttons) : null;
}
async function leaveVisibleSelected() {
  const item = S.sel && S.sel.key && itemByKey(S.sel.key);
  if (!item || item.kind === "residual") return;
  const what = item.what || "face";
  const ok = await confirmDialog(`Leave this ${what} visible?`,
    `${item.label} will NOT be covered in the output, and veil will not verify it. Do this only when the person has agreed to be shown (consent). The report will say that a person left this ${what} visible.`,
    "Leave visible");
  if (!ok) return;
  const edits = clone(S.file.edits);
  edits.removed = without(edits.removed, item.ref);
  edits.extended = edits.extended.filter((e) => !same(refOf(e), item.ref));
  edits.left_visible.push(item.ref);
  if (await commit(edits)) toast(`${item.label} will be left visible.`);
}
async function restoreSelected() {
  const item = S.sel && S.sel.key && itemByKey(S.sel.key);
  if (!item) return;
  const edits = clone(S.file.edits);
  edits.removed = without(edits.removed, item.ref);
  edits.left_visible = without(edits.left_visible, item.ref);
  if (await commit(edits)) toast(`${item.label} will be covered again.`);
}
async function extendSelected() {
  const item = S.sel && S.sel.key && itemByKey(S.sel.key);
  if (!item || item.kind !== "track" || S.file.states[item.key]) return;
  const edits = clone(S.file.edits), frame = S.frame;
  const old = edits.extended.find((e) => same(refOf(e), item.ref));
  const from = old ? old.first : item.first, to = old ? old.last : item.last;
  if (frame >= from && frame <= to) { toast(`Frame ${frame} is inside ${item.label} already.`); return; }
  const first = Math.min(frame, from), last = Math.max(frame, to);
  edits.extended = edits.extended.filter((e) => e !== old).concat([Object.assign({}, item.ref, {first, last})]);
  if (await commit(edits)) toast(`${item.label} now covered from frame ${first} to ${last}.`);
}
async function toggleReviewed(key) {
  const item = itemByKey(key || (S.sel && S.sel.key));
  if (!item) return;
  const edits = clone(S.file.edits);
  const had = edits.reviewed.some((r) => same(r, item.ref));
  edits.reviewed = had ? without(edits.reviewed, item.ref) : edits.reviewed.concat([item.ref]);
  await commit(edits);
}
async function coverResidual() {
  const item = S.sel && S.sel.key && itemByKey(S.sel.key);
  if (!item || item.kind !== "residual") return;
  if (S.file.kind === "video" && S.frame !== item.frame) await showFrame(item.frame);
  S.sel = null;
  S.tool = S.file.shape === "ellipse" ? "ellipse" : "box";
  // Covering it is reviewing it: one step to undo.
  await drawRegion(item.region, {reviewed: item.ref, at: S.file.kind === "video" ? item.frame : null});
  setTool(S.tool);
}
async function removeKeyframe(id, frame) {
  const edits = clone(S.file.edits), region = edits.added.find((a) => a.id === id);
  region.keyframes = region.keyframes.filter((k) => k.frame !== frame);
  if (!region.keyframes.length) edits.added = edits.added.filter((a) => a.id !== id);
  await commit(edits);
}

// -- selection and tools -------------------------------------------------------------------
function setTool(name) {
  S.tool = name;
  document.querySelectorAll("[data-tool]").forEach((b) => b.classList.toggle("on", b.dataset.tool === name));
  const fr = $("#frame-input");
  if (fr) fr.classList.toggle("drawing", name !== "select");
}
function select(sel) { S.sel = sel; renderAll(); }
function selectKey(key) {
  if (!key) return select(null);
  if (key.startsWith("added:")) return select({added: key.slice(6)});
  select({key});
}
async function goToItem(item) {
  S.sel = {key: item.key};
  if (S.file.kind === "video" && item.frame !== null && item.frame !== undefined) await showFrame(item.frame);
  renderAll();
  if (item.box) revealBox(item.box);
}
// A picked item must be seen: zoom in where it is a few pixels on screen (a crowd), and bring it
// into the window where the pictures are zoomed elsewhere.
function revealBox(box) {
  const r = frameRect();
  if (!r) return;
  const k = r.width / S.file.width * S.view.z, {x, y} = S.view;
  const onScreen = [box[0] * k + x, box[1] * k + y, box[2] * k + x, box[3] * k + y];
  const small = Math.max(onScreen[2] - onScreen[0], onScreen[3] - onScreen[1]) < 24;
  const outside = onScreen[2] < 0 || onScreen[0] > r.width || onScreen[3] < 0 || onScreen[1] > r.height;
  if (small || outside) zoomTo(box, {minScreen: small ? 60 : 0});
}
// The selection's outline on the picture now (a track's box on this frame), in picture pixels.
function selectedBox() {
  const key = S.sel && (S.sel.key || (S.sel.added && `added:${S.sel.added}`));
  const el = key && $(`#overlay [data-key="${CSS.escape(key)}"]`);
  if (!el) return null;
  const b = el.getBBox();
  return [b.x, b.y, b.x + b.width, b.y + b.height];
}
// What needs eyes: flagged and not yet decided (a deletion or leave-visible is a person's decision).
function flaggedOrder() { return S.file.items.filter((it) => it.needs_eyes && !S.file.states[it.key]); }
async function nextFlagged(step = 1) {
  const list = flaggedOrder().filter((it) => !S.file.reviewed.includes(it.key));
  const pool = list.length ? list : flaggedOrder();
  if (!pool.length) { toast("Nothing flagged in this file."); return; }
  let at = pool.findIndex((it) => S.sel && it.key === S.sel.key);
  if (at < 0 && S.sel && S.sel.key) {  // the selection was just decided (deleted, left visible): go on from where it was
    const all = S.file.items.filter((it) => it.needs_eyes), here = all.findIndex((it) => it.key === S.sel.key);
    if (here >= 0) {
      const after = pool.findIndex((it) => all.indexOf(it) > here);
      at = step > 0 ? (after < 0 ? pool.length : after) - 1 : (after < 0 ? pool.length : after);
    }
  }
  await goToItem(pool[(at + step + pool.length) % pool.length]);
}

// -- side panel ----------------------------------------------------------------------------
function renderAll() { if (!S.file) return; renderOverlay(); renderPanel(); if (S.file.kind === "video") renderTimeline(); }
function renderPanel() {
  if (!S.file) return;  // the file list is shown (another veil run changed the folder)
  renderDetail(); renderList();
  const u = $("#undo"), r = $("#redo"), note = $("#note-output");
  if (u) u.disabled = !S.undo.length;
  if (r) r.disabled = !S.redo.length;
  if (note) note.textContent = S.file.pending ? "as last written: your edits are not applied yet" : "as written";
}
function facts(pairs) {
  return h("dl", {class: "facts"}, pairs.filter((p) => p[1] !== null && p[1] !== undefined && p[1] !== "")
    .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}
function verdictText(v) {
  if (!v) return null;
  if (v.evidence && v.evidence_note) {
    const head = v.status === "leak" ? "STILL MATCHES its original or shows an eye or the nose" : v.evidence.replace("_", " ");
    return `${head}: ${v.evidence_note}`;
  }
  if (v.status === "unverifiable") return `not measured: ${v.note || v.unverifiable || ""}`;
  const d = v.distance !== undefined ? ` (distance ${v.distance}, threshold ${v.threshold})` : "";
  return `${v.status === "leak" ? "STILL MATCHES its original" : "does not match its original"}${d}`;
}
function renderDetail() {
  const box = $("#detail");
  if (!box || !S.file) return;
  const f = S.file, video = f.kind === "video";
  if (!S.sel) {
    put(box, h("h2", {}, "Nothing selected"),
      h("p", {class: "hint"}, f.problem ? "This file cannot be edited." :
        `Click a region on the original to select it${video ? ", or a row of the timeline" : ""}. Draw (B or E) over any face, plate or text veil missed. N jumps to the next item that needs your eyes.`));
    return;
  }
  if (S.sel.added) {
    const region = addedById(S.sel.added);
    if (!region) { S.sel = null; return renderDetail(); }
    const keys = region.keyframes;
    put(box, h("h2", {}, h("span", {class: "dot added"}), `Drawn region ${region.id}`),
      h("label", {class: "kindrow"}, "covers ", kindPicker(region.kind || "face", (k) => setAddedKind(region.id, k),
        "What this drawn region covers")),
      facts([["shape", region.shape + ((region.kind || "face") !== "face" ? " (plates and text: covered by the box that holds it)"
        : region.shape !== f.shape ? ` (covered by the ${f.shape} that holds it)` : ", covered as drawn")],
        video ? ["frames", `${keys[0].frame} – ${keys[keys.length - 1].frame}`] : null].filter(Boolean)),
      video ? h("div", {}, h("div", {class: "muted"}, "Key frames (click to go there, × to remove):"),
        h("div", {class: "keys"}, keys.map((k) => h("span", {},
          h("button", {onclick: () => showFrame(k.frame), class: k.frame === S.frame ? "on" : ""}, `${k.frame}`),
          h("button", {title: `Remove key frame ${k.frame}`, onclick: () => removeKeyframe(region.id, k.frame)}, "×"))))) : null,
      h("div", {class: "actions"}, h("button", {class: "danger", onclick: deleteSelected}, "Delete region (Del)")),
      video ? h("p", {class: "hint"}, "With this region selected, draw on another frame to add a key frame there. Esc to finish.") : null);
    return;
  }
  const item = itemByKey(S.sel.key);
  if (!item) { S.sel = null; return renderDetail(); }
  const st = f.states[item.key], reviewed = f.reviewed.includes(item.key), ext = f.extended[item.key];
  const head = h("h2", {}, h("span", {class: `dot ${st || item.flags[0]}`}), item.label,
    st ? h("span", {class: `chip ${st}`}, STATE_TEXT[st]) : null, reviewed ? h("span", {class: "chip"}, "reviewed") : null);
  const rows = [["why", item.flags.filter((x) => x !== "other").map((x) => FLAG_TEXT[x]).join(", ")],
    [item.kind === "track" ? "confidence (best frame)" : "confidence",
      item.score !== undefined && item.score !== null ? String(item.score) : null],
    ["verification", verdictText(item.verdict)]];
  if (item.kind === "track") {
    rows.push(["frames", `${item.first} – ${item.last}${item.gaps ? ` (${item.gaps} interpolated)` : ""}`]);
    if (ext) rows.push(["extended to", `${ext[0]} – ${ext[1]}`]);
  }
  if (video && item.kind !== "track" && item.frame !== null) rows.push(["frame", String(item.frame)]);
  const actions = [];
  if (item.kind === "residual") {
    actions.push(h("button", {class: "primary", onclick: coverResidual}, "Cover it: draw a region here"));
  } else if (st) {
    actions.push(h("button", {onclick: restoreSelected}, "Cover it again"));
  } else {
    actions.push(h("button", {class: "danger", onclick: deleteSelected, title: `Not a ${item.what || "face"}: do not cover it`}, "Delete (Del)"));
    actions.push(h("button", {onclick: leaveVisibleSelected, title: "The person consented to be shown"}, "Leave visible… (L)"));
    if (item.kind === "track") {
      const [from, to] = ext || [item.first, item.last], inside = S.frame >= from && S.frame <= to;
      actions.push(h("button", {onclick: extendSelected, disabled: inside,
        title: inside ? "Go to a frame before or after the track to extend it there" : "Cover this track on more frames, up to the current one"},
        inside ? "Extend (X)" : `Extend to frame ${S.frame} (X)`));
    }
  }
  actions.push(h("button", {onclick: () => toggleReviewed(item.key)}, reviewed ? "Not reviewed (R)" : "Mark reviewed (R)"));
  if (video && item.frame !== null && item.frame !== S.frame) actions.push(h("button", {onclick: () => showFrame(item.frame)}, `Go to frame ${item.frame}`));
  put(box, head, facts(rows), h("div", {class: "actions"}, actions),
    item.kind === "residual" ? h("p", {class: "hint"}, residualHint(item)) : null);
}
function residualHint(item) {
  const what = item.what || "face";
  if (!item.flags.includes("residual")) return `The ${what} detector read this box at the edge of veil's own fill; run again with the fill smoothed into its surroundings, it found nothing here, so it is not counted. Look: if anything legible is left, cover it; if not, mark it reviewed.`;
  if (item.under_cover) return `veil's ${what} detector still reads a ${what} under this cover (a blur or a mosaic that keeps its shapes): it may be legible. Cover it with fill or noise (run again with --mode fill), or, if nothing can be read, mark it reviewed.`;
  return `veil's detector still finds a ${what} here in the output. If it is one, cover it (then add key frames on other frames where it shows). If not, mark it reviewed.`;
}
function itemRow(item) {
  const st = S.file.states[item.key], done = S.file.reviewed.includes(item.key);
  const sel = S.sel && S.sel.key === item.key;
  const flag = item.flags.find((x) => x !== "other");
  return h("li", {class: (sel ? "sel " : "") + (done ? "done" : ""), onclick: () => goToItem(item), "data-key": item.key},
    h("input", {type: "checkbox", checked: done, title: "Reviewed", onclick: (ev) => { ev.stopPropagation(); toggleReviewed(item.key); }}),
    h("span", {class: `dot ${st || item.flags[0]}`}),
    h("span", {class: "lab"}, item.label),
    st ? h("span", {class: `chip ${st}`}, STATE_TEXT[st]) : flag ? h("span", {class: `chip ${flag}`}, FLAG_TEXT[flag]) : null);
}
function renderList() {
  const box = $("#list");
  if (!box || !S.file) return;
  const f = S.file, flagged = flaggedOrder(), decided = f.items.filter((it) => f.states[it.key]);
  const rest = f.items.filter((it) => !it.needs_eyes && !f.states[it.key]);
  const holdsSel = (list) => list.some((it) => S.sel && S.sel.key === it.key);
  const done = f.items.filter((it) => f.reviewed.includes(it.key)).length;
  const added = f.edits.added.map((a) => h("li", {class: S.sel && S.sel.added === a.id ? "sel" : "",
    onclick: async () => { S.sel = {added: a.id}; if (f.kind === "video") await showFrame(a.keyframes[0].frame); renderAll(); }},
  h("span", {class: "dot added"}), h("span", {class: "lab"}, `drawn ${a.id}` + (f.kind === "video" ? ` · frames ${a.keyframes[0].frame}–${a.keyframes[a.keyframes.length - 1].frame}` : "")),
  h("span", {class: "chip added"}, a.kind && a.kind !== "face" ? `${a.kind} · box` : a.shape)));
  put(box, [
    h("h2", {}, "Needs your eyes", h("span", {class: "count"}, `${flagged.length}`), h("span", {class: "grow"}),
      h("span", {class: "muted", style: "font-weight:400"}, `${done} of ${f.items.length} reviewed`)),
    kindActions(),
    flagged.length ? h("ul", {class: "items"}, flagged.map(itemRow)) : h("p", {class: "muted"}, "Nothing flagged: look through the rest all the same."),
    h("p", {class: "muted"}, "These lists hold what veil found. A face veil missed is on none of them (mostly the smallest, at the back of a crowd: on veil's crowd benchmark 6% of faces under 16 px): look over the whole picture, zoomed in on crowds, and draw over what you find (B)."),
    added.length ? [h("h2", {style: "margin-top:10px"}, "Drawn by you", h("span", {class: "count"}, `${added.length}`)), h("ul", {class: "items"}, added)] : null,
    decided.length ? h("details", {class: "rest decided", open: decided.length <= 10 || holdsSel(decided)},
      h("summary", {}, `Decided by you (${decided.length})`), h("ul", {class: "items"}, decided.map(itemRow))) : null,
    rest.length ? h("details", {class: "rest", open: flagged.length === 0 || holdsSel(rest)},
      h("summary", {}, `Everything else (${rest.length})`), h("ul", {class: "items"}, rest.map(itemRow))) : null,
  ]);
  const sel = box.querySelector("li.sel");
  if (sel && sel.scrollIntoView) sel.scrollIntoView({block: "nearest"});
}

// -- video: transport and timeline ---------------------------------------------------------
function buildTransport() {
  const f = S.file;
  return h("div", {class: "transport"},
    h("button", {class: "icon", title: "Previous frame (←)", onclick: () => showFrame(S.frame - 1)}, "‹"),
    h("button", {class: "icon", id: "play", title: "Play / pause", onclick: togglePlay}, "▶"),
    h("button", {class: "icon", title: "Next frame (→)", onclick: () => showFrame(S.frame + 1)}, "›"),
    h("input", {type: "range", id: "scrub", min: 0, max: f.frames - 1, value: S.frame, "aria-label": "frame",
      oninput: (ev) => showFrame(Number(ev.target.value))}),
    h("input", {type: "number", id: "frame-num", min: 0, max: f.frames - 1, value: S.frame, "aria-label": "frame number",
      onchange: (ev) => showFrame(Number(ev.target.value)),
      // Enter shows the frame and gives the keys back to the picture (Delete, X, N, ...), selection kept.
      onkeydown: (ev) => { if (ev.key === "Enter") { ev.preventDefault(); showFrame(Number(ev.target.value)); ev.target.blur(); } }}),
    h("span", {class: "pos", id: "pos"}));
}
function togglePlay() { if (S.playing) stopPlaying(); else { S.playing = true; $("#play").textContent = "❚❚"; playStep(); } }
function stopPlaying() { S.playing = false; const p = $("#play"); if (p) p.textContent = "▶"; }
function playStep() {
  if (!S.playing) return;
  if (S.frame >= S.file.frames - 1) return stopPlaying();
  const wait = Math.max(0, 1000 / (S.file.rate || 25) - (performance.now() - (S.lastStep || 0)));
  setTimeout(() => { S.lastStep = performance.now(); if (S.playing) showFrame(S.frame + 1); }, wait);
}
const ROW = 8;
function timelineRows() {
  const f = S.file, rows = [];
  for (const a of f.edits.added) rows.push({added: a});
  for (const t of f.tracks) rows.push({track: t, item: itemByKey(`track:${t.id}`)});
  return rows;
}
function renderTimeline() {
  const box = $("#timeline");
  if (!box) return;
  const f = S.file, n = f.frames, rows = timelineRows(), height = (rows.length + 1) * ROW;
  const svg = s("svg", {class: "tl", viewBox: `0 0 ${n} ${height}`, preserveAspectRatio: "none", height});
  const runRects = (g, runs, y, cls) => { for (const [a, b] of runs || []) g.append(s("rect", {x: a, y: y + 1, width: b - a + 1, height: ROW - 2, class: cls})); };
  for (const it of f.items) if (it.flags.includes("residual")) svg.append(s("rect", {x: it.frame, y: 1, width: Math.max(1, n / 400), height: ROW - 2, class: "res"}));
  rows.forEach((row, i) => {
    const y = (i + 1) * ROW, g = s("g");
    const key = row.added ? `added:${row.added.id}` : row.item && row.item.key;
    const selected = S.sel && ((row.added && S.sel.added === row.added.id) || (row.item && S.sel.key === row.item.key));
    if (selected) svg.append(s("rect", {x: 0, y, width: n, height: ROW, class: "rowsel"}));
    if (row.added) {
      const k = row.added.keyframes;
      g.append(s("rect", {x: k[0].frame, y: y + 2, width: k[k.length - 1].frame - k[0].frame + 1, height: ROW - 4, class: "add"}));
      for (const kf of k) g.append(s("rect", {x: kf.frame, y, width: Math.max(1, n / 500), height: ROW, class: "add"}));
    } else {
      const t = row.track, st = f.states[key], ext = f.extended[key];
      if (st === "removed") g.setAttribute("class", "gone");
      if (st === "left_visible") g.setAttribute("class", "vis");
      g.append(s("rect", {x: t.first, y: y + ROW / 2 - 1, width: t.last - t.first + 1, height: 2, class: "span"}));
      if (ext) runRects(g, [[ext[0], t.first - 1], [t.last + 1, ext[1]]].filter(([a, b]) => b >= a), y, "ext");
      runRects(g, t.padded, y, "pad"); runRects(g, t.interpolated, y, "int"); runRects(g, t.detected, y, "det");
    }
    g.dataset.key = key || "";
    const tip = s("title");
    tip.textContent = row.added ? `drawn ${row.added.id}`
      : `${row.item ? row.item.label : `track ${row.track.id}`}: frames ${row.track.first}–${row.track.last}` +
        (f.states[key] ? ` (${STATE_TEXT[f.states[key]]})` : "");
    g.append(tip);
    svg.append(g);
  });
  for (const c of f.cuts) svg.append(s("line", {x1: c, x2: c, y1: 0, y2: height, class: "cut"}));
  svg.append(s("line", {id: "tl-now", x1: S.frame + 0.5, x2: S.frame + 0.5, y1: 0, y2: height, class: "now"}));
  svg.addEventListener("click", (ev) => {
    const r = svg.getBoundingClientRect();
    const frame = Math.floor((ev.clientX - r.left) / r.width * n), i = Math.floor((ev.clientY - r.top) / ROW) - 1;
    const row = rows[i];
    if (row) S.sel = row.added ? {added: row.added.id} : row.item ? {key: row.item.key} : S.sel;
    showFrame(frame).then(renderAll);
  });
  const legend = h("div", {class: "legend"},
    [["detected", "var(--detected)"], ["interpolated", "var(--interp)"], ["padded", "var(--padded)"],
      ["drawn by you", "var(--added)"], ["scene cut", "var(--cut)"], ["possible missed face", "var(--cut)"]]
      .map(([name, c]) => h("span", {}, h("i", {class: "sw", style: `--c:${c}`}), name)),
    h("span", {class: "grow"}), h("span", {}, `${plural(f.tracks.length, "track")} · ${plural(f.cuts.length, "cut")}`));
  const scroller = h("div", {class: "tl-scroll"}, svg);
  const old = box.querySelector(".tl-scroll");
  const top = old ? old.scrollTop : 0;
  put(box, legend, scroller);
  scroller.scrollTop = top;
  const selIndex = rows.findIndex((row) => S.sel && ((row.added && S.sel.added === row.added.id) || (row.item && S.sel.key === row.item.key)));
  if (selIndex >= 0) {
    const y = (selIndex + 1) * ROW;
    if (y < scroller.scrollTop || y > scroller.scrollTop + scroller.clientHeight - ROW) scroller.scrollTop = y - scroller.clientHeight / 2;
  }
}
function renderTimelineCursor() {
  const now = $("#tl-now");
  if (now) { now.setAttribute("x1", S.frame + 0.5); now.setAttribute("x2", S.frame + 0.5); }
  // Keep the rows of what is on screen in view: scroll to the first one when none shows.
  const scroller = $(".tl-scroll");
  if (!scroller || S.sel) return;
  const rows = timelineRows(), top = scroller.scrollTop, bottom = top + scroller.clientHeight;
  const live = rows.map((row, i) => [row, (i + 1) * ROW]).filter(([row]) => row.track
    ? row.track.first <= S.frame && S.frame <= row.track.last
    : row.added.keyframes[0].frame <= S.frame && S.frame <= row.added.keyframes[row.added.keyframes.length - 1].frame);
  if (live.length && !live.some(([, y]) => y >= top && y + ROW <= bottom)) scroller.scrollTop = Math.max(0, live[0][1] - ROW);
}

// -- apply ---------------------------------------------------------------------------------
function renderApply(status) {
  const btn = $("#apply"), out = $("#apply-status");
  const st = status || (S.run && S.run.apply) || {state: "idle"};
  const pending = S.run ? S.run.files.filter((f) => f.pending).length : 0;
  if (st.state === "running") {
    btn.disabled = true;
    put(out, h("span", {}, `Applying${st.file ? ": " + nameOf(st.file) : ""}…`),
      h("span", {class: "meter"}, h("i", {style: `width:${Math.round(100 * (st.fraction || 0))}%`})));
    return;
  }
  btn.disabled = pending === 0;
  btn.textContent = pending ? `Apply (${plural(pending, "file")})` : "Apply";
  put(out, pending ? h("span", {}, "edits not applied yet") : h("span", {}, "outputs up to date"));
}
async function startApply() {
  try { renderApply(await api("/api/apply", {method: "POST"})); } catch (e) { toast(e.message, true); return; }
  clearInterval(S.polling);
  S.pollFailures = 0;
  S.polling = setInterval(pollApply, 400);
}
async function pollApply() {
  let st;
  try {
    st = await api("/api/apply");
    S.pollFailures = 0;
  } catch (e) {
    // A server stopped mid-Apply (Ctrl+C) leaves outputs as they were and the edits saved: say so, once.
    if (++S.pollFailures < 10) return;
    clearInterval(S.polling); S.polling = null;
    put($("#apply-status"), h("span", {class: "error"}, "the review server is not answering"));
    toast("veil review is not answering (stopped?). Your edits are saved in veil-edits.json and no output is " +
      "half-written. Start veil review again on the folder to see what Apply finished and apply the rest.", true);
    return;
  }
  if (st.state === "running") { renderApply(st); return; }
  clearInterval(S.polling); S.polling = null;
  S.outVersion++;
  forgetThumbnails();
  const changed = await takeRun();
  renderApply();
  if (st.state === "done") {
    const failed = st.failed || [];
    if (failed.length) toast(`Apply: ${failed.map((x) => `${nameOf(x.file)}: ${x.error}`).join("; ")}`, true);
    else toast(`Applied: ${plural((st.rendered || []).length, "file")} re-rendered and verified, report updated.`);
  } else if (st.state === "failed") toast(`Apply failed, nothing changed: ${st.error}`, true);
  if (changed) showFileList();
  else if (S.fileId !== null) {
    const keep = {sel: S.sel, undo: S.undo, redo: S.redo, frame: S.frame};
    await openFile(S.fileId, keep.frame);
    Object.assign(S, {sel: keep.sel, undo: keep.undo, redo: keep.redo});
    renderAll();
  } else renderOverview();
  document.body.dataset.applied = String(S.outVersion);
}

// -- keyboard ------------------------------------------------------------------------------
document.addEventListener("keydown", (ev) => {
  if ($("#confirm").open || $("#help").open) return;
  const t = ev.target, typing = t && (t.tagName === "INPUT" && t.type !== "checkbox" && t.type !== "range" || t.tagName === "TEXTAREA");
  if (typing && ev.key !== "Escape") return;
  const mod = ev.ctrlKey || ev.metaKey;
  if (mod && ev.key.toLowerCase() === "z") { ev.preventDefault(); return ev.shiftKey ? redo() : undo(); }
  if (mod && ev.key.toLowerCase() === "y") { ev.preventDefault(); return redo(); }
  if (mod || ev.altKey) return;
  if (ev.key === "?") { ev.preventDefault(); return $("#help").showModal(); }  // on the file list too
  if (!S.file) return;
  const video = S.file.kind === "video";
  const keys = {
    ArrowLeft: () => video && t.type !== "range" && showFrame(S.frame - (ev.shiftKey ? 10 : 1)),
    ArrowRight: () => video && t.type !== "range" && showFrame(S.frame + (ev.shiftKey ? 10 : 1)),
    Home: () => video && showFrame(0), End: () => video && showFrame(S.file.frames - 1),
    n: () => nextFlagged(1), N: () => nextFlagged(-1), "[": () => stepFile(-1), "]": () => stepFile(1),
    Delete: deleteSelected, Backspace: deleteSelected,
    l: leaveVisibleSelected, x: extendSelected, r: () => toggleReviewed(),
    v: () => setTool("select"), b: () => setTool("box"), e: () => setTool("ellipse"),
    Escape: () => { setTool("select"); select(null); },
    "+": () => zoomBy(1.5), "=": () => zoomBy(1.5), "-": () => zoomBy(1 / 1.5), "0": () => setView(FIT),
    z: () => { const b = selectedBox(); if (b) zoomTo(b, {minScreen: 160}); },
  };
  const fn = keys[ev.key] || keys[ev.key.toLowerCase && ev.key.length === 1 && !ev.shiftKey ? ev.key.toLowerCase() : ""];
  if (fn) { ev.preventDefault(); fn(); }
});

$("#apply").addEventListener("click", startApply);
window.addEventListener("hashchange", () => {
  const m = location.hash.match(/^#\/file\/(\d+)/);
  if (m && S.fileId === Number(m[1])) return;  // frame changes within a file are ours
  route();
});
route().then(() => { if (S.run && S.run.apply && S.run.apply.state === "running") S.polling = setInterval(pollApply, 400); });
