import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PidFiles, isRunning, launch, stopProcess } from '../../infra/stack/process.ts';
import { waitUntil } from '../../infra/stack/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'order-saga-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('server processes', () => {
  it('starts a process in the background with its output in the log, and stops it by pid', async () => {
    const logPath = join(dir, 'echo.log');
    const { record } = launch('sleeper', { command: 'sh', args: ['-c', 'echo started; exec sleep 30'] }, logPath);
    expect(isRunning(record)).toBe(true);
    expect(
      await waitUntil(() => (readFileSync(logPath, 'utf8').includes('started') ? Promise.resolve() : Promise.reject(new Error('not yet'))), {
        timeoutMs: 5000,
        intervalMs: 20,
      }),
    ).toEqual({ ready: true });

    expect(await stopProcess(record, 'SIGTERM', 5000)).toBe('stopped');
    expect(isRunning(record)).toBe(false);
    expect(await stopProcess(record, 'SIGTERM', 5000)).toBe('not-running');
  });

  it('kills a process that ignores the stop signal once the grace period is over', async () => {
    const { record } = launch('stubborn', { command: 'sh', args: ['-c', "trap '' TERM; while true; do sleep 0.1; done"] }, join(dir, 'stubborn.log'));
    await new Promise((resolve) => setTimeout(resolve, 200)); // let the shell install its trap
    expect(await stopProcess(record, 'SIGTERM', 500)).toBe('killed');
    expect(isRunning(record)).toBe(false);
  });

  it('does not take a reused pid for the process it started', async () => {
    const { record } = launch('sleeper', { command: 'sleep', args: ['30'] }, join(dir, 'reuse.log'));
    try {
      expect(isRunning({ ...record, startTicks: (record.startTicks ?? 0) + 1 })).toBe(false);
    } finally {
      await stopProcess(record, 'SIGKILL', 1000);
    }
  });

  it('reports why waiting stopped when the process exits before it is ready', async () => {
    const { exited } = launch('crasher', { command: 'sh', args: ['-c', 'exit 3'] }, join(dir, 'crash.log'));
    const result = await waitUntil(() => Promise.reject(new Error('connection refused')), { timeoutMs: 10_000, intervalMs: 20, abortReason: exited });
    expect(result).toEqual({ ready: false, reason: 'process exited with code 3' });
  });

  it('keeps pid records in files that survive the command that wrote them', () => {
    const pids = new PidFiles(join(dir, 'run'));
    const record = { name: 'kafka', pid: 42, startTicks: 7, command: 'java', logPath: '/x.log', startedAt: 'now' };
    pids.write(record);
    expect(new PidFiles(join(dir, 'run')).read('kafka')).toEqual(record);
    pids.remove('kafka');
    expect(pids.read('kafka')).toBeUndefined();
  });
});
