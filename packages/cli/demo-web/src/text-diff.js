// Small pure helpers for turning whole-value changes into minimal edits and for keeping a caret
// in place when text changes underneath it. No DOM and no Yjs here, so they are unit-tested in
// node.
//
// Positions are UTF-16 code unit offsets, the unit of both String#length, textarea selections
// and Y.Text indexes. Edits never cut a surrogate pair in half.

/**
 * One contiguous replacement: remove `deleteCount` units at `index`, then insert `insert`.
 * @typedef {{index: number, deleteCount: number, insert: string}} Splice
 */

const isHighSurrogate = (code) => code >= 0xd800 && code <= 0xdbff
const isLowSurrogate = (code) => code >= 0xdc00 && code <= 0xdfff

/**
 * The single splice that turns `before` into `after`, or null if they are equal.
 *
 * When a change is ambiguous (typing "a" into "aa"), `caret` (the caret position in `after`,
 * right after the edit) decides where it happened: the unchanged tail is never allowed to reach
 * left of the caret, so the splice lands where the user actually typed.
 *
 * @param {string} before
 * @param {string} after
 * @param {number} [caret] caret position in `after` right after the edit, if known
 * @returns {Splice | null}
 */
export function diffStrings (before, after, caret) {
  if (before === after) return null
  const shortest = Math.min(before.length, after.length)
  const sameFromEnd = (offset) =>
    before.charCodeAt(before.length - 1 - offset) === after.charCodeAt(after.length - 1 - offset)
  let prefix = 0
  let suffix = 0
  if (caret === undefined) {
    // No hint: longest unchanged head, then longest unchanged tail in what is left.
    while (prefix < shortest && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++
    while (suffix < shortest - prefix && sameFromEnd(suffix)) suffix++
  } else {
    // The edit ended at the caret: the unchanged tail may not reach left of it.
    const maxSuffix = Math.min(shortest, Math.max(0, after.length - caret))
    while (suffix < maxSuffix && sameFromEnd(suffix)) suffix++
    while (prefix < shortest - suffix && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++
  }

  // Keep surrogate pairs whole: widen the splice rather than split a character.
  if (prefix > 0 && isHighSurrogate(before.charCodeAt(prefix - 1))) prefix--
  if (suffix > 0 && isLowSurrogate(before.charCodeAt(before.length - suffix))) suffix--

  return {
    index: prefix,
    deleteCount: before.length - prefix - suffix,
    insert: after.slice(prefix, after.length - suffix)
  }
}

/**
 * Turn a splice into a Yjs-style delta ([{retain}, {delete}, {insert}]).
 *
 * @param {Splice | null} splice
 * @returns {Array<{retain?: number, delete?: number, insert?: string}>}
 */
export function spliceToDelta (splice) {
  if (splice === null) return []
  const delta = []
  if (splice.index > 0) delta.push({ retain: splice.index })
  if (splice.deleteCount > 0) delta.push({ delete: splice.deleteCount })
  if (splice.insert !== '') delta.push({ insert: splice.insert })
  return delta
}

/**
 * Where a position ends up after a delta was applied to the text it points into.
 *
 * Text inserted exactly at the position pushes it right when `stickRight` is set (a collapsed
 * caret, or the start of a selection) and leaves it in place otherwise (the end of a selection,
 * so that a selection never grows to swallow someone else's typing).
 *
 * @param {number} position
 * @param {Array<{retain?: number, delete?: number, insert?: unknown}>} delta
 * @param {boolean} stickRight
 * @returns {number}
 */
export function transformPosition (position, delta, stickRight) {
  let oldIndex = 0 // walks the text as it was before the delta
  let result = position
  for (const op of delta) {
    if (oldIndex > position) break
    if (op.retain !== undefined) {
      oldIndex += op.retain
    } else if (op.delete !== undefined) {
      if (oldIndex < position) result -= Math.min(op.delete, position - oldIndex)
      oldIndex += op.delete
    } else if (op.insert !== undefined) {
      const length = typeof op.insert === 'string' ? op.insert.length : 1
      if (oldIndex < position || (oldIndex === position && stickRight)) result += length
    }
  }
  return result
}

/**
 * Move a selection through a delta.
 *
 * @param {{start: number, end: number}} selection
 * @param {Array<{retain?: number, delete?: number, insert?: unknown}>} delta
 * @returns {{start: number, end: number}}
 */
export function transformSelection ({ start, end }, delta) {
  const collapsed = start === end
  const newStart = transformPosition(start, delta, true)
  const newEnd = collapsed ? newStart : transformPosition(end, delta, false)
  return { start: newStart, end: Math.max(newStart, newEnd) }
}
