// Bundle the demo page: src/main.js and its dependencies (yjs, y-websocket, y-indexeddb) into one
// ES module, ../src/djed/cli/_demo/static/app.js, with a source map next to it. Both files are
// build outputs (ignored by git); index.html and style.css in the same folder are handwritten.
//
//   npm ci && npm run build

import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

const here = (path) => fileURLToPath(new URL(path, import.meta.url))

await build({
  entryPoints: [here('./src/main.js')],
  outfile: here('../src/djed/cli/_demo/static/app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  sourcemap: true,
  legalComments: 'eof',
  logLevel: 'info'
})
