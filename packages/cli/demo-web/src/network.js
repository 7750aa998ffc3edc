// Whether the browser has told us it went offline.
//
// Only the `offline` and `online` events count, not navigator.onLine at start-up: the page was
// just served by the demo server, so that server is reachable even when the machine has no
// other network (a laptop showing the demo on localhost with Wi-Fi off). Once the browser does
// report going offline, the page stops syncing for real (see session.js) so that "offline" in
// the header means what it says, and starts again when the browser is back online.

let offline = false
const listeners = new Set()

function update (nowOffline) {
  if (offline === nowOffline) return
  offline = nowOffline
  for (const listener of listeners) listener(offline)
}

window.addEventListener('offline', () => update(true))
window.addEventListener('online', () => update(false))

/** True between an `offline` event and the next `online` event. */
export function browserOffline () {
  return offline
}

/**
 * Call `listener(offline)` whenever that changes; returns a function that stops.
 *
 * @param {(offline: boolean) => void} listener
 */
export function onNetworkChange (listener) {
  listeners.add(listener)
  return () => listeners.delete(listener)
}
