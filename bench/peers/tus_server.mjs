// The tus peer of the upload benchmarks: @tus/server with its FileStore, as its README's standalone example.
//   node tus_server.mjs --port 0 --dir /tmp/uploads [--host 127.0.0.1]
// Prints "tus server listening on http://HOST:PORT/files" once it accepts connections; stops on SIGTERM/SIGINT.
import { Server } from "@tus/server";
import { FileStore } from "@tus/file-store";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    dir: { type: "string" },
  },
});
if (!values.dir) {
  console.error("usage: node tus_server.mjs --port PORT --dir DIRECTORY [--host HOST]");
  process.exit(2);
}

const tus = new Server({ path: "/files", datastore: new FileStore({ directory: values.dir }) });
const server = tus.listen({ host: values.host, port: Number(values.port) }, () => {
  const { address, port } = server.address();
  console.log(`tus server listening on http://${address}:${port}/files`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
