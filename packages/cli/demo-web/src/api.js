// The demo server's REST endpoints. Every call resolves to
//   { ok: true, data }            on a 2xx answer with a JSON body
//   { ok: false, status, error }  otherwise (HTTP error, bad JSON, network down, timeout)
// and never rejects, so callers only decide how to show the error.

const TIMEOUT_MS = 15000

/**
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body] sent as JSON when given
 * @returns {Promise<{ok: true, status: number, data: any} | {ok: false, status: number, error: string}>}
 */
export async function request (method, path, body) {
  const headers = { Accept: 'application/json' }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  let response
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal: typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(TIMEOUT_MS) : undefined
    })
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === 'TimeoutError'
    return {
      ok: false,
      status: 0,
      error: timedOut ? 'The server did not answer in time.' : 'The server cannot be reached.'
    }
  }

  let data = null
  try {
    const text = await response.text()
    data = text === '' ? null : JSON.parse(text)
  } catch {
    data = null
  }

  if (!response.ok) {
    const message = data !== null && typeof data.error === 'string' && data.error !== ''
      ? data.error
      : `${method} ${path} failed (HTTP ${response.status}).`
    return { ok: false, status: response.status, error: message }
  }
  if (data === null || typeof data !== 'object') {
    return { ok: false, status: response.status, error: `${method} ${path}: the answer was not JSON.` }
  }
  return { ok: true, status: response.status, data }
}

const invoicePath = (id) => `/api/invoices/${encodeURIComponent(id)}`

export const listInvoices = () => request('GET', '/api/invoices')
export const getInvoice = (id) => request('GET', invoicePath(id))
export const createInvoice = () => request('POST', '/api/invoices')
export const sendInvoice = (id) => request('POST', `${invoicePath(id)}/send`)
export const getGateway = () => request('GET', '/api/gateway')
export const setGatewayMode = (mode) => request('PUT', '/api/gateway', { mode })
