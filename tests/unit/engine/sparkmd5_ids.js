// The seed's splitFile loop, run by node with npm's spark-md5, over files named on the command line.
// Usage: node sparkmd5_ids.js <chunkSize> <file>...  ->  one JSON line: [{fileId, chunkIds}, ...]
// FileReader is a browser API; the shim below gives the seed's code the same callback shape over Blob.
'use strict';
const fs = require('fs');
const path = require('path');
const SparkMD5 = require(path.resolve(__dirname, '../../../frontend/node_modules/spark-md5'));

class FileReader {
  readAsArrayBuffer(blob) {
    blob.arrayBuffer().then((result) => this.onload({ target: { result } }));
  }
}

// Verbatim logic of the seed's splitFile (chunk contents dropped: only ids are compared).
function splitFile(file, chunkSize) {
  return new Promise((resolve) => {
    const chunkCount = Math.ceil(file.size / chunkSize);
    let chunkIndex = 0;
    const spark = new SparkMD5.ArrayBuffer();
    const fileReader = new FileReader();
    const chunks = [];
    fileReader.onload = function (e) {
      spark.append(e.target.result);
      const chunkMD5 = SparkMD5.ArrayBuffer.hash(e.target.result) + chunkIndex;
      chunkIndex++;
      chunks.push({ id: chunkMD5 });
      if (chunkIndex < chunkCount) {
        loadNext();
      } else {
        resolve({ fileId: spark.end(), chunkIds: chunks.map((it) => it.id) });
      }
    };
    function loadNext() {
      const start = chunkIndex * chunkSize,
        end = start + chunkSize >= file.size ? file.size : start + chunkSize;
      fileReader.readAsArrayBuffer(file.slice(start, end));
    }
    loadNext();
  });
}

(async () => {
  const chunkSize = Number(process.argv[2]);
  const out = [];
  for (const file of process.argv.slice(3)) {
    out.push(await splitFile(new Blob([fs.readFileSync(file)]), chunkSize));
  }
  process.stdout.write(JSON.stringify(out) + '\n');
})();
