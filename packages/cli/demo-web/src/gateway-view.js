// The "Payment & email gateway" panel: the simulated gateway's mode (which the user can switch
// to make sending fail or crawl), the circuit breaker in front of it, and how many invoices
// wait in the outbox queue. Polled every two seconds.

import { getGateway, setGatewayMode } from './api.js'
import { refreshWhenVisible, setText } from './dom.js'

const POLL_MS = 2000
const BREAKER_TEXT = { closed: 'closed', open: 'open', half_open: 'half-open' }

export class GatewayPanel {
  /**
   * @param {HTMLElement} root the panel
   * @param {{onError: (message: string) => void}} hooks
   */
  constructor (root, { onError }) {
    this.root = root
    this.onError = onError
    this.mode = root.querySelector('[data-testid="gateway-mode"]')
    this.breaker = root.querySelector('[data-testid="gateway-breaker"]')
    this.queued = root.querySelector('[data-testid="gateway-queued"]')
    this.known = null // last state the server reported
    this.generation = 0 // bumped by every mode change, so older poll answers are ignored
    this.changing = false
    this.timer = 0
    this.lastError = null

    this.mode.addEventListener('change', () => this.changeMode(this.mode.value))
    refreshWhenVisible(() => this.refresh())
  }

  start () {
    this.refresh()
  }

  async refresh () {
    clearTimeout(this.timer)
    if (!document.hidden && !this.changing) {
      const generation = this.generation
      const result = await getGateway()
      if (generation === this.generation && !this.changing) this.accept(result)
    }
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.refresh(), POLL_MS)
  }

  async changeMode (mode) {
    this.generation++
    this.changing = true
    this.mode.disabled = true
    const result = await setGatewayMode(mode)
    this.changing = false
    this.mode.disabled = false
    if (!result.ok) {
      this.onError(`Gateway: ${result.error}`)
      if (this.known !== null) this.render(this.known) // put the select back
      return
    }
    // The PUT may answer with the new state; otherwise ask for it.
    if (typeof result.data.mode === 'string') this.accept(result)
    else this.refresh()
  }

  accept (result) {
    if (!result.ok) {
      if (result.error !== this.lastError) this.onError(`Gateway: ${result.error}`)
      this.lastError = result.error
      this.root.dataset.reachable = 'false'
      return
    }
    this.lastError = null
    this.root.dataset.reachable = 'true'
    this.known = result.data
    this.render(result.data)
  }

  render (state) {
    const mode = String(state.mode ?? '')
    if (mode !== '' && ![...this.mode.options].some((option) => option.value === mode)) {
      this.mode.append(new Option(mode, mode))
    }
    if (this.mode.value !== mode) this.mode.value = mode
    this.root.dataset.mode = mode

    const breaker = String(state.breaker ?? '')
    setText(this.breaker, BREAKER_TEXT[breaker] ?? (breaker || '—'))
    this.breaker.dataset.state = breaker

    const queued = Number.isInteger(state.queued) ? state.queued : 0
    setText(this.queued, String(queued))
    this.queued.dataset.empty = String(queued === 0)
  }
}
