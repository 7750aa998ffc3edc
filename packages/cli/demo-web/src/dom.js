// Tiny DOM helpers shared by the views: building elements, and writing a new value into a form
// control without throwing away the caret of the person typing in it.

import { diffStrings, spliceToDelta, transformSelection } from './text-diff.js'

/**
 * Create an element.
 *
 *   el('button', { type: 'button', 'data-testid': 'add-line', onclick: addLine }, 'Add line')
 *
 * Attributes: `text` sets textContent, `on<event>` adds a listener, `true` sets an empty
 * attribute, `false`/null/undefined are skipped, anything else is set as a string attribute.
 *
 * @param {string} tag
 * @param {Record<string, any>} [attributes]
 * @param {Array<Node | string | null | undefined> | Node | string} [children]
 * @returns {HTMLElement}
 */
export function el (tag, attributes = {}, children = []) {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue
    if (name === 'text') node.textContent = String(value)
    else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value)
    else node.setAttribute(name, value === true ? '' : String(value))
  }
  for (const child of Array.isArray(children) ? children : [children]) {
    if (child !== null && child !== undefined) node.append(child)
  }
  return node
}

/** Set textContent only when it changed (keeps text selections and avoids needless layout). */
export function setText (node, text) {
  if (node.textContent !== text) node.textContent = text
}

// Controls in the middle of an IME composition: rewriting them would break the composition,
// so remote values wait until it ends.
const composing = new WeakSet()

/**
 * Keep track of IME composition on a control; `onEnd` runs when it finishes so the caller can
 * apply a remote value it held back.
 *
 * @param {HTMLInputElement | HTMLTextAreaElement} control
 * @param {() => void} onEnd
 */
export function trackComposition (control, onEnd) {
  control.addEventListener('compositionstart', () => composing.add(control))
  control.addEventListener('compositionend', () => {
    composing.delete(control)
    onEnd()
  })
}

export function isComposing (control) {
  return composing.has(control)
}

function selectionOf (control) {
  try {
    const { selectionStart, selectionEnd, selectionDirection } = control
    if (typeof selectionStart !== 'number' || typeof selectionEnd !== 'number') return null
    return { start: selectionStart, end: selectionEnd, direction: selectionDirection ?? 'none' }
  } catch {
    return null // input types without a text selection (date, select...)
  }
}

function applyDelta (text, delta) {
  let index = 0
  let result = ''
  for (const op of delta) {
    if (op.retain !== undefined) {
      result += text.slice(index, index + op.retain)
      index += op.retain
    } else if (op.delete !== undefined) {
      index += op.delete
    } else if (typeof op.insert === 'string') {
      result += op.insert
    }
  }
  return result + text.slice(index)
}

/**
 * Show `value` in a form control. If the control has focus, its selection is carried through
 * the change: text inserted or deleted before the caret shifts it, text after it leaves it be.
 *
 * `delta` (a Y.Text change) says exactly what changed; without it the change is worked out by
 * comparing the old and new value. Values held back during an IME composition are skipped and
 * the caller re-renders on `compositionend`.
 *
 * @param {HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement} control
 * @param {string} value
 * @param {Array<{retain?: number, delete?: number, insert?: unknown}>} [delta]
 */
export function setControlValue (control, value, delta) {
  if (control.value === value) return
  const focused = control.ownerDocument.activeElement === control
  if (focused && isComposing(control)) return
  const selection = focused ? selectionOf(control) : null
  if (selection === null) {
    control.value = value
    return
  }

  const before = control.value
  const change = delta !== undefined && applyDelta(before, delta) === value
    ? delta
    : spliceToDelta(diffStrings(before, value))
  const { scrollTop, scrollLeft } = control
  control.value = value
  const next = transformSelection(selection, change)
  control.setSelectionRange(next.start, next.end, selection.direction)
  control.scrollTop = scrollTop
  control.scrollLeft = scrollLeft
}

/**
 * Mark a control valid or invalid, with its message in the element `messageNode`.
 *
 * @param {HTMLElement} control
 * @param {HTMLElement} messageNode
 * @param {string | null} error
 */
export function setValidity (control, messageNode, error) {
  if (error === null) {
    control.removeAttribute('aria-invalid')
  } else {
    control.setAttribute('aria-invalid', 'true')
  }
  setText(messageNode, error ?? '')
  messageNode.hidden = error === null
}

/** Call `refresh` whenever the tab comes back into view (polls pause while it is hidden). */
export function refreshWhenVisible (refresh) {
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refresh()
  })
}
