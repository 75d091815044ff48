// File intake: the page's only JavaScript of its own. No logic lives here, only what cannot wait for Python,
// or would cost the Python worker a round trip per DOM access:
// - files chosen or dropped before the Python worker is ready are queued, not lost;
// - every File is handed to the worker with postMessage (a structured clone), so the worker reads a native
//   Blob at full speed instead of reaching back to the page for every slice;
// - a drop must be accepted synchronously (preventDefault on dragover/drop), which a worker cannot do;
// - the rows: Python (browser/view.py) posts each repaint of a row as ONE message, {kind: "row", id, ops,
//   html} (from the worker each DOM access would be a synchronous round trip to this thread, during which the
//   worker waits): html, if any, is a new row to append to #uploads first; ops a JSON list of
//   [selector ("" = the row), name, value], where name "@x" sets attribute x (null removes it), "style.x"
//   sets a style property, "remove" removes the element, and any other name sets that property;
// - clicks on the rows' buttons and the window's "online" event are posted to Python like the files
//   ({kind: "action", action, key}, {kind: "online"}): the worker then needs no listener on the page;
// - downloads into the page: a list's "Download" button posts {kind: "download", url, name, size}; a
//   download's row is drawn like an upload's, in the list its message names ({..., list: "download-rows"});
//   a finished download comes as {kind: "save", id, name, file} (the OPFS File): it is saved through an
//   object URL under its name (nothing is copied), and the row keeps the link;
// - "Save as…" (a download row's dl-save-as button, which Python shows where rtIntake.canPickFile() said
//   window.showSaveFilePicker exists): run here, in the click (the picker needs its user activation), it
//   streams the row's File into the file chosen, then posts the outcome to Python as the action
//   "dl-saved-as|<error name, empty when saved>|<the chosen file's name, or the error's message>";
// - {kind: "page", ops}: the page's own words in the reader's language, the same edits on the document.
// Python calls window.rtIntake.ready(target, status) once it listens; from then on files go to it at once.
// The target is what to post to: by default (null) the page's worker (#uploader's xworker); the embedded
// uploader, whose Python runs on the main thread, passes one end of a MessageChannel. The waiting note's words
// may come from the note's data-waiting-one / data-waiting-many ("{count}" is replaced), else English.
(() => {
  "use strict";
  const queue = [];
  let worker = null;
  const input = document.getElementById("file-input");
  const zone = document.getElementById("drop-zone");
  const note = document.getElementById("intake-note");

  function flush() {
    if (worker === null) {
      note.hidden = queue.length === 0;
      const template = queue.length === 1 ? note.dataset.waitingOne : note.dataset.waitingMany;
      note.textContent = template
        ? template.replace("{count}", String(queue.length))
        : `${queue.length} file${queue.length === 1 ? "" : "s"} waiting for Python to start…`;
      return;
    }
    note.hidden = true;
    if (queue.length > 0) worker.postMessage({ kind: "files", files: queue.splice(0) });
  }

  function take(files) {
    if (files && files.length > 0) {
      queue.push(...files);
      flush();
    }
  }

  const chosen = () => {
    take(input.files);
    input.value = ""; // choosing the same file again fires "change" again
  };
  input.addEventListener("change", chosen);
  if (input.files && input.files.length > 0) chosen(); // chosen while this script was loading

  const accept = (event) => {
    if (event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files")) {
      event.preventDefault();
      zone.classList.add("dragging");
    }
  };
  zone.addEventListener("dragenter", accept);
  zone.addEventListener("dragover", accept);
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    take(event.dataTransfer.files);
  });
  // A file dropped next to the zone must not replace the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  // The rows' buttons and the window's "online" event, for Python (it holds no listener on the page).
  const list = document.getElementById("uploads");
  const clicked = (event) => {
    const button = event.target.closest("button[data-action]");
    if (button === null || worker === null) return;
    const data = button.dataset;
    if (data.action === "dl-save-as") {
      saveAs(button.closest("li"), data.key);
      return;
    }
    if (data.url) worker.postMessage({ kind: "download", url: data.url, name: data.name, size: data.size });
    else worker.postMessage({ kind: "action", action: data.action, key: data.key });
  };
  list?.addEventListener("click", clicked);
  document.getElementById("downloads-panel")?.addEventListener("click", clicked);
  window.addEventListener("online", () => {
    if (worker !== null) worker.postMessage({ kind: "online" });
  });

  // A row's repaint (see the top of this file), or the page's words (root: the document).
  function paintRow(id, ops, html, into) {
    if (html) (into ? document.getElementById(into) : list).insertAdjacentHTML("beforeend", html);
    const row = document.getElementById(id);
    if (row === null) return; // removed meanwhile
    edit(row, ops);
  }

  function edit(root, ops) {
    for (const [selector, name, value] of JSON.parse(ops)) {
      const element = selector ? root.querySelector(selector) : root;
      if (element === null) continue;
      if (name === "remove") element.remove();
      else if (name.startsWith("@")) {
        if (value === null) element.removeAttribute(name.slice(1));
        else element.setAttribute(name.slice(1), value);
      } else if (name.startsWith("style.")) element.style[name.slice(6)] = value;
      else element[name] = value;
    }
  }

  // A finished download: its OPFS File, saved under its name through an object URL (kept while the page
  // lives: the browser reads the file from it as it saves it).
  const finished = new Map(); // row id -> {name, file}: what "Save as…" writes
  function save(id, name, file) {
    finished.set(id, { name, file });
    const row = document.getElementById(id);
    const link = row?.querySelector("a.download-save") ?? document.createElement("a");
    link.href = URL.createObjectURL(file);
    link.download = name;
    if (row !== null) link.parentElement.hidden = false;
    link.click();
  }

  // "Save as…": the picker is asked for at once, inside the click (no await before it).
  async function saveAs(row, key) {
    const kept = row === null ? undefined : finished.get(row.id);
    if (kept === undefined) return;
    let error = "";
    let detail = "";
    try {
      const handle = await window.showSaveFilePicker({ suggestedName: kept.name });
      detail = handle.name;
      await kept.file.stream().pipeTo(await handle.createWritable()); // closes it once all is written
    } catch (failure) {
      error = (failure && failure.name) || "Error";
      detail = String((failure && failure.message) || failure);
    }
    if (worker !== null) worker.postMessage({ kind: "action", action: `dl-saved-as|${error}|${detail}`, key });
  }

  window.rtIntake = {
    // Whether "Save as…" can be offered (asked once by Python, from its worker, which has no window).
    canPickFile() {
      return typeof window.showSaveFilePicker === "function";
    },
    // Python is ready and listens at `target` (by default the page's worker). `status`: what the status
    // line says now. The page is marked ready (html[data-python=ready]) before the queued files go.
    ready(target, status) {
      worker = target || document.getElementById("uploader").xworker;
      worker.addEventListener("message", (event) => {
        const data = event.data;
        if (!data) return;
        if (data.kind === "row") paintRow(data.id, data.ops, data.html, data.list);
        else if (data.kind === "save") save(data.id, data.name, data.file);
        else if (data.kind === "page") edit(document, data.ops);
      });
      if (target) target.start(); // a MessagePort delivers to its listeners once started
      const line = document.getElementById("python-status");
      if (status && line !== null) line.textContent = status;
      document.documentElement.dataset.python = "ready";
      flush();
    },
  };
})();
