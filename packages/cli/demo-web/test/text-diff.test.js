// Minimal splices and caret transforms used by the text bindings.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { diffStrings, spliceToDelta, transformPosition, transformSelection } from '../src/text-diff.js'

const apply = (text, splice) =>
  splice === null ? text : text.slice(0, splice.index) + splice.insert + text.slice(splice.index + splice.deleteCount)

test('equal strings need no splice', () => {
  assert.equal(diffStrings('same', 'same'), null)
  assert.deepEqual(spliceToDelta(null), [])
})

test('a typed character becomes one insert where it was typed', () => {
  assert.deepEqual(diffStrings('abc', 'abXc'), { index: 2, deleteCount: 0, insert: 'X' })
  assert.deepEqual(diffStrings('abc', 'abXc', 3), { index: 2, deleteCount: 0, insert: 'X' })
})

test('the caret places an ambiguous insert', () => {
  // "a" typed at the start of "aa": without the caret it would look like an append.
  assert.deepEqual(diffStrings('aa', 'aaa', 1), { index: 0, deleteCount: 0, insert: 'a' })
  assert.deepEqual(diffStrings('aa', 'aaa', 2), { index: 1, deleteCount: 0, insert: 'a' })
  assert.deepEqual(diffStrings('aa', 'aaa', 3), { index: 2, deleteCount: 0, insert: 'a' })
  assert.deepEqual(diffStrings('aa', 'aaa'), { index: 2, deleteCount: 0, insert: 'a' })
})

test('deletes and replacements touch only the changed range', () => {
  assert.deepEqual(diffStrings('hello world', 'hello', 5), { index: 5, deleteCount: 6, insert: '' })
  assert.deepEqual(diffStrings('hello world', 'hello there world', 12), { index: 6, deleteCount: 0, insert: 'there ' })
  assert.deepEqual(diffStrings('pay in 30 days', 'pay in 14 days', 9), { index: 7, deleteCount: 2, insert: '14' })
  assert.deepEqual(diffStrings('abc', ''), { index: 0, deleteCount: 3, insert: '' })
  assert.deepEqual(diffStrings('', 'new'), { index: 0, deleteCount: 0, insert: 'new' })
})

test('splices never cut a surrogate pair', () => {
  // Both emoji start with the same high surrogate; the splice must replace the whole character.
  const splice = diffStrings('a😀b', 'a😃b', 3)
  assert.deepEqual(splice, { index: 1, deleteCount: 2, insert: '😃' })
  const tail = diffStrings('x😀', 'x😃')
  assert.deepEqual(tail, { index: 1, deleteCount: 2, insert: '😃' })
})

test('applying the splice always gives the new value', () => {
  const samples = ['', 'a', 'aa', 'abc', 'abcabc', 'a😀b', 'line one\nline two', '😀😀']
  for (const before of samples) {
    for (const after of samples) {
      for (let caret = 0; caret <= after.length; caret++) {
        assert.equal(apply(before, diffStrings(before, after, caret)), after, `${before} -> ${after} @${caret}`)
      }
      assert.equal(apply(before, diffStrings(before, after)), after)
    }
  }
})

test('inserts before the caret move it, inserts after it do not', () => {
  assert.equal(transformPosition(5, [{ insert: 'abc' }], true), 8)
  assert.equal(transformPosition(5, [{ retain: 2 }, { insert: 'abc' }], true), 8)
  assert.equal(transformPosition(5, [{ retain: 6 }, { insert: 'abc' }], true), 5)
  // Exactly at the caret: depends on the side.
  assert.equal(transformPosition(5, [{ retain: 5 }, { insert: 'abc' }], true), 8)
  assert.equal(transformPosition(5, [{ retain: 5 }, { insert: 'abc' }], false), 5)
})

test('deletes before the caret pull it back, a delete around it clamps it', () => {
  assert.equal(transformPosition(5, [{ delete: 2 }], true), 3)
  assert.equal(transformPosition(5, [{ retain: 3 }, { delete: 4 }], true), 3)
  assert.equal(transformPosition(5, [{ retain: 5 }, { delete: 4 }], true), 5)
  assert.equal(transformPosition(5, [{ retain: 1 }, { delete: 1 }, { retain: 1 }, { insert: 'xy' }], true), 6)
})

test('a selection keeps covering the same text', () => {
  // "hello world", "world" selected (6..11); someone inserts "big " before it.
  assert.deepEqual(transformSelection({ start: 6, end: 11 }, [{ retain: 6 }, { insert: 'big ' }]), { start: 10, end: 15 })
  // Text typed at the end of the selection is not swallowed by it.
  assert.deepEqual(transformSelection({ start: 6, end: 11 }, [{ retain: 11 }, { insert: '!' }]), { start: 6, end: 11 })
  // A collapsed caret stays collapsed.
  assert.deepEqual(transformSelection({ start: 4, end: 4 }, [{ retain: 4 }, { insert: 'zz' }]), { start: 6, end: 6 })
  // The selected text deleted by someone else: an empty selection where it was.
  assert.deepEqual(transformSelection({ start: 2, end: 6 }, [{ retain: 1 }, { delete: 7 }]), { start: 1, end: 1 })
})
