// The worker of py_hash.html: Pyodide from our server, our Python sources written into its file system where
// our page's PyScript configuration (/pyscript.json) puts them, then hash_file(BlobSource(file)) per message.
import { loadPyodide } from "/vendor/pyodide/pyodide.mjs";

const pyodide = await loadPyodide();
const config = await (await fetch("/pyscript.json")).json();
for (const [url, path] of Object.entries(config.files)) {
  const target = `/home/pyodide/${path.replace(/^\.\//, "")}`;
  pyodide.FS.mkdirTree(target.slice(0, target.lastIndexOf("/")));
  pyodide.FS.writeFile(target, await (await fetch(url)).text());
}
const hashIds = pyodide.runPython(`
from frontend.browser.source import BlobSource
from frontend.engine.hashing import hash_file


async def hash_ids(js_file):
    plan = await hash_file(BlobSource(js_file))
    return plan.to_dict()


hash_ids
`);
self.onmessage = async (event) => {
  const plan = await hashIds(event.data);
  const ids = plan.toJs({ dict_converter: Object.fromEntries });
  plan.destroy();
  self.postMessage({ fileId: ids.fileId, chunkIds: ids.chunkIds });
};
self.postMessage({ ready: true });
