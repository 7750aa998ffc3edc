// Exact money arithmetic for the invoice editor.
//
// Every amount lives in the shared document as a decimal *string* and is turned into BigInt
// arithmetic only for computing: a decimal is kept as an integer number of units at a scale
// ("1.5" is 15 units at scale 1), amounts come out as integer cents. No JS number ever touches
// money, so 0.1 + 0.2 problems and float drift between peers cannot happen.
//
// The rules, shared with the server (Python's Decimal):
//   line amount = quantity x unit price, rounded to cents
//   subtotal    = sum of the line amounts
//   tax         = subtotal x tax rate / 100, rounded to cents
//   total       = subtotal + tax
// Rounding is "half up" in the commercial sense: a tie goes away from zero (2.345 -> 2.35),
// like decimal.ROUND_HALF_UP. Products are exact before that single rounding, so prices with
// cents and quantities with thousandths (the usual precision) give exactly the cent results,
// and a value typed with more places is still computed exactly rather than rejected.

/** An exact decimal: `units` / 10^`scale`. @typedef {{units: bigint, scale: number}} Decimal */

const ZERO = Object.freeze({ units: 0n, scale: 0 })
const CENTS_SCALE = 2

// Digits with an optional fraction ("12", "12.5", "12.", ".5"), optionally signed.
const DECIMAL_PATTERN = /^([+-]?)(\d*)(?:\.(\d*))?$/

/**
 * Parse a decimal string. Never throws.
 *
 * An empty or blank value is a valid zero, because a fresh line starts empty and should not be
 * flagged before the user typed anything. Anything else that is not a plain non-negative
 * decimal ("abc", "1.2.3", "1,5", "1e3", "-2") comes back as zero with a short message.
 *
 * @param {unknown} text
 * @returns {{value: Decimal, error: string | null}}
 */
export function parseDecimal (text) {
  if (text === undefined || text === null) return { value: ZERO, error: null }
  if (typeof text !== 'string') return invalid('Not a number.')
  const trimmed = text.trim()
  if (trimmed === '') return { value: ZERO, error: null }

  const match = DECIMAL_PATTERN.exec(trimmed)
  if (match === null) return invalid('Use digits and a dot, e.g. 1200.50.')
  const [, sign, whole, fraction = ''] = match
  if (whole === '' && fraction === '') return invalid('Use digits and a dot, e.g. 1200.50.')
  const units = BigInt((whole || '0') + fraction)
  if (sign === '-' && units !== 0n) return invalid('Must not be negative.')
  return { value: { units, scale: fraction.length }, error: null }
}

function invalid (message) {
  return { value: ZERO, error: message }
}

const pow10 = (exponent) => 10n ** BigInt(exponent)

/**
 * Divide two BigInts and round the quotient half away from zero.
 *
 * @param {bigint} numerator
 * @param {bigint} denominator must not be zero
 * @returns {bigint}
 */
export function divideRounded (numerator, denominator) {
  if (denominator === 0n) throw new RangeError('division by zero')
  const negative = (numerator < 0n) !== (denominator < 0n)
  const n = numerator < 0n ? -numerator : numerator
  const d = denominator < 0n ? -denominator : denominator
  let quotient = n / d
  // Round up when the remainder is at least half the divisor, staying in integers: 2r >= d.
  if ((n % d) * 2n >= d) quotient += 1n
  return negative ? -quotient : quotient
}

/**
 * A decimal rounded half-up to `decimals` places, as an integer at that scale
 * (toScaled({units: 12345n, scale: 3}, 2) === 1235n, i.e. 12.35).
 *
 * @param {Decimal} value
 * @param {number} decimals
 * @returns {bigint}
 */
export function toScaled (value, decimals) {
  if (value.scale <= decimals) return value.units * pow10(decimals - value.scale)
  return divideRounded(value.units, pow10(value.scale - decimals))
}

/**
 * Amount of one invoice line in cents: quantity x unit price, rounded once, to cents.
 *
 * @param {Decimal} quantity
 * @param {Decimal} unitPrice
 * @returns {bigint}
 */
export function lineAmount (quantity, unitPrice) {
  return toScaled({ units: quantity.units * unitPrice.units, scale: quantity.scale + unitPrice.scale }, CENTS_SCALE)
}

/**
 * Tax in cents on a subtotal in cents, for a rate in percent.
 *
 * @param {bigint} subtotalCents
 * @param {Decimal} rate
 * @returns {bigint}
 */
export function taxAmount (subtotalCents, rate) {
  return divideRounded(subtotalCents * rate.units, 100n * pow10(rate.scale))
}

/**
 * Everything the editor shows about the numbers of one invoice.
 *
 * Invalid inputs count as zero and come back with a short message per field, so the view can
 * mark them; nothing here throws on bad input.
 *
 * @param {{tax_rate?: unknown, lines?: Array<{id?: string, quantity?: unknown, unit_price?: unknown}>}} invoice
 */
export function computeTotals (invoice) {
  const lines = (invoice.lines ?? []).map((line) => {
    const quantity = parseDecimal(line.quantity)
    const unitPrice = parseDecimal(line.unit_price)
    return {
      id: line.id,
      amount: lineAmount(quantity.value, unitPrice.value),
      quantityError: quantity.error,
      unitPriceError: unitPrice.error
    }
  })
  const subtotal = lines.reduce((sum, line) => sum + line.amount, 0n)
  const rate = parseDecimal(invoice.tax_rate)
  const tax = taxAmount(subtotal, rate.value)
  return { lines, subtotal, tax, total: subtotal + tax, taxRateError: rate.error }
}

/**
 * Format cents as "1,440.00": two decimals, comma thousands separators, leading minus.
 *
 * @param {bigint} cents
 * @returns {string}
 */
export function formatAmount (cents) {
  const negative = cents < 0n
  const digits = (negative ? -cents : cents).toString().padStart(3, '0')
  const whole = digits.slice(0, -2).replace(/\B(?=(\d{3})+$)/g, ',')
  return `${negative ? '-' : ''}${whole}.${digits.slice(-2)}`
}

/**
 * Format cents with the currency code: "1,440.00 EUR".
 *
 * @param {bigint} cents
 * @param {string} currency
 * @returns {string}
 */
export function formatMoney (cents, currency) {
  return currency ? `${formatAmount(cents)} ${currency}` : formatAmount(cents)
}

/**
 * Format a decimal string that came from the server (e.g. a list total "1440.00"), rounded to
 * cents. Falls back to the raw text when it is not a plain decimal.
 *
 * @param {unknown} text
 * @param {string} currency
 * @returns {string}
 */
export function formatDecimalString (text, currency) {
  const parsed = parseDecimal(text)
  if (parsed.error !== null) return currency ? `${text} ${currency}` : String(text)
  return formatMoney(toScaled(parsed.value, CENTS_SCALE), currency)
}
