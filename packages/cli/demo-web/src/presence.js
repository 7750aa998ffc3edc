// Who else is editing this invoice, and where.
//
// Each tab publishes an awareness state {user: {name, color}, field}, where `field` names the
// focused control the same way the document does: "customer", "tax_rate", "notes",
// "line:<id>:quantity"... Other tabs show a chip per peer in the header and outline the field a
// peer is in with the peer's colour and a small name tag.

import { el } from './dom.js'

/** Fixed palette, dark enough for white text on top. */
export const PALETTE = Object.freeze([
  '#1d4ed8', '#be185d', '#047857', '#b45309', '#6d28d9', '#b91c1c', '#0e7490', '#4d7c0f'
])

const ADJECTIVES = ['Amber', 'Brisk', 'Calm', 'Clever', 'Gentle', 'Jolly', 'Lucky', 'Merry',
  'Nimble', 'Quiet', 'Sunny', 'Swift', 'Witty', 'Bright', 'Keen', 'Tidy']
const ANIMALS = ['Otter', 'Heron', 'Fox', 'Lynx', 'Panda', 'Robin', 'Badger', 'Falcon', 'Koala',
  'Marten', 'Puffin', 'Seal', 'Wren', 'Ibis', 'Hare', 'Owl']

const NAME_KEY = 'djed-demo-user-name'
const MAX_NAME_LENGTH = 40

function pick (list) {
  return list[crypto.getRandomValues(new Uint32Array(1))[0] % list.length]
}

/** The same name always gets the same colour, in every tab. */
export function colorFor (name) {
  let hash = 0
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0
  return PALETTE[hash % PALETTE.length]
}

function cleanName (value) {
  return typeof value === 'string' ? value.trim().slice(0, MAX_NAME_LENGTH) : ''
}

/**
 * This tab's user: `?name=` from the URL, else a friendly random name remembered in
 * localStorage (when storage is available).
 *
 * @returns {{name: string, color: string}}
 */
export function localUser () {
  let name = cleanName(new URLSearchParams(location.search).get('name'))
  if (name === '') {
    try {
      name = cleanName(localStorage.getItem(NAME_KEY))
      if (name === '') {
        name = `${pick(ADJECTIVES)} ${pick(ANIMALS)}`
        localStorage.setItem(NAME_KEY, name)
      }
    } catch {
      name = name || `${pick(ADJECTIVES)} ${pick(ANIMALS)}`
    }
  }
  return { name, color: colorFor(name) }
}

/** A peer's awareness state, checked: names are text, colours are plain hex codes. */
function peerFrom (clientId, state) {
  const user = state?.user
  const name = cleanName(user?.name)
  if (name === '') return null
  const color = typeof user.color === 'string' && /^#[0-9a-f]{6}$/i.test(user.color) ? user.color : colorFor(name)
  const field = typeof state.field === 'string' && state.field !== '' ? state.field : null
  return { clientId, name, color, field }
}

export class Presence {
  /**
   * @param {{user: {name: string, color: string}, chips: HTMLElement, editor: HTMLElement}} options
   *   chips: the data-testid="presence" container; editor: the element holding the fields
   */
  constructor ({ user, chips, editor }) {
    this.user = user
    this.chips = chips
    this.editor = editor
    this.awareness = null
    this.onChange = () => this.render()

    // Publish which field has focus. Leaving a field clears it on the next tick unless focus
    // moved to another field, so tabbing from one field to the next sends a single update.
    editor.addEventListener('focusin', (event) => this.publishField(fieldOf(event.target)))
    editor.addEventListener('focusout', () => {
      setTimeout(() => {
        if (fieldOf(document.activeElement) === null) this.publishField(null)
      }, 0)
    })
    // Say goodbye right away when the tab goes, instead of waiting for the server to time us out.
    window.addEventListener('pagehide', () => this.awareness?.setLocalState(null))
    window.addEventListener('pageshow', (event) => {
      if (event.persisted && this.awareness !== null) this.publishSelf() // back from the page cache
    })
  }

  /**
   * Use this awareness instance (one per open invoice); returns a function that stops.
   *
   * @param {import('y-protocols/awareness').Awareness} awareness
   */
  watch (awareness) {
    this.awareness = awareness
    this.publishSelf()
    awareness.on('change', this.onChange)
    this.render()
    return () => {
      awareness.off('change', this.onChange)
      if (this.awareness === awareness) this.awareness = null
      this.render()
    }
  }

  publishSelf () {
    this.awareness?.setLocalState({ user: { ...this.user }, field: fieldOf(document.activeElement) })
  }

  publishField (field) {
    const awareness = this.awareness
    if (awareness === null) return
    if ((awareness.getLocalState()?.field ?? null) === field) return
    awareness.setLocalStateField('field', field)
  }

  /** Everyone on this invoice except this tab, sorted by name. */
  peers () {
    const awareness = this.awareness
    if (awareness === null) return []
    const peers = []
    for (const [clientId, state] of awareness.getStates()) {
      if (clientId === awareness.clientID) continue
      const peer = peerFrom(clientId, state)
      if (peer !== null) peers.push(peer)
    }
    return peers.sort((a, b) => a.name.localeCompare(b.name) || a.clientId - b.clientId)
  }

  /** Redraw the chips and the field outlines (also called after the editor redrew its rows). */
  render () {
    const peers = this.peers()
    this.renderChips(peers)
    this.renderFieldMarks(peers)
  }

  renderChips (peers) {
    this.chips.replaceChildren(...peers.map((peer) => el('span', {
      class: 'chip',
      'data-testid': 'peer',
      'data-client-id': peer.clientId,
      style: `--chip-color: ${peer.color}`,
      title: peer.field === null ? `${peer.name} is viewing` : `${peer.name} is editing ${describeField(peer.field)}`
    }, peer.name)))
    this.chips.hidden = peers.length === 0
  }

  renderFieldMarks (peers) {
    for (const tag of this.editor.querySelectorAll('.peer-tag')) tag.remove()
    for (const control of this.editor.querySelectorAll('.peer-focus')) {
      control.classList.remove('peer-focus')
      control.style.removeProperty('--peer-color')
    }

    const byField = new Map()
    for (const peer of peers) {
      if (peer.field === null) continue
      if (!byField.has(peer.field)) byField.set(peer.field, [])
      byField.get(peer.field).push(peer)
    }
    for (const [field, fieldPeers] of byField) {
      const control = this.editor.querySelector(`[data-field="${CSS.escape(field)}"]`)
      if (control === null || control.parentElement === null) continue
      control.classList.add('peer-focus')
      control.style.setProperty('--peer-color', fieldPeers[0].color)
      control.parentElement.append(el('span', {
        class: 'peer-tag',
        'data-testid': 'peer-tag',
        'aria-hidden': 'true',
        style: `--peer-color: ${fieldPeers[0].color}`
      }, fieldPeers.map((peer) => peer.name).join(', ')))
    }
  }
}

/** The document field a control edits, or null. */
function fieldOf (node) {
  return node instanceof HTMLElement && node.dataset.field ? node.dataset.field : null
}

function describeField (field) {
  const parts = field.split(':')
  if (parts[0] === 'line' && parts.length === 3) return `a line's ${parts[2].replace('_', ' ')}`
  return field.replace('_', ' ')
}
