// The document model with real Yjs documents: minimal writes, and concurrent edits that merge.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import {
  LOCAL_ORIGIN, addLine, editNotes, findLine, hasContent, invoiceFromJson, invoiceMap, linesArray,
  newLineId, notesText, readInvoice, removeLine, setInvoiceField, setLineField
} from '../src/invoice-model.js'

/** A document as the server creates it. */
function seeded () {
  const doc = new Y.Doc()
  doc.transact(() => {
    const invoice = invoiceMap(doc)
    for (const [key, value] of Object.entries({
      number: 'INV-1001', customer: 'Acme', issued: '2025-01-02', due: '2025-02-01',
      status: 'draft', currency: 'EUR', tax_rate: '20'
    })) invoice.set(key, value)
    linesArray(doc).push([new Y.Map([['id', 'l1'], ['description', 'Pad'], ['quantity', '2'], ['unit_price', '450.00']])])
    notesText(doc).insert(0, 'Thanks!')
  })
  return doc
}

/** A second replica of `doc`, as another browser would hold it. */
function replica (doc) {
  const other = new Y.Doc()
  Y.applyUpdate(other, Y.encodeStateAsUpdate(doc))
  return other
}

/** Exchange what each side is missing, like a sync round. */
function sync (a, b) {
  const toB = Y.encodeStateAsUpdate(a, Y.encodeStateVector(b))
  const toA = Y.encodeStateAsUpdate(b, Y.encodeStateVector(a))
  Y.applyUpdate(b, toB)
  Y.applyUpdate(a, toA)
}

test('readInvoice gives the REST shape with strings only', () => {
  const model = readInvoice(seeded())
  assert.deepEqual(model, {
    number: 'INV-1001',
    customer: 'Acme',
    issued: '2025-01-02',
    due: '2025-02-01',
    status: 'draft',
    currency: 'EUR',
    tax_rate: '20',
    delivery: null,
    delivered_at: '',
    notes: 'Thanks!',
    lines: [{ id: 'l1', description: 'Pad', quantity: '2', unit_price: '450.00' }]
  })
  assert.equal(hasContent(seeded()), true)
  assert.equal(hasContent(new Y.Doc()), false)
})

test('the REST snapshot normalises to the same shape', () => {
  const model = invoiceFromJson({
    id: '1001', number: 'INV-1001', customer: 'Acme', issued: '2025-01-02', due: '2025-02-01',
    status: 'draft', currency: 'EUR', tax_rate: '20', delivery: null, delivered_at: null, notes: 'Thanks!',
    lines: [{ id: 'l1', description: 'Pad', quantity: '2', unit_price: '450.00', amount: '900.00' }],
    subtotal: '900.00', tax: '180.00', total: '1080.00'
  })
  assert.deepEqual(model, readInvoice(seeded()))
  assert.deepEqual(invoiceFromJson(null).lines, [])
})

test('line edits store strings and skip no-op writes', () => {
  const doc = seeded()
  const updates = []
  doc.on('update', (_update, origin) => updates.push(origin))

  const id = addLine(doc)
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  assert.deepEqual(readInvoice(doc).lines[1], { id, description: '', quantity: '', unit_price: '' })

  assert.equal(setLineField(doc, id, 'quantity', '1.5'), true)
  assert.equal(typeof findLine(doc, id).get('quantity'), 'string')
  setLineField(doc, id, 'quantity', '1.5')
  setInvoiceField(doc, 'customer', 'Acme')
  assert.deepEqual(updates, [LOCAL_ORIGIN, LOCAL_ORIGIN], 'unchanged values write nothing')

  assert.equal(removeLine(doc, id), true)
  assert.equal(removeLine(doc, id), false)
  assert.equal(setLineField(doc, id, 'quantity', '3'), false)
  assert.equal(readInvoice(doc).lines.length, 1)
  assert.throws(() => setInvoiceField(doc, 'number', 'INV-9'))
  assert.throws(() => setLineField(doc, 'l1', 'amount', '1'))
})

test('two people adding lines at once keep both lines', () => {
  const ada = seeded()
  const bob = replica(ada)
  const first = addLine(ada)
  const second = addLine(bob)
  setLineField(ada, first, 'description', 'Night shift')
  setLineField(bob, second, 'description', 'Spare bolts')
  sync(ada, bob)
  const descriptions = (doc) => readInvoice(doc).lines.map((line) => line.description).sort()
  assert.deepEqual(descriptions(ada), ['Night shift', 'Pad', 'Spare bolts'])
  assert.deepEqual(readInvoice(ada), readInvoice(bob))
})

test('two people editing different fields of one line keep both changes', () => {
  const ada = seeded()
  const bob = replica(ada)
  setLineField(ada, 'l1', 'quantity', '3')
  setLineField(bob, 'l1', 'unit_price', '400.00')
  sync(ada, bob)
  assert.deepEqual(readInvoice(ada).lines[0], { id: 'l1', description: 'Pad', quantity: '3', unit_price: '400.00' })
  assert.deepEqual(readInvoice(bob), readInvoice(ada))
})

test('typing in the notes at the same time merges instead of overwriting', () => {
  const ada = seeded()
  const bob = replica(ada)
  editNotes(ada, 'Dear Acme, Thanks!', 'Dear Acme, '.length)
  editNotes(bob, 'Thanks! Pay within 30 days.', 'Thanks! Pay within 30 days.'.length)
  sync(ada, bob)
  assert.equal(notesText(ada).toString(), 'Dear Acme, Thanks! Pay within 30 days.')
  assert.equal(notesText(bob).toString(), notesText(ada).toString())
})

test('notes edits are single splices, not rewrites', () => {
  const doc = seeded()
  const deltas = []
  notesText(doc).observe((event) => deltas.push(event.delta))
  editNotes(doc, 'Thanks a lot!', 'Thanks a lot'.length)
  editNotes(doc, 'Thanks a lot!', 3)
  assert.deepEqual(deltas, [[{ retain: 6 }, { insert: ' a lot' }]])
})

test('line ids are UUIDs even without crypto.randomUUID', () => {
  const original = crypto.randomUUID
  try {
    Object.defineProperty(crypto, 'randomUUID', { value: undefined, configurable: true, writable: true })
    const id = newLineId()
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.notEqual(newLineId(), id)
  } finally {
    Object.defineProperty(crypto, 'randomUUID', { value: original, configurable: true, writable: true })
  }
})
