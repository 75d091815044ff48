// What the Uppy test page imports (tests/e2e/test_tus_uppy.py bundles it with the pinned esbuild): Uppy's
// ES modules import CommonJS packages (lodash/throttle.js, mime-match, url-parse through tus-js-client), which
// a browser cannot load as modules, so they cannot be served from node_modules as they are.
import '@uppy/core/css/style.min.css'
import '@uppy/dashboard/css/style.min.css'

export { default as Uppy } from '@uppy/core'
export { default as Dashboard } from '@uppy/dashboard'
export { default as GoldenRetriever } from '@uppy/golden-retriever'
export { default as Tus } from '@uppy/tus'
