// One scripted y-websocket client: sync, wait for content, edit, wait again, report.
//
//   node peer.mjs URL DOCUMENT PLAN
//
// PLAN is JSON: {"before": CONDITION, "edits": [EDIT...], "after": CONDITION}
//   CONDITION: {"text": [substrings], "keys": [map keys], "items": minimum array length}
//   EDIT: {"insert": string, "after": substring or null for the start}
//       | {"delete": substring} | {"set": key, "value": json} | {"push": [json...]}
// Each edit is its own transaction. Prints "SYNCED <json>" once synced and
// "STATE <json>" at the end; exits 2 on its 15 s deadline.
import { connect, deadline, drained, finish, snapshot, synced } from './connect.mjs'

const [url, name, planJson] = process.argv.slice(2)
const plan = JSON.parse(planJson)
const { doc, provider } = connect(url, name)
let phase = 'syncing'
deadline(15000, () => `${phase}; document is ${JSON.stringify(snapshot(doc))}`)

function holds (condition = {}) {
  const { text, meta, items } = snapshot(doc)
  return (condition.text ?? []).every(part => text.includes(part)) &&
    (condition.keys ?? []).every(key => key in meta) &&
    items.length >= (condition.items ?? 0)
}

function reached (condition) {
  return new Promise(resolve => {
    const check = () => {
      if (holds(condition)) {
        doc.off('update', check)
        resolve()
      }
    }
    doc.on('update', check)
    check()
  })
}

function apply (edit) {
  const text = doc.getText('notes')
  if ('insert' in edit) {
    let at = 0
    if (edit.after !== null) {
      const found = text.toString().indexOf(edit.after)
      if (found < 0) throw new Error(`no ${JSON.stringify(edit.after)} to insert after`)
      at = found + edit.after.length
    }
    text.insert(at, edit.insert) // Yjs counts UTF-16 units, as String.indexOf does
  } else if ('delete' in edit) {
    const at = text.toString().indexOf(edit.delete)
    if (at < 0) throw new Error(`no ${JSON.stringify(edit.delete)} to delete`)
    text.delete(at, edit.delete.length)
  } else if ('set' in edit) {
    doc.getMap('meta').set(edit.set, edit.value)
  } else if ('push' in edit) {
    doc.getArray('items').push(edit.push)
  } else {
    throw new Error(`unknown edit ${JSON.stringify(edit)}`)
  }
}

await synced(provider)
console.log('SYNCED ' + JSON.stringify(snapshot(doc)))
phase = `waiting for ${JSON.stringify(plan.before)}`
await reached(plan.before)
phase = 'editing'
for (const edit of plan.edits ?? []) apply(edit)
phase = `waiting for ${JSON.stringify(plan.after)}`
await reached(plan.after)
await drained(provider)
console.log('STATE ' + JSON.stringify(snapshot(doc)))
finish(provider, doc, 0)
