// Toast messages in the corner: confirmations fade on their own, errors stay a little longer
// and can be closed. The container is an ARIA live region so screen readers announce them.

import { el } from './dom.js'

const LIFETIME_MS = { info: 4000, success: 4000, error: 8000 }
const MAX_VISIBLE = 4

let container = null

/** Attach the toasts to their container element (called once at start-up). */
export function mountToasts (element) {
  container = element
}

/**
 * Show a message.
 *
 * @param {string} message
 * @param {'info' | 'success' | 'error'} [kind]
 */
export function toast (message, kind = 'info') {
  if (container === null) {
    console.warn(message)
    return
  }
  // The same message twice in a row (a poll failing repeatedly) is shown once.
  const last = container.lastElementChild
  if (last !== null && last.dataset.message === message && last.dataset.kind === kind) return

  const close = el('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', text: '×' })
  const item = el('div', {
    class: `toast toast-${kind}`,
    role: kind === 'error' ? 'alert' : null, // the container is a polite live region already
    'data-testid': 'toast',
    'data-kind': kind,
    'data-message': message
  }, [el('span', { class: 'toast-text', text: message }), close])

  const dismiss = () => {
    item.classList.add('toast-leaving')
    setTimeout(() => item.remove(), 200)
  }
  close.addEventListener('click', dismiss)
  setTimeout(dismiss, LIFETIME_MS[kind] ?? LIFETIME_MS.info)

  container.append(item)
  while (container.children.length > MAX_VISIBLE) container.firstElementChild.remove()
}
