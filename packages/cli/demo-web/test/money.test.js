// Exact money arithmetic: parsing, half-up rounding, totals and formatting.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  computeTotals, divideRounded, formatAmount, formatDecimalString, formatMoney, lineAmount,
  parseDecimal, taxAmount, toScaled
} from '../src/money.js'

const value = (text) => {
  const parsed = parseDecimal(text)
  assert.equal(parsed.error, null, `${JSON.stringify(text)} should parse`)
  return parsed.value
}

test('plain decimal strings parse exactly', () => {
  assert.deepEqual(value('2'), { units: 2n, scale: 0 })
  assert.deepEqual(value('1.5'), { units: 15n, scale: 1 })
  assert.deepEqual(value(' 120.00 '), { units: 12000n, scale: 2 })
  assert.deepEqual(value('.5'), { units: 5n, scale: 1 })
  assert.deepEqual(value('3.'), { units: 3n, scale: 0 })
  assert.deepEqual(value('+7'), { units: 7n, scale: 0 })
  assert.deepEqual(value('-0'), { units: 0n, scale: 0 })
  assert.deepEqual(value('123456789012345678901234567890.12'), { units: 12345678901234567890123456789012n, scale: 2 })
})

test('empty input is a silent zero', () => {
  for (const text of ['', '   ', undefined, null]) {
    assert.deepEqual(parseDecimal(text), { value: { units: 0n, scale: 0 }, error: null })
  }
})

test('invalid input counts as zero, with a message, and never throws', () => {
  for (const text of ['abc', '1.2.3', '1,5', '1e3', '-2', '.', '+', '12 34', '0x10', 'Infinity', 'NaN', '١٢', 5, {}]) {
    const parsed = parseDecimal(text)
    assert.deepEqual(parsed.value, { units: 0n, scale: 0 }, String(text))
    assert.equal(typeof parsed.error, 'string', String(text))
    assert.ok(parsed.error.length > 0)
  }
  assert.match(parseDecimal('-2').error, /negative/)
})

test('division rounds half away from zero, not to even', () => {
  assert.equal(divideRounded(5n, 10n), 1n)
  assert.equal(divideRounded(15n, 10n), 2n)
  assert.equal(divideRounded(25n, 10n), 3n) // banker's rounding would give 2
  assert.equal(divideRounded(4n, 10n), 0n)
  assert.equal(divideRounded(14999n, 10000n), 1n)
  assert.equal(divideRounded(1n, 3n), 0n)
  assert.equal(divideRounded(2n, 3n), 1n)
  assert.equal(divideRounded(-5n, 10n), -1n)
  assert.equal(divideRounded(-4n, 10n), 0n)
  assert.equal(divideRounded(5n, -10n), -1n)
  assert.throws(() => divideRounded(1n, 0n), RangeError)
})

test('toScaled pads or rounds to the wanted number of places', () => {
  assert.equal(toScaled({ units: 12n, scale: 0 }, 2), 1200n)
  assert.equal(toScaled({ units: 12345n, scale: 3 }, 2), 1235n)
  assert.equal(toScaled({ units: 12344n, scale: 3 }, 2), 1234n)
  assert.equal(toScaled({ units: 5n, scale: 3 }, 2), 1n)
})

// Expected values computed with Python: (Decimal(q) * Decimal(p)).quantize(Decimal("0.01"), ROUND_HALF_UP),
// the server's rule, so page and server show the same amounts.
const LINE_CASES = [
  ['2', '450.00', 90000n],
  ['1.5', '300.00', 45000n],
  ['0.333', '10.00', 333n],
  ['1.005', '1.00', 101n],
  ['2.675', '1', 268n], // 2.675 as a float rounds to 2.67
  ['0.125', '0.10', 1n],
  ['3', '0.35', 105n],
  ['7', '0.145', 102n],
  ['1.999', '0.005', 1n],
  ['12345.678', '9876.54', 12193258259n],
  ['0.001', '0.01', 0n],
  ['0.5', '0.01', 1n]
]

test('line amounts match Decimal with ROUND_HALF_UP', () => {
  for (const [quantity, price, cents] of LINE_CASES) {
    assert.equal(lineAmount(value(quantity), value(price)), cents, `${quantity} x ${price}`)
  }
})

// (Decimal(subtotal) * Decimal(rate) / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
const TAX_CASES = [
  [155105n, '20', 31021n],
  [5n, '10', 1n],
  [10000n, '8.875', 888n],
  [10n, '5', 1n],
  [99999n, '19.6', 19600n],
  [3333n, '7.25', 242n],
  [12345n, '0', 0n]
]

test('tax matches Decimal with ROUND_HALF_UP', () => {
  for (const [subtotal, rate, cents] of TAX_CASES) {
    assert.equal(taxAmount(subtotal, value(rate)), cents, `${subtotal} cents at ${rate} %`)
  }
})

test('totals of a whole invoice', () => {
  const totals = computeTotals({
    tax_rate: '20',
    lines: [
      { id: 'a', quantity: '2', unit_price: '450.00' },
      { id: 'b', quantity: '1.5', unit_price: '300.00' },
      { id: 'c', quantity: '2', unit_price: '100.00' },
      { id: 'd', quantity: '3', unit_price: '0.35' }
    ]
  })
  assert.deepEqual(totals.lines.map((line) => line.amount), [90000n, 45000n, 20000n, 105n])
  assert.equal(totals.subtotal, 155105n)
  assert.equal(totals.tax, 31021n)
  assert.equal(totals.total, 186126n)
  assert.equal(formatMoney(totals.total, 'EUR'), '1,861.26 EUR')
  assert.equal(totals.taxRateError, null)
})

test('tax is computed on the sum of rounded line amounts', () => {
  // Three lines of 0.333 x 0.05 = 0.01665 each: each rounds to 0.02, subtotal 0.06.
  const line = { quantity: '0.333', unit_price: '0.05' }
  const totals = computeTotals({ tax_rate: '50', lines: [line, line, line] })
  assert.equal(totals.subtotal, 6n)
  assert.equal(totals.tax, 3n)
  assert.equal(totals.total, 9n)
})

test('invalid values count as zero and are reported per field', () => {
  const totals = computeTotals({
    tax_rate: '1.2.3',
    lines: [
      { id: 'a', quantity: 'abc', unit_price: '10.00' },
      { id: 'b', quantity: '2', unit_price: '5,50' },
      { id: 'c', quantity: '1', unit_price: '4.00' },
      { id: 'd', quantity: '', unit_price: '' }
    ]
  })
  assert.deepEqual(totals.lines.map((line) => line.amount), [0n, 0n, 400n, 0n])
  assert.equal(typeof totals.lines[0].quantityError, 'string')
  assert.equal(totals.lines[0].unitPriceError, null)
  assert.equal(typeof totals.lines[1].unitPriceError, 'string')
  assert.equal(totals.lines[3].quantityError, null)
  assert.equal(totals.subtotal, 400n)
  assert.equal(typeof totals.taxRateError, 'string')
  assert.equal(totals.tax, 0n)
  assert.equal(totals.total, 400n)
})

test('an invoice without lines or rate is all zeros', () => {
  const totals = computeTotals({})
  assert.equal(totals.subtotal, 0n)
  assert.equal(totals.tax, 0n)
  assert.equal(totals.total, 0n)
})

test('amounts are shown with two decimals and comma thousands separators', () => {
  assert.equal(formatAmount(0n), '0.00')
  assert.equal(formatAmount(5n), '0.05')
  assert.equal(formatAmount(99n), '0.99')
  assert.equal(formatAmount(100n), '1.00')
  assert.equal(formatAmount(99999n), '999.99')
  assert.equal(formatAmount(100000n), '1,000.00')
  assert.equal(formatAmount(144000n), '1,440.00')
  assert.equal(formatAmount(123456789n), '1,234,567.89')
  assert.equal(formatAmount(100000000000n), '1,000,000,000.00')
  assert.equal(formatAmount(-150n), '-1.50')
  assert.equal(formatMoney(144000n, 'EUR'), '1,440.00 EUR')
  assert.equal(formatMoney(144000n, ''), '1,440.00')
})

test('server totals are formatted the same way', () => {
  assert.equal(formatDecimalString('1440.00', 'EUR'), '1,440.00 EUR')
  assert.equal(formatDecimalString('1440', 'EUR'), '1,440.00 EUR')
  assert.equal(formatDecimalString('161.99', 'EUR'), '161.99 EUR')
  assert.equal(formatDecimalString('oops', 'EUR'), 'oops EUR')
})
