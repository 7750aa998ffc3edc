// A y-websocket client that writes continuously and reports what the server sent it.
//
//   node stream.mjs URL DOCUMENT WRITER INTERVAL_MS
//
// It prints "SYNCED" each time it (re)syncs with the server and "SEEN <item>"
// for each item that arrives from the server. Commands on stdin: "start" makes it
// append "<WRITER>-000000", "<WRITER>-000001"... to the array "items", one item
// per transaction every INTERVAL_MS, connected or not; "stop" stops that and
// prints "STOPPED <items written>"; "exit" (or the end of stdin) disconnects and
// exits. Exits 2 on its 60 s deadline.
import * as readline from 'node:readline'
import { connect, deadline, finish } from './connect.mjs'

const [url, name, writer, interval] = process.argv.slice(2)
const { doc, provider } = connect(url, name)
const items = doc.getArray('items')
let written = 0
let writing = null
deadline(60000, () => `streaming (${written} items written)`)

items.observe(event => {
  if (event.transaction.local) return
  for (const change of event.changes.delta) {
    for (const item of change.insert ?? []) console.log('SEEN ' + item)
  }
})

provider.on('synced', isSynced => {
  if (isSynced) console.log('SYNCED')
})

const commands = readline.createInterface({ input: process.stdin })
commands.on('line', line => {
  if (line === 'start' && writing === null) {
    writing = setInterval(() => {
      items.push([`${writer}-${String(written).padStart(6, '0')}`])
      written += 1
    }, Number(interval))
  } else if (line === 'stop') {
    clearInterval(writing)
    console.log('STOPPED ' + written)
  } else if (line === 'exit') {
    commands.close()
  }
})
commands.on('close', () => finish(provider, doc, 0))
