// The invoice list on the left. It polls GET /api/invoices every few seconds (the server caches
// it) and shows the open invoice with its live values, so the row follows the editor at once
// instead of waiting for the next poll.

import { listInvoices } from './api.js'
import { el, refreshWhenVisible, setText } from './dom.js'
import { formatDecimalString, formatMoney } from './money.js'

const POLL_MS = 3000

export class InvoiceList {
  /**
   * @param {HTMLElement} list the data-testid="invoice-list" element (a <ul>)
   * @param {HTMLElement} placeholder shown while the list is empty or loading
   * @param {{onError: (message: string) => void}} hooks
   */
  constructor (list, placeholder, { onError }) {
    this.list = list
    this.placeholder = placeholder
    this.onError = onError
    this.invoices = []
    this.loaded = false
    this.selectedId = null
    this.live = null // {id, number, customer, status, delivery, total} of the open invoice
    this.rows = new Map()
    this.timer = 0
    this.inFlight = false
    this.again = false
    this.lastError = null

    refreshWhenVisible(() => this.refresh())
  }

  /** Load now and keep polling. */
  start () {
    this.refresh()
  }

  /** Fetch the list now (and restart the poll timer from here). */
  async refresh () {
    clearTimeout(this.timer)
    if (this.inFlight) {
      this.again = true // asked for fresher data than the request under way: fetch once more
      return
    }
    this.inFlight = true
    const result = document.hidden ? null : await listInvoices()
    this.inFlight = false
    if (result !== null) this.accept(result)
    if (this.again) {
      this.again = false
      this.refresh()
      return
    }
    this.timer = setTimeout(() => this.refresh(), POLL_MS)
  }

  /** Refresh shortly (used after our own edits reached the server). */
  refreshSoon (delayMs = 250) {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.refresh(), delayMs)
  }

  accept (result) {
    if (!result.ok) {
      // A failing poll would repeat every few seconds: report each distinct problem once.
      if (result.error !== this.lastError) this.onError(`Invoice list: ${result.error}`)
      this.lastError = result.error
      return
    }
    this.lastError = null
    this.loaded = true
    // The live values of an invoice that was closed stay up until fresh server data arrives.
    if (this.live !== null && this.live.id !== this.selectedId) this.live = null
    const invoices = Array.isArray(result.data.invoices) ? result.data.invoices : []
    this.invoices = invoices.filter((invoice) => invoice !== null && typeof invoice === 'object' && invoice.id != null)
    this.render()
  }

  /** Highlight the open invoice (null for none). */
  select (id) {
    this.selectedId = id
    this.render()
  }

  /**
   * Show live values for the open invoice.
   *
   * @param {string} id
   * @param {{number: string, customer: string, status: string, delivery: string | null, currency: string}} model
   * @param {{total: bigint}} totals
   */
  showLive (id, model, totals) {
    this.live = {
      id,
      number: model.number,
      customer: model.customer,
      status: model.status,
      delivery: model.delivery,
      total: formatMoney(totals.total, model.currency)
    }
    const entry = this.rows.get(id)
    if (entry !== undefined) this.fillRow(entry, this.rowData({ id }))
  }

  rowData (invoice) {
    const id = String(invoice.id)
    const server = {
      id,
      number: String(invoice.number ?? `#${id}`),
      customer: String(invoice.customer ?? ''),
      status: String(invoice.status ?? ''),
      delivery: invoice.delivery ?? null,
      total: formatDecimalString(invoice.total ?? '0', String(invoice.currency ?? ''))
    }
    return this.live !== null && this.live.id === id ? { ...server, ...this.live } : server
  }

  render () {
    const seen = new Set()
    let cursor = this.list.firstElementChild
    for (const invoice of this.invoices) {
      const data = this.rowData(invoice)
      if (seen.has(data.id)) continue
      seen.add(data.id)
      let entry = this.rows.get(data.id)
      if (entry === undefined) {
        entry = this.createRow(data.id)
        this.rows.set(data.id, entry)
      }
      if (entry.item === cursor) cursor = cursor.nextElementSibling
      else this.list.insertBefore(entry.item, cursor)
      this.fillRow(entry, data)
    }
    for (const [id, entry] of this.rows) {
      if (!seen.has(id)) {
        entry.item.remove()
        this.rows.delete(id)
      }
    }
    this.placeholder.hidden = this.rows.size > 0
    setText(this.placeholder, this.loaded ? 'No invoices yet.' : 'Loading invoices…')
  }

  createRow (id) {
    const parts = {
      number: el('span', { class: 'row-number' }),
      total: el('span', { class: 'row-total' }),
      customer: el('span', { class: 'row-customer' }),
      status: el('span', { class: 'badge status-badge' }),
      delivery: el('span', { class: 'row-delivery' })
    }
    const link = el('a', {
      class: 'invoice-row',
      href: `#/invoice/${encodeURIComponent(id)}`,
      'data-testid': 'invoice-row',
      'data-id': id
    }, [
      el('span', { class: 'row-line' }, [parts.number, parts.total]),
      el('span', { class: 'row-line' }, [parts.customer, el('span', { class: 'row-tags' }, [parts.status, parts.delivery])])
    ])
    return { item: el('li', {}, link), link, ...parts }
  }

  fillRow (entry, data) {
    setText(entry.number, data.number)
    setText(entry.total, data.total)
    setText(entry.customer, data.customer || 'No customer yet')
    entry.customer.classList.toggle('muted', !data.customer)
    setText(entry.status, data.status || '—')
    entry.status.dataset.status = data.status
    const delivery = data.delivery === null || data.delivery === '' ? 'not sent' : String(data.delivery)
    setText(entry.delivery, delivery)
    entry.delivery.dataset.state = delivery.replace(' ', '-')
    if (data.id === this.selectedId) entry.link.setAttribute('aria-current', 'page')
    else entry.link.removeAttribute('aria-current')
  }
}
