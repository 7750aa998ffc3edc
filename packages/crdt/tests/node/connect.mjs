// What the test scripts share: a y-websocket connection opened as an application
// would open one, a hard deadline, and the document as JSON.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'

/** Exit with code 2 if the script still runs after `ms`, saying what it was doing. */
export function deadline (ms, doing) {
  const timer = setTimeout(() => {
    console.error(`TIMEOUT after ${ms} ms while ${doing()}`)
    process.exit(2)
  }, ms)
  timer.unref()
  return timer
}

/** A fresh Y.Doc synced with document `name` at `url` (Node has no global WebSocket). */
export function connect (url, name) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(url, name, doc, {
    WebSocketPolyfill: WebSocket, // capital S: any other spelling is silently ignored
    disableBc: true
  })
  return { doc, provider }
}

/** Resolves once the provider has received the server's sync step 2. */
export function synced (provider) {
  return new Promise(resolve => {
    if (provider.synced) resolve()
    else provider.once('synced', resolve)
  })
}

/** Resolves once everything sent so far has left the socket's buffer. */
export async function drained (provider) {
  while (provider.ws && provider.ws.bufferedAmount > 0) {
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** The three roots the tests use, as JSON. */
export function snapshot (doc) {
  return {
    text: doc.getText('notes').toString(),
    meta: doc.getMap('meta').toJSON(),
    items: doc.getArray('items').toJSON()
  }
}

/** Disconnect cleanly and exit with `code`. */
export function finish (provider, doc, code) {
  provider.destroy()
  doc.destroy()
  setTimeout(() => process.exit(code), 20)
}
