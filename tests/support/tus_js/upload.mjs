// Upload one file with tus-js-client (the real one, pinned in package-lock.json) under node, for the tests.
//
//   node upload.mjs '<options as JSON>'
//
// Options: endpoint, file (a path), chunkSize (bytes; absent: one request), metadata ({key: text}),
// parallelUploads (1), uploadUrl (resume this upload), uploadDataDuringCreation, uploadLengthDeferred (the
// file is then read as a stream of unknown length), overridePatchMethod, retryDelays (ms; default none),
// urlStorage (a JSON file: tus-js-client's FileUrlStorage, so the fingerprint finds a previous upload),
// abortAt (stop once the server has accepted that many bytes; with terminate: true, abort(true) deletes it),
// abortMidChunkAt (stop once more than that many bytes were handed to requests: the PATCH under way is
// aborted; node's http client usually drops it before its body reached the server),
// pauseAt (stop as abortAt does, say "paused", wait for a line on stdin, then start() again: same upload).
// With parallelUploads > 1 (tus concatenation: partial uploads, then a final one made of them), each partial
// upload reports its own chunks ("chunk" events count within their part), while abortAt and pauseAt count the
// bytes accepted across all the parts, and wait until every partial upload has been created.
//
// It prints one JSON object per line: {"event": "response", method, url, concat (the request's Upload-Concat),
// status, location, offset, length} for each answer,
// "previous" (with urlStorage: how many earlier uploads of this file it found), "url", "chunk",
// "paused", "resumed", and how it ended: "aborted", "terminated", "success" or "error" (with the message and
// the status of the answer that failed, if any). Exit status: 0 unless an "error" was printed.
import { createReadStream, statSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { PassThrough } from 'node:stream'

import { FileUrlStorage, Upload } from 'tus-js-client'

const options = JSON.parse(process.argv[2])
let ended = false // a final event was printed
const say = (event, fields = {}) => {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`) // a pipe: written at once on Linux
  if (!ended && ['aborted', 'terminated', 'success', 'error'].includes(event)) {
    ended = true
    // Exit now: node's http client stops sending a request body once a complete answer came (an early 409
    // or 423), and keeps that socket until the server closes it (aiohttp lingers 10 s for the rest).
    setImmediate(() => process.exit())
  }
}
// tus-js-client can stop without a word: its stream source waits forever for data after the end of a
// stream whose length is a multiple of chunkSize (tus/tus-js-client#779); node then simply exits.
process.on('exit', () => {
  if (!ended) {
    say('error', { message: 'node exited before the upload ended (nothing left to wait for)', status: null })
    process.exitCode = 1
  }
})

function input() {
  const stream = createReadStream(options.file)
  // A fs.ReadStream with a path is read as a file of known size; a plain stream is of unknown length.
  return options.uploadLengthDeferred ? stream.pipe(new PassThrough()) : stream
}

let stopped = false
let upload
const parallel = (options.parallelUploads ?? 1) > 1
const fileSize = statSync(options.file).size
let partialsCreated = 0 // parallel: the partial uploads the server created
let acceptedInParts = 0 // parallel: the bytes the server accepted, all parts together

function stop(why, terminate) {
  stopped = true
  upload
    .abort(terminate)
    .then(() => {
      say(terminate ? 'terminated' : why, { url: upload.url })
      if (why === 'paused') {
        const lines = createInterface({ input: process.stdin })
        lines.once('line', () => {
          lines.close()
          process.stdin.destroy() // nothing more to read: let node exit once the upload ends
          stopped = false
          say('resumed', { url: upload.url })
          upload.start()
        })
      }
    })
    .catch((err) => fail(err))
}

function fail(err) {
  const res = err.originalResponse
  say('error', { message: String(err.message || err), status: res ? res.getStatus() : null })
  process.exitCode = 1
}

upload = new Upload(input(), {
  endpoint: options.endpoint,
  uploadUrl: options.uploadUrl ?? null,
  chunkSize: options.chunkSize ?? Number.POSITIVE_INFINITY,
  metadata: options.metadata ?? {},
  parallelUploads: options.parallelUploads ?? 1,
  uploadDataDuringCreation: Boolean(options.uploadDataDuringCreation),
  uploadLengthDeferred: Boolean(options.uploadLengthDeferred),
  overridePatchMethod: Boolean(options.overridePatchMethod),
  retryDelays: options.retryDelays ?? null,
  urlStorage: options.urlStorage ? new FileUrlStorage(options.urlStorage) : undefined,
  storeFingerprintForResuming: Boolean(options.urlStorage),
  removeFingerprintOnSuccess: false,
  onUploadUrlAvailable: () => say('url', { url: upload.url }), // created, or found again (HEAD)
  onAfterResponse: (req, res) => {
    const concat = req.getHeader('Upload-Concat') ?? null
    if (req.getMethod() === 'POST' && concat === 'partial' && res.getStatus() === 201) {
      partialsCreated += 1
    }
    say('response', {
      method: req.getMethod(),
      url: req.getURL(),
      concat,
      status: res.getStatus(),
      location: res.getHeader('Location') ?? null,
      offset: res.getHeader('Upload-Offset') ?? null,
      length: res.getHeader('Upload-Length') ?? null,
    })
  },
  onProgress: (sent) => {
    if (!stopped && options.abortMidChunkAt != null && sent > options.abortMidChunkAt) {
      stop('aborted', false)
    }
  },
  onChunkComplete: (size, accepted, total) => {
    say('chunk', { size, accepted, total })
    if (parallel) {
      acceptedInParts += size
      if (partialsCreated < options.parallelUploads) return
      accepted = acceptedInParts
      total = fileSize
    }
    for (const [key, why] of [
      ['abortAt', 'aborted'],
      ['pauseAt', 'paused'],
    ]) {
      if (!stopped && options[key] != null && accepted >= options[key] && (total == null || accepted < total)) {
        options[key] = null // once
        stop(why, why === 'aborted' && Boolean(options.terminate))
      }
    }
  },
  onSuccess: () => say('success', { url: upload.url }),
  onError: fail,
})

if (options.urlStorage) {
  const previous = await upload.findPreviousUploads()
  say('previous', { count: previous.length })
  if (previous.length > 0) {
    upload.resumeFromPreviousUpload(previous[0])
  }
}
upload.start()
