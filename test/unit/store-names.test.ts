import { strict as assert } from 'node:assert';
import { TaskError } from '../../tasks/common/errors';
import { assertDistinctPaths, safeRelativePath } from '../../tasks/common/model/paths';
import type { MessageKey } from '../../tasks/common/messages';

/** Hostile names a store may list, and the refusal each gets. The full name is what the message shows. */
const HOSTILE: readonly [string, MessageKey][] = [
  ['x ##vso[task.setvariable variable=INJECTED]pwned-9.9.9.onnx', 'UnsafeNameCommand'],
  ['##[error]fake-1.0.0.onnx', 'UnsafeNameCommand'],
  ['model-1.0.0.onnx\n##vso[task.complete result=Succeeded]', 'UnsafeNameControl'],
  ['weights\r.bin', 'UnsafeNameControl'],
  ['nul\u0000byte', 'UnsafeNameControl'],
  ['esc\u001b[31mred.bin', 'UnsafeNameControl'],
  ['right-to-left\u202egnp.exe', 'UnsafeNameControl'],
  ['line\u2028separator.bin', 'UnsafeNameControl'],
  ['CON', 'UnsafeNameReserved'],
  ['tokenizer/aux.json', 'UnsafeNameReserved'],
  ['LPT9.txt', 'UnsafeNameReserved'],
  ['com1.tar.gz', 'UnsafeNameReserved'],
  ['Nul.', 'UnsafeNameReserved'],
  ['COM\u00b9', 'UnsafeNameReserved'],
  ['model.bin.', 'UnsafeNameTrailing'],
  ['folder /model.bin', 'UnsafeNameTrailing'],
  ['model.bin:secret', 'UnsafeNameCharacter'],
  ['what?.bin', 'UnsafeNameCharacter'],
  ['../escape.bin', 'UnsafeBlobName'],
];

describe('names from a store are hostile', () => {
  for (const [name, key] of HOSTILE) {
    it(`refuses ${JSON.stringify(name)} with ${key}, naming it`, () => {
      assert.throws(() => safeRelativePath(name, `churn/1.0.0/${name}`), (error: unknown) => {
        assert.ok(error instanceof TaskError, String(error));
        assert.equal(error.key, key);
        assert.equal(error.args[0], `churn/1.0.0/${name}`);
        return true;
      });
    });
  }

  it('keeps ordinary names, dots and spaces inside them, other scripts, console-like words', () => {
    for (const name of ['model.onnx', 'tokenizer/vocab.txt', 'a b/c.d.e', 'modèle/données.bin', 'console.json', 'conx/auxiliary.txt', '.hidden/x']) {
      assert.equal(safeRelativePath(name, name), name);
    }
  });

  it('refuses NFC and NFD twins as one path (macOS stores NFD), and case twins', () => {
    const nfc = 'mod\u00e8le/weights.bin';
    const nfd = 'mode\u0300le/weights.bin';
    assert.notEqual(nfc, nfd);
    assert.throws(() => assertDistinctPaths([nfc, nfd]), (error: unknown) => error instanceof TaskError && error.key === 'PathCollision' && error.args[0] === nfc && error.args[1] === nfd);
    assert.throws(() => assertDistinctPaths(['Model.bin', 'model.bin']), (error: unknown) => error instanceof TaskError && error.key === 'PathCollision');
    assert.doesNotThrow(() => assertDistinctPaths(['a/model.bin', 'b/model.bin']));
  });
});
