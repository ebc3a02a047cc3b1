import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PidFiles, isRunning, stopProcess, type ProcessRecord } from '../../infra/stack/process.ts';
import type { ManagedServer, ServerName } from '../../infra/stack/servers/server.ts';
import { startServer } from '../../infra/stack/start-server.ts';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { stackDown, stackFolders } from '../../infra/stack/stack.ts';
import { Supervisor } from '../../infra/stack/supervisor.ts';
import { waitUntil } from '../../infra/stack/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'order-saga-supervisor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A server that is a shell: ready once it wrote `up` to its log. `script` decides how it lives. */
function shellServer(name: ServerName, script: string): ManagedServer {
  const logPath = join(dir, `${name}.log`);
  return {
    name,
    ports: [],
    logPath,
    stopSignal: 'SIGTERM',
    prepare: () => undefined,
    launchSpec: () => ({ command: 'sh', args: ['-c', script] }),
    probe: (pid) => (readFileSync(logPath, 'utf8').includes(`up ${pid}\n`) ? Promise.resolve() : Promise.reject(new Error('not up yet'))),
    endpoints: () => ({}),
  };
}

const until = async (what: string, check: () => boolean) => {
  const result = await waitUntil(() => (check() ? Promise.resolve() : Promise.reject(new Error(what))), { timeoutMs: 15_000, intervalMs: 50 });
  expect(result, what).toEqual({ ready: true });
};

describe('the supervisor of npm start', () => {
  it('restarts a process that was killed, says so, and records the restart and the exit in its pid file', async () => {
    const pids = new PidFiles(join(dir, 'run-killed'));
    const server = shellServer('temporal-worker', 'echo up $$; exec sleep 60');
    const first = await startServer(server, 5000);
    pids.write(first);
    const lines: string[] = [];
    const supervisor = new Supervisor({
      servers: [server],
      pids,
      readyTimeoutMs: 5000,
      report: (line) => lines.push(line),
      initialBackoffMs: 100,
      intervalMs: 50,
    });
    supervisor.start();
    try {
      process.kill(first.pid, 'SIGKILL');
      await until('a new process', () => (pids.read('temporal-worker')?.pid ?? first.pid) !== first.pid);
      const second = pids.read('temporal-worker') as ProcessRecord;
      expect(isRunning(second)).toBe(true);
      expect(second.restarts).toBe(1);
      expect(second.lastExit?.reason).toBe('process exited on signal SIGKILL');
      expect(second.supervisorPid).toBe(process.pid);
      expect(lines).toEqual([
        `temporal-worker exited (process exited on signal SIGKILL); restart #1 in 0.1 s (log: ${server.logPath})`,
        `temporal-worker is up again (pid ${second.pid}, restart #1)`,
      ]);
    } finally {
      await supervisor.stop();
      await stopProcess(pids.read('temporal-worker')!, 'SIGKILL', 1000);
    }
  });

  it('backs off longer for each failed restart in a row', async () => {
    const pids = new PidFiles(join(dir, 'run-crashing'));
    // Ready once, then every later start dies before it answers.
    const marker = join(dir, 'crashing-started-once');
    const server = shellServer('choreography', `if [ -e ${marker} ]; then exit 3; fi; touch ${marker}; echo up $$; exec sleep 60`);
    const first = await startServer(server, 5000);
    pids.write(first);
    const lines: string[] = [];
    const supervisor = new Supervisor({
      servers: [server],
      pids,
      readyTimeoutMs: 2000,
      report: (line) => lines.push(line),
      initialBackoffMs: 50,
      intervalMs: 50,
    });
    supervisor.start();
    try {
      process.kill(first.pid, 'SIGTERM');
      await until('three restarts tried', () => lines.length >= 3);
      expect(lines.slice(0, 3)).toEqual([
        expect.stringMatching(/^choreography exited \(process exited on signal SIGTERM\); restart #1 in 0\.05 s/),
        expect.stringMatching(/^choreography did not come back \(.*process exited with code 3.*\); restart #2 in 0\.1 s/),
        expect.stringMatching(/^choreography did not come back \(.*\); restart #3 in 0\.2 s/),
      ]);
      expect(pids.read('choreography')?.restarts).toBeGreaterThanOrEqual(2);
    } finally {
      await supervisor.stop();
    }
  });

  it('leaves alone a process stopped on purpose with stack:down', async () => {
    const config = loadStackConfig({ STACK_DATA_DIR: join(dir, 'data-down') });
    const pids = new PidFiles(stackFolders(config).run);
    const server = shellServer('projector', 'echo up $$; exec sleep 60');
    const first = await startServer(server, 5000);
    pids.write(first);
    const lines: string[] = [];
    const supervisor = new Supervisor({
      servers: [server],
      pids,
      readyTimeoutMs: 5000,
      report: (line) => lines.push(line),
      initialBackoffMs: 50,
      intervalMs: 50,
    });
    supervisor.start();
    try {
      await stackDown(config, [server], () => undefined);
      await until('the supervisor to let it go', () => lines.length > 0);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(lines).toEqual(['projector was stopped with stack:down; it is no longer restarted']);
      expect(pids.read('projector')).toBeUndefined();
    } finally {
      await supervisor.stop();
    }
  });
});
