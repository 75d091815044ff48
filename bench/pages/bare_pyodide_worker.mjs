// The worker of bare_pyodide_worker.html: loadPyodide from our server's files, then say so.
import { loadPyodide } from "/vendor/pyodide/pyodide.mjs";

await loadPyodide();
self.postMessage("ready");
