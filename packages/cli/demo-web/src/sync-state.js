// The sync indicator in the header: exactly one of "synced", "syncing" or "offline".
//
//   offline  the browser reported going offline (see network.js), or the websocket is down (it
//            dropped, or the last attempt to connect failed and the provider is retrying);
//   syncing  connecting for the first time, connected but the initial sync has not finished,
//            or a local change happened less than SETTLE_MS ago (y-websocket has no
//            acknowledgement, so a short quiet period stands in for one); also while an
//            invoice is being opened and its document is not connected yet;
//   synced   otherwise, including when no invoice is open.

import { setText } from './dom.js'
import { browserOffline, onNetworkChange } from './network.js'

export const SETTLE_MS = 300

const DESCRIPTIONS = {
  synced: 'All changes are on the server.',
  syncing: 'Sending and receiving changes…',
  offline: 'Offline: changes are kept in this browser and sent when the connection is back.'
}

export class SyncIndicator {
  /**
   * @param {HTMLElement} root wrapper holding the dot; its data-state drives the colour
   * @param {HTMLElement} label the element whose text is the state word
   * @param {{onSettled?: () => void}} [options] onSettled runs when local edits reached "synced"
   */
  constructor (root, label, { onSettled } = {}) {
    this.root = root
    this.label = label
    this.onSettled = onSettled ?? (() => {})
    this.provider = null
    this.waiting = false
    this.connectionLost = false
    this.lastLocalUpdate = -Infinity
    this.unsettledEdits = false
    this.settleTimer = 0
    this.state = null

    onNetworkChange(() => this.refresh())
    this.refresh()
  }

  /**
   * An invoice is being opened but has no provider yet: show "syncing", not "synced". Returns
   * a function that ends the wait (watch() ends it too).
   */
  expectSession () {
    this.waiting = true
    this.refresh()
    return () => {
      this.waiting = false
      this.refresh()
    }
  }

  /**
   * Follow a provider and its document; returns a function that stops following them.
   *
   * @param {import('y-websocket').WebsocketProvider} provider
   */
  watch (provider) {
    this.provider = provider
    this.waiting = false
    this.connectionLost = false
    this.lastLocalUpdate = -Infinity

    const onStatus = ({ status }) => {
      if (status === 'connected') this.connectionLost = false
      if (status === 'disconnected') this.connectionLost = true
      this.refresh()
    }
    // Also fires when an attempt to connect fails without ever opening.
    const onClose = () => {
      this.connectionLost = true
      this.refresh()
    }
    const onSync = () => this.refresh()
    const onUpdate = (_update, origin) => {
      if (origin === provider) return // came from the server
      this.lastLocalUpdate = performance.now()
      this.unsettledEdits = true
      clearTimeout(this.settleTimer)
      this.settleTimer = setTimeout(() => this.refresh(), SETTLE_MS + 10)
      this.refresh()
    }

    provider.on('status', onStatus)
    provider.on('connection-close', onClose)
    provider.on('sync', onSync)
    provider.doc.on('update', onUpdate)
    this.refresh()

    return () => {
      provider.off('status', onStatus)
      provider.off('connection-close', onClose)
      provider.off('sync', onSync)
      provider.doc.off('update', onUpdate)
      clearTimeout(this.settleTimer)
      if (this.provider === provider) this.provider = null
      this.unsettledEdits = false
      this.refresh()
    }
  }

  /** Work out the current state. */
  compute () {
    if (browserOffline()) return 'offline'
    const provider = this.provider
    if (provider === null) return this.waiting ? 'syncing' : 'synced'
    if (!provider.wsconnected) return this.connectionLost ? 'offline' : 'syncing'
    if (!provider.synced) return 'syncing'
    if (performance.now() - this.lastLocalUpdate < SETTLE_MS) return 'syncing'
    return 'synced'
  }

  refresh () {
    const state = this.compute()
    if (state === this.state) return
    this.state = state
    this.root.dataset.state = state
    this.root.title = DESCRIPTIONS[state]
    setText(this.label, state)
    if (state === 'synced' && this.unsettledEdits) {
      this.unsettledEdits = false
      this.onSettled()
    }
  }
}
