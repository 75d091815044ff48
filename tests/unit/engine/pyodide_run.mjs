// Run Python under Pyodide (node, offline) with folders or files of the repository in its file system.
// Usage: node pyodide_run.mjs <repository root> <python file> <path>[=<mount>]...  ->  prints what the Python
// code returns (a string). Each path (a folder: its *.py files; or one file) is written to
// /home/pyodide/<mount> (default: the same path), which is on sys.path: "frontend/engine" imports as
// frontend.engine, "frontend/engine=engine" as engine.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pyodideDir = resolve(here, "../../../frontend/node_modules/pyodide") + "/";
const { loadPyodide } = await import(pyodideDir + "pyodide.mjs");
const [root, script, ...paths] = process.argv.slice(2);

const py = await loadPyodide({ indexURL: pyodideDir });
for (const spec of paths) {
  const [path, mount = path] = spec.split("=");
  const source = join(root, path);
  const target = `/home/pyodide/${mount}`;
  if (statSync(source).isDirectory()) {
    py.FS.mkdirTree(target);
    for (const name of readdirSync(source).filter((n) => n.endsWith(".py"))) {
      py.FS.writeFile(`${target}/${name}`, readFileSync(join(source, name)));
    }
  } else {
    py.FS.mkdirTree(dirname(target));
    py.FS.writeFile(target, readFileSync(source));
  }
}
const out = await py.runPythonAsync(readFileSync(script, "utf8"));
process.stdout.write(String(out) + "\n");
