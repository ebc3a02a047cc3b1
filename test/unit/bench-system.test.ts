import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { PidFiles } from '../../infra/stack/process.ts';
import { appServices, stackFolders } from '../../infra/stack/stack.ts';
import { missingProcesses } from '../../bench/system.ts';

const dir = mkdtempSync(join(tmpdir(), 'order-saga-bench-system-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Pid files for `names` that point at this test's own (live) process, as `npm start` writes them. */
function pretendRunning(dataDir: string, names: string[]): void {
  const pids = new PidFiles(stackFolders(loadStackConfig({ STACK_DATA_DIR: dataDir })).run);
  for (const name of names)
    pids.write({ name, pid: process.pid, startTicks: null, command: 'test', logPath: join(dataDir, `${name}.log`), startedAt: new Date().toISOString() });
}

describe('the benchmark refuses a running system of the other profile', () => {
  it('finds every cluster-profile process missing when the running system is the dev profile', () => {
    const dataDir = join(dir, 'dev-running');
    const dev = loadStackConfig({ STACK_DATA_DIR: dataDir, STACK_PROFILE: 'dev' });
    pretendRunning(
      dataDir,
      appServices(dev).map((s) => s.name),
    );
    expect(missingProcesses(dev)).toEqual([]);

    const cluster = loadStackConfig({ STACK_DATA_DIR: dataDir, STACK_PROFILE: 'cluster' });
    // Only the payment gateway has the same name in both profiles.
    expect(missingProcesses(cluster)).toEqual(
      appServices(cluster)
        .map((s) => s.name)
        .filter((name) => name !== 'payment-gateway'),
    );
    expect(missingProcesses(cluster)).toContain('api-2');
  });

  it('names a process whose pid file is left but whose process has exited', () => {
    const dataDir = join(dir, 'one-dead');
    const cluster = loadStackConfig({ STACK_DATA_DIR: dataDir, STACK_PROFILE: 'cluster' });
    const names = appServices(cluster).map((s) => s.name);
    pretendRunning(dataDir, names);
    const pids = new PidFiles(stackFolders(cluster).run);
    // A pid far above Linux's pid_max: no such process.
    pids.write({ ...pids.read('projector-2')!, pid: 2 ** 22 + 1 });
    expect(missingProcesses(cluster)).toEqual(['projector-2']);
  });
});
