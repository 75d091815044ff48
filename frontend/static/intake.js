// File intake: the page's only JavaScript of its own. No logic lives here, only what cannot wait for Python:
// - files chosen or dropped before the Python worker is ready are queued, not lost;
// - every File is handed to the worker with postMessage (a structured clone), so the worker reads a native
//   Blob at full speed instead of reaching back to the page for every slice;
// - a drop must be accepted synchronously (preventDefault on dragover/drop), which a worker cannot do.
// Python calls window.rtIntake.ready(target) once it listens; from then on files go to it at once. The target is
// what to post to: by default the page's worker (#uploader's xworker); the embedded uploader, whose Python
// runs on the main thread, passes one end of a MessageChannel. The waiting note's words may come from the
// note's data-waiting-one / data-waiting-many ("{count}" is replaced), else English.
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

  window.rtIntake = {
    ready(target) {
      worker = target || document.getElementById("uploader").xworker;
      flush();
    },
  };
})();
