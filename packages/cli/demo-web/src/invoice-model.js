// The shape of one invoice document and the only code that writes to it.
//
// One Y.Doc per invoice:
//   doc.getMap('invoice')  number, customer, issued, due, status, currency, tax_rate,
//                          delivery, delivered_at (all strings)
//   doc.getArray('lines')  one Y.Map per line: id, description, quantity, unit_price
//   doc.getText('notes')   free text
//
// Numbers are always stored as strings: a JS number would become a float on the Yrs side.
// Every write is as small as possible (one map key, one array item, one text splice) so that
// concurrent edits by different people touch different parts of the document and merge.

import * as Y from 'yjs'
import { diffStrings } from './text-diff.js'

/** Transaction origin of edits made in this tab; observers use it to tell them from remote ones. */
export const LOCAL_ORIGIN = Object.freeze({ source: 'djed-demo-editor' })

/** Invoice-level keys the editor may change. The rest (number, currency, delivery...) belong to the server. */
export const EDITABLE_FIELDS = Object.freeze(['customer', 'issued', 'due', 'status', 'tax_rate'])

/** Line keys the editor may change. */
export const LINE_FIELDS = Object.freeze(['description', 'quantity', 'unit_price'])

export const STATUSES = Object.freeze(['draft', 'sent', 'paid', 'void'])

/** @param {Y.Doc} doc */
export function invoiceMap (doc) {
  return doc.getMap('invoice')
}

/** @param {Y.Doc} doc */
export function linesArray (doc) {
  return doc.getArray('lines')
}

/** @param {Y.Doc} doc */
export function notesText (doc) {
  return doc.getText('notes')
}

/** True once the document holds an invoice (from the server or from local storage). */
export function hasContent (doc) {
  return invoiceMap(doc).size > 0 || linesArray(doc).length > 0
}

// Values are expected to be strings; anything else written by another client is shown as text
// rather than breaking the page.
function asText (value) {
  if (value === undefined || value === null) return ''
  return typeof value === 'string' ? value : String(value)
}

/**
 * A plain snapshot of the document, in the same shape as GET /api/invoices/{id}, so the views
 * render the REST snapshot and the live document with the same code.
 *
 * @param {Y.Doc} doc
 */
export function readInvoice (doc) {
  const invoice = invoiceMap(doc)
  const lines = []
  for (const item of linesArray(doc)) {
    if (!(item instanceof Y.Map)) continue // tolerate foreign data instead of crashing the view
    lines.push({
      id: asText(item.get('id')),
      description: asText(item.get('description')),
      quantity: asText(item.get('quantity')),
      unit_price: asText(item.get('unit_price'))
    })
  }
  const delivery = invoice.get('delivery')
  return {
    number: asText(invoice.get('number')),
    customer: asText(invoice.get('customer')),
    issued: asText(invoice.get('issued')),
    due: asText(invoice.get('due')),
    status: asText(invoice.get('status')),
    currency: asText(invoice.get('currency')),
    tax_rate: asText(invoice.get('tax_rate')),
    delivery: delivery === undefined || delivery === null ? null : asText(delivery),
    delivered_at: asText(invoice.get('delivered_at')),
    notes: notesText(doc).toString(),
    lines
  }
}

/**
 * Normalise the JSON of GET /api/invoices/{id} into the snapshot shape (strings everywhere).
 *
 * @param {any} json
 */
export function invoiceFromJson (json) {
  const data = json !== null && typeof json === 'object' ? json : {}
  const lines = Array.isArray(data.lines) ? data.lines : []
  return {
    number: asText(data.number),
    customer: asText(data.customer),
    issued: asText(data.issued),
    due: asText(data.due),
    status: asText(data.status),
    currency: asText(data.currency),
    tax_rate: asText(data.tax_rate),
    delivery: data.delivery === undefined || data.delivery === null ? null : asText(data.delivery),
    delivered_at: asText(data.delivered_at),
    notes: asText(data.notes),
    lines: lines.map((line) => ({
      id: asText(line?.id),
      description: asText(line?.description),
      quantity: asText(line?.quantity),
      unit_price: asText(line?.unit_price)
    }))
  }
}

/**
 * Set one invoice-level field, doing nothing when the value is already there (so focusing and
 * re-typing the same text creates no update).
 *
 * @param {Y.Doc} doc
 * @param {string} key one of EDITABLE_FIELDS
 * @param {string} value
 */
export function setInvoiceField (doc, key, value) {
  if (!EDITABLE_FIELDS.includes(key)) throw new Error(`not an editable invoice field: ${key}`)
  const invoice = invoiceMap(doc)
  if (invoice.get(key) === value) return
  doc.transact(() => invoice.set(key, value), LOCAL_ORIGIN)
}

/**
 * The Y.Map of the line with this id, or null.
 *
 * @param {Y.Doc} doc
 * @param {string} lineId
 * @returns {Y.Map<any> | null}
 */
export function findLine (doc, lineId) {
  for (const item of linesArray(doc)) {
    if (item instanceof Y.Map && item.get('id') === lineId) return item
  }
  return null
}

/**
 * Append an empty line and return its id.
 *
 * @param {Y.Doc} doc
 * @returns {string}
 */
export function addLine (doc) {
  const id = newLineId()
  const line = new Y.Map([
    ['id', id],
    ['description', ''],
    ['quantity', ''],
    ['unit_price', '']
  ])
  doc.transact(() => linesArray(doc).push([line]), LOCAL_ORIGIN)
  return id
}

/**
 * Remove the line with this id. Returns false when someone else removed it already.
 *
 * @param {Y.Doc} doc
 * @param {string} lineId
 * @returns {boolean}
 */
export function removeLine (doc, lineId) {
  const lines = linesArray(doc)
  const index = lines.toArray().findIndex((item) => item instanceof Y.Map && item.get('id') === lineId)
  if (index === -1) return false
  doc.transact(() => lines.delete(index, 1), LOCAL_ORIGIN)
  return true
}

/**
 * Set one field of one line. Returns false when the line no longer exists.
 *
 * @param {Y.Doc} doc
 * @param {string} lineId
 * @param {string} key one of LINE_FIELDS
 * @param {string} value
 * @returns {boolean}
 */
export function setLineField (doc, lineId, key, value) {
  if (!LINE_FIELDS.includes(key)) throw new Error(`not an editable line field: ${key}`)
  const line = findLine(doc, lineId)
  if (line === null) return false
  if (line.get(key) !== value) doc.transact(() => line.set(key, value), LOCAL_ORIGIN)
  return true
}

/**
 * Bring the notes text to `value` with one minimal splice, so that two people typing in
 * different places of the notes both keep their text.
 *
 * @param {Y.Doc} doc
 * @param {string} value the textarea's new value
 * @param {number} [caret] the caret position after the edit, to place ambiguous edits right
 */
export function editNotes (doc, value, caret) {
  const notes = notesText(doc)
  const splice = diffStrings(notes.toString(), value, caret)
  if (splice === null) return
  doc.transact(() => {
    if (splice.deleteCount > 0) notes.delete(splice.index, splice.deleteCount)
    if (splice.insert !== '') notes.insert(splice.index, splice.insert)
  }, LOCAL_ORIGIN)
}

/**
 * A random UUID. crypto.randomUUID only exists on secure origins (https, localhost), and the
 * demo may be opened over plain http on a LAN address, so fall back to getRandomValues.
 *
 * @returns {string}
 */
export function newLineId () {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  bytes[6] = (bytes[6] & 0x0f) | 0x40 // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80 // RFC 4122 variant
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
