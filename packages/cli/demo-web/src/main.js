// Entry point of the `djed demo` page: wires the list, the editor, presence, the sync indicator,
// the gateway panel and the toasts together, and opens invoices from the URL hash
// (#/invoice/1001).

import { createInvoice, getInvoice, sendInvoice } from './api.js'
import { InvoiceEditor } from './editor-view.js'
import { GatewayPanel } from './gateway-view.js'
import { invoiceFromJson } from './invoice-model.js'
import { InvoiceList } from './list-view.js'
import { Presence, localUser } from './presence.js'
import { openSession } from './session.js'
import { SyncIndicator } from './sync-state.js'
import { mountToasts, toast } from './toast.js'

const byTestId = (testId) => document.querySelector(`[data-testid="${testId}"]`)

const HASH_PATTERN = /^#\/invoice\/([A-Za-z0-9_-]{1,64})$/

/** The invoice id in the URL hash, or null. */
function invoiceIdFromHash () {
  const match = HASH_PATTERN.exec(location.hash)
  return match === null ? null : match[1]
}

function start () {
  mountToasts(document.querySelector('.toasts'))

  const user = localUser()
  const me = byTestId('user-name')
  me.textContent = user.name
  me.style.setProperty('--chip-color', user.color)

  const list = new InvoiceList(byTestId('invoice-list'), document.querySelector('.list-placeholder'), {
    onError: (message) => toast(message, 'error')
  })
  const sync = new SyncIndicator(document.querySelector('.sync-state'), byTestId('sync-state'), {
    // Our edits reached the server: the cached list is about to change, fetch it soon.
    onSettled: () => list.refreshSoon(400)
  })
  const editorRoot = document.querySelector('.editor-area')
  const presence = new Presence({ user, chips: byTestId('presence'), editor: editorRoot })
  const gateway = new GatewayPanel(document.querySelector('.gateway'), {
    onError: (message) => toast(message, 'error')
  })
  const editor = new InvoiceEditor(editorRoot, {
    onSend: (id) => send(id),
    onRowsChanged: () => presence.render(),
    onLiveChange: (id, model, totals) => list.showLive(id, model, totals)
  })

  /** The open invoice: {id, session, stop}, or null; session is null until it is opened. */
  let current = null

  function publishDebugHandles (session) {
    window.djedDemo = {
      doc: session?.doc ?? null,
      provider: session?.provider ?? null,
      persistence: session?.persistence ?? null
    }
  }

  function closeCurrent () {
    if (current === null) return
    for (const stop of current.stop) stop()
    current.session?.close()
    current = null
    publishDebugHandles(null)
    list.refreshSoon()
  }

  function openInvoice (id) {
    const opening = { id, session: null, stop: [sync.expectSession()] }
    current = opening
    editor.open(id)
    list.select(id)

    // Ask the server first: its copy paints at once, and an id it does not know gets no
    // websocket (connecting would create an empty document under that name).
    getInvoice(id).then((result) => {
      if (current !== opening) return
      if (!result.ok && result.status === 404) {
        toast(`Cannot open invoice ${id}: ${result.error}`, 'error')
        history.replaceState(null, '', location.pathname + location.search)
        showNothing()
        return
      }
      if (!result.ok) {
        // Unreachable or failing: the IndexedDB copy or the live document may still come.
        toast(`Invoice ${id}: ${result.error}`, 'error')
      }
      startSession(opening)
      if (result.ok && !opening.session.ready) editor.showSnapshot(invoiceFromJson(result.data))
    })
  }

  function startSession (opening) {
    const session = openSession(opening.id, {
      onReady: () => {
        if (current === opening) editor.goLive()
      }
    })
    opening.session = session
    opening.stop.push(sync.watch(session.provider), presence.watch(session.provider.awareness))
    editor.attach(session)
    publishDebugHandles(session)
  }

  function showNothing () {
    closeCurrent()
    editor.clear()
    list.select(null)
    document.title = 'Invoices · Djed demo'
  }

  function route () {
    const id = invoiceIdFromHash()
    if (id === current?.id) return
    if (id === null) {
      showNothing()
      return
    }
    closeCurrent()
    openInvoice(id)
    document.title = `Invoice ${id} · Djed demo`
  }

  async function send (id) {
    editor.setSending(true)
    const result = await sendInvoice(id)
    if (current?.id === id) editor.setSending(false)
    if (!result.ok) {
      toast(`Sending failed: ${result.error}`, 'error')
    } else {
      const { delivery, message } = result.data
      const fallback = delivery === 'sent' ? 'Invoice sent.' : 'The gateway is unavailable: the invoice is queued and will go out when it recovers.'
      toast(typeof message === 'string' && message !== '' ? message : fallback, delivery === 'sent' ? 'success' : 'info')
    }
    gateway.refresh()
    list.refreshSoon()
  }

  const newButton = byTestId('new-invoice')
  newButton.addEventListener('click', async () => {
    newButton.disabled = true
    const result = await createInvoice()
    newButton.disabled = false
    if (!result.ok) {
      toast(`Could not create an invoice: ${result.error}`, 'error')
      return
    }
    const id = String(result.data.id ?? '')
    if (!HASH_PATTERN.test(`#/invoice/${id}`)) {
      toast('The server answered without a usable invoice id.', 'error')
      return
    }
    list.refresh()
    location.hash = `#/invoice/${id}`
  })

  publishDebugHandles(null)
  window.addEventListener('hashchange', route)
  route()
  list.start()
  gateway.start()
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start)
else start()
