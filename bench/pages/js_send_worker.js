// The worker of js_send.html: the seed's protocol as our page speaks it, in plain JavaScript. Handshake, then
// the chunks the server needs, `parallel` at a time; each chunk sent as the multipart form our page sends:
// chunkId and fileId, then the file part, a `file.slice()` the browser streams while sending (no read first).
const CHUNK = 1024 * 1024;

async function post(url, init) {
  const answer = await fetch(url, { method: "POST", ...init });
  const body = await answer.json();
  if (answer.status !== 200) throw new Error(`${url}: ${answer.status} ${JSON.stringify(body)}`);
  return body.data;
}

async function upload({ file, api, fileId, chunkIds, parallel }) {
  const handshake = await post(`${api}/api/upload/handshake`, {
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ fileId, ext: ".bin", chunkIds, size: file.size }),
  });
  const queue = Array.isArray(handshake) ? [...handshake] : [];
  let finished = queue.length === 0;
  async function sender() {
    while (queue.length > 0) {
      const chunkId = queue.shift();
      const index = Number(chunkId.slice(32));
      const form = new FormData();
      form.append("chunkId", chunkId);
      form.append("fileId", fileId);
      form.append("file", file.slice(index * CHUNK, Math.min(file.size, (index + 1) * CHUNK)), file.name);
      const needs = await post(`${api}/api/upload`, { body: form });
      if (Array.isArray(needs) && needs.length === 0) finished = true;
    }
  }
  await Promise.all(Array.from({ length: parallel }, sender));
  if (!finished) throw new Error("the server never answered []");
}

self.onmessage = async (event) => {
  try {
    await upload(event.data);
    self.postMessage({ ok: true });
  } catch (error) {
    self.postMessage({ error: String(error) });
  }
};
