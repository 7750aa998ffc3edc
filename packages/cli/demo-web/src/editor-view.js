// The invoice editor: header, fields, lines table, totals, notes and delivery.
//
// The markup lives in index.html; this module binds it. Rendering always starts from a plain
// snapshot (readInvoice / invoiceFromJson), so the REST copy shown while connecting and the live
// document go through the same code. Typing writes to the Y.Doc on every `input` event; changes
// from elsewhere are written into the controls without moving the caret of the person typing.

import {
  LOCAL_ORIGIN, STATUSES, addLine, editNotes, invoiceFromJson, notesText, readInvoice, removeLine,
  setInvoiceField, setLineField
} from './invoice-model.js'
import { computeTotals, formatMoney } from './money.js'
import { setControlValue, setText, setValidity, trackComposition } from './dom.js'

const INVOICE_FIELDS = ['customer', 'issued', 'due', 'status', 'tax_rate']

const DELIVERY_TEXT = { queued: 'queued', sent: 'sent' }

export class InvoiceEditor {
  /**
   * @param {HTMLElement} root the element wrapping the editor markup
   * @param {{
   *   onSend: (id: string) => void,
   *   onRowsChanged: () => void,
   *   onLiveChange: (id: string, model: object, totals: object) => void
   * }} hooks
   */
  constructor (root, { onSend, onRowsChanged, onLiveChange }) {
    this.root = root
    this.onRowsChanged = onRowsChanged
    this.onLiveChange = onLiveChange
    const find = (testId) => root.querySelector(`[data-testid="${testId}"]`)

    this.form = root.querySelector('form')
    this.fieldset = root.querySelector('fieldset')
    this.emptyState = root.querySelector('.empty-state')
    this.loadingNote = root.querySelector('.loading-note')
    this.number = find('invoice-number')
    this.statusBadge = root.querySelector('.status-badge')
    this.currency = find('currency')
    this.delivery = find('delivery')
    this.deliveredAt = root.querySelector('.delivered-at')
    this.sendButton = find('send-invoice')
    this.addButton = find('add-line')
    this.linesBody = root.querySelector('.lines tbody')
    this.linesEmpty = root.querySelector('.lines-empty')
    this.lineTemplate = root.querySelector('template.line-template')
    this.taxRateLabel = root.querySelector('.tax-rate-label')
    this.totals = { subtotal: find('subtotal'), tax: find('tax'), total: find('total') }
    this.notes = find('notes')
    this.controls = {
      customer: find('customer'),
      issued: find('issued'),
      due: find('due'),
      status: find('status'),
      tax_rate: find('tax-rate')
    }
    this.taxRateError = root.querySelector('.tax-rate-error')

    /** @type {Map<string, {row: HTMLElement, inputs: Record<string, HTMLInputElement>, amount: HTMLElement, errors: Record<string, HTMLElement>}>} */
    this.rows = new Map()
    this.invoiceId = null
    this.session = null
    this.live = false
    this.stopObserving = () => {}

    this.form.addEventListener('submit', (event) => event.preventDefault())
    this.form.addEventListener('input', (event) => this.handleInput(event.target))
    // Single-line fields hold remote values back during an IME composition (the whole value is
    // replaced anyway). The notes do not: their remote edits must land before the next local
    // splice is computed, or that splice would undo them.
    for (const control of Object.values(this.controls)) {
      if (control instanceof HTMLInputElement) trackComposition(control, () => this.renderLive())
    }
    this.addButton.addEventListener('click', () => this.addLine())
    this.sendButton.addEventListener('click', () => {
      if (this.invoiceId !== null) onSend(this.invoiceId)
    })
  }

  /** Nothing open: show the empty state. */
  clear () {
    this.detach()
    this.root.dataset.mode = 'empty'
    this.emptyState.hidden = false
    this.form.hidden = true
  }

  /** Start showing invoice `id`: read-only and blank until a snapshot or the live document. */
  open (id) {
    this.detach()
    this.invoiceId = id
    this.root.dataset.mode = 'loading'
    this.emptyState.hidden = true
    this.form.hidden = false
    this.fieldset.disabled = true
    this.loadingNote.hidden = false
    this.render(invoiceFromJson({ number: `Invoice ${id}` }))
  }

  /** The live session of the open invoice; goLive() switches to it once it is ready. */
  attach (session) {
    if (session.id === this.invoiceId) this.session = session
  }

  /** Paint the REST copy while the live document is on its way. */
  showSnapshot (model) {
    if (this.invoiceId === null || this.live) return
    this.render(model)
  }

  /** The document is synced (or loaded from IndexedDB): switch to live editing. */
  goLive () {
    const session = this.session
    if (session === null || this.live) return
    this.live = true
    this.root.dataset.mode = 'live'
    this.fieldset.disabled = false
    this.loadingNote.hidden = true

    const doc = session.doc
    const notes = notesText(doc)
    // Remote edits of the notes carry an exact delta; use it to move the caret precisely.
    const onNotes = (event) => {
      if (event.transaction.origin !== LOCAL_ORIGIN) setControlValue(this.notes, notes.toString(), event.delta)
    }
    // Everything else is cheap to re-render once per transaction, after all observers ran.
    const onTransaction = () => this.renderLive()
    notes.observe(onNotes)
    doc.on('afterTransaction', onTransaction)
    this.stopObserving = () => {
      notes.unobserve(onNotes)
      doc.off('afterTransaction', onTransaction)
    }
    this.renderLive()
  }

  detach () {
    this.stopObserving()
    this.stopObserving = () => {}
    this.invoiceId = null
    this.session = null
    this.live = false
    this.setSending(false)
  }

  setSending (sending) {
    this.sendButton.disabled = sending
    this.sendButton.setAttribute('aria-busy', String(sending))
    this.sendButton.textContent = sending ? 'Sending…' : 'Send invoice'
  }

  // --- writing -----------------------------------------------------------------------------

  handleInput (target) {
    if (!this.live || this.session === null) return
    const doc = this.session.doc
    if (target === this.notes) {
      editNotes(doc, target.value, target.selectionEnd ?? undefined)
      return
    }
    const key = Object.keys(this.controls).find((name) => this.controls[name] === target)
    if (key !== undefined) {
      setInvoiceField(doc, key, target.value)
      return
    }
    const row = target.closest('tr[data-line-id]')
    if (row !== null && target.dataset.key) {
      // The line may have been removed by someone else a moment ago; then just redraw.
      if (!setLineField(doc, row.dataset.lineId, target.dataset.key, target.value)) this.renderLive()
    }
  }

  addLine () {
    if (!this.live || this.session === null) return
    const id = addLine(this.session.doc)
    this.rows.get(id)?.inputs.description.focus()
  }

  removeLine (lineId) {
    if (!this.live || this.session === null) return
    // Keep keyboard users in the table: focus the next line, or the add button.
    const ids = [...this.rows.keys()]
    const nextId = ids[ids.indexOf(lineId) + 1] ?? ids[ids.indexOf(lineId) - 1]
    removeLine(this.session.doc, lineId)
    const next = this.rows.get(nextId)
    if (next !== undefined) next.inputs.description.focus()
    else this.addButton.focus()
  }

  // --- rendering ---------------------------------------------------------------------------

  renderLive () {
    if (!this.live || this.session === null) return
    const model = readInvoice(this.session.doc)
    const totals = this.render(model)
    this.onLiveChange(this.session.id, model, totals)
  }

  /**
   * Bring the whole editor in line with `model`. Returns the computed totals.
   *
   * @param {ReturnType<typeof readInvoice>} model
   */
  render (model) {
    const totals = computeTotals(model)
    const currency = model.currency

    setText(this.number, model.number || 'Invoice')
    this.statusBadge.dataset.status = model.status
    setText(this.statusBadge, model.status || '—')
    setText(this.currency, currency || '—')

    const delivery = model.delivery === null || model.delivery === '' ? 'not sent' : (DELIVERY_TEXT[model.delivery] ?? model.delivery)
    setText(this.delivery, delivery)
    this.delivery.dataset.state = delivery.replace(' ', '-')
    setText(this.deliveredAt, model.delivery === 'sent' && model.delivered_at ? `on ${formatTimestamp(model.delivered_at)}` : '')

    ensureOption(this.controls.status, model.status)
    for (const key of INVOICE_FIELDS) setControlValue(this.controls[key], model[key])
    setValidity(this.controls.tax_rate, this.taxRateError, totals.taxRateError)
    setText(this.taxRateLabel, totals.taxRateError === null && model.tax_rate.trim() !== '' ? `${model.tax_rate.trim()}%` : '—')
    setControlValue(this.notes, model.notes)

    this.renderLines(model.lines, totals.lines, currency)

    setText(this.totals.subtotal, formatMoney(totals.subtotal, currency))
    setText(this.totals.tax, formatMoney(totals.tax, currency))
    setText(this.totals.total, formatMoney(totals.total, currency))
    return totals
  }

  renderLines (lines, lineTotals, currency) {
    let changed = false
    const wanted = new Map()
    lines.forEach((line, index) => {
      if (!wanted.has(line.id)) wanted.set(line.id, { line, total: lineTotals[index] })
    })

    for (const [id, entry] of this.rows) {
      if (!wanted.has(id)) {
        entry.row.remove()
        this.rows.delete(id)
        changed = true
      }
    }

    // Walk the wanted order, creating rows that are new and moving only rows out of place
    // (moving a row would blur an input inside it).
    let cursor = this.linesBody.firstElementChild
    for (const [id, { line, total }] of wanted) {
      let entry = this.rows.get(id)
      if (entry === undefined) {
        entry = this.createRow(id)
        this.rows.set(id, entry)
        changed = true
      }
      if (entry.row === cursor) {
        cursor = cursor.nextElementSibling
      } else {
        this.linesBody.insertBefore(entry.row, cursor)
        changed = true
      }
      setControlValue(entry.inputs.description, line.description)
      setControlValue(entry.inputs.quantity, line.quantity)
      setControlValue(entry.inputs.unit_price, line.unit_price)
      setValidity(entry.inputs.quantity, entry.errors.quantity, total.quantityError)
      setValidity(entry.inputs.unit_price, entry.errors.unit_price, total.unitPriceError)
      setText(entry.amount, formatMoney(total.amount, currency))
    }

    this.linesEmpty.hidden = wanted.size > 0
    if (changed) this.onRowsChanged()
  }

  createRow (id) {
    const row = /** @type {HTMLElement} */ (this.lineTemplate.content.firstElementChild.cloneNode(true))
    row.dataset.lineId = id
    const inputs = {}
    const errors = {}
    for (const input of row.querySelectorAll('input[data-key]')) {
      const key = input.dataset.key
      input.dataset.field = `line:${id}:${key}`
      inputs[key] = input
      trackComposition(input, () => this.renderLive())
      const error = input.closest('td').querySelector('.field-error')
      if (error !== null) {
        error.id = `line-${id}-${key}-error`
        input.setAttribute('aria-describedby', error.id)
        errors[key] = error
      }
    }
    row.querySelector('[data-testid="line-remove"]').addEventListener('click', () => this.removeLine(id))
    return { row, inputs, errors, amount: row.querySelector('[data-testid="line-amount"]') }
  }
}

/** Make sure a select can show `value`, even one this page does not know. */
function ensureOption (select, value) {
  if (value === '' || [...select.options].some((option) => option.value === value)) return
  select.append(new Option(STATUSES.includes(value) ? value : `${value} (unknown)`, value))
}

function formatTimestamp (iso) {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}
