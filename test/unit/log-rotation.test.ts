import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rotateLogs } from '../../infra/stack/log-rotation.ts';

describe('the stack logs’ rotation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'log-rotation-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps a log past its bound as <log>.1 and empties it, while the process goes on appending to it', () => {
    const [big, small, missing] = ['big.log', 'small.log', 'missing.log'].map((name) => join(dir, name)) as [string, string, string];
    // Opened for appending, as the stack opens a process's stdout and stderr.
    const out = openSync(big, 'a');
    writeSync(out, 'x'.repeat(2000));
    const other = openSync(small, 'a');
    writeSync(other, 'short');
    closeSync(other);

    expect(rotateLogs([big, small, missing], 1000)).toEqual([big]);
    expect(readFileSync(`${big}.1`, 'utf8')).toBe('x'.repeat(2000));
    writeSync(out, 'next line\n');
    closeSync(out);
    // The next line starts the emptied file, with no gap of zeros where the old content was.
    expect(readFileSync(big, 'utf8')).toBe('next line\n');
    expect(readFileSync(small, 'utf8')).toBe('short');
  });
});
