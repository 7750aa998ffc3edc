// One open invoice: its Y.Doc, the websocket provider that syncs it with the server (room
// "invoice-<id>" under /sync) and the IndexedDB copy that keeps offline edits across reloads.
// The provider disconnects while the browser reports being offline and reconnects after.

import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { IndexeddbPersistence } from 'y-indexeddb'
import { hasContent } from './invoice-model.js'
import { browserOffline, onNetworkChange } from './network.js'

/** ws://host/sync, or wss:// when the page itself came over https. */
export function syncUrl () {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/sync`
}

/**
 * Open the live document of one invoice.
 *
 * `onReady` runs once, when the document can be edited: after the first sync with the server,
 * or earlier if the browser already had a copy of this invoice in IndexedDB (an empty local
 * copy does not count: editing a blank document before the server's content arrives would
 * make a mess of the merge).
 *
 * @param {string} id invoice id, e.g. "1001"
 * @param {{onReady: (source: 'server' | 'local') => void}} callbacks
 */
export function openSession (id, { onReady }) {
  const doc = new Y.Doc()
  let ready = false
  let closed = false
  const becomeReady = (source) => {
    if (ready || closed) return
    ready = true
    onReady(source)
  }

  let persistence = null
  try {
    persistence = new IndexeddbPersistence(`djed-demo-invoice-${id}`, doc)
    persistence.on('synced', () => {
      if (hasContent(doc)) becomeReady('local')
    })
  } catch (error) {
    // Storage disabled (some private modes): the page still works, only not across reloads.
    console.warn('IndexedDB is not available; offline edits will not survive a reload.', error)
  }

  const provider = new WebsocketProvider(syncUrl(), `invoice-${id}`, doc, { connect: !browserOffline() })
  provider.on('sync', (synced) => {
    if (synced) becomeReady('server')
  })
  // Edits made while offline stay in the document (and IndexedDB) and go out on reconnect.
  const stopFollowingNetwork = onNetworkChange((offline) => {
    if (offline) provider.disconnect()
    else provider.connect()
  })

  return {
    id,
    doc,
    provider,
    persistence,
    get ready () {
      return ready
    },
    close () {
      if (closed) return
      closed = true
      stopFollowingNetwork()
      provider.destroy() // also tells the peers we left
      provider.awareness.destroy()
      persistence?.destroy()
      doc.destroy()
    }
  }
}
