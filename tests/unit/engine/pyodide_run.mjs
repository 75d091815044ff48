// Run Python under Pyodide (node, offline) with the engine mounted as the top-level package `engine`.
// Usage: node pyodide_run.mjs <engine dir> <python file>  ->  prints what the Python code returns (a string).
import { readFileSync, readdirSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pyodideDir = resolve(here, "../../../frontend/node_modules/pyodide") + "/";
const { loadPyodide } = await import(pyodideDir + "pyodide.mjs");
const [engineDir, script] = process.argv.slice(2);

const py = await loadPyodide({ indexURL: pyodideDir });
py.FS.mkdirTree("/home/pyodide/engine");
for (const name of readdirSync(engineDir).filter((n) => n.endsWith(".py"))) {
  py.FS.writeFile(`/home/pyodide/engine/${name}`, readFileSync(join(engineDir, name)));
}
const out = await py.runPythonAsync(readFileSync(script, "utf8"));
process.stdout.write(String(out) + "\n");
