import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StackConfig } from '../infra/stack/config.ts';
import { projectRoot } from '../infra/stack/paths.ts';
import { stackFolders } from '../infra/stack/stack.ts';

const ready = async (url: string) => {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
};

/**
 * The system the benchmark drives: the one `npm start` runs, if it answers; otherwise the
 * benchmark starts it the same way (`infra/stack/cli.ts start`, log in .data/logs/bench-start.log)
 * and stops it with Ctrl-C's signal when done.
 */
export async function ensureSystem(config: StackConfig, say: (line: string) => void): Promise<{ startedHere: boolean; tracing: string; stop(): Promise<void> }> {
  const readyz = `http://127.0.0.1:${config.API_PORT}/readyz`;
  if (await ready(readyz)) {
    say(`using the running system (${readyz} answers)`);
    return { startedHere: false, tracing: 'as the running system was started', stop: () => Promise.resolve() };
  }
  const logs = stackFolders(config).logs;
  mkdirSync(logs, { recursive: true });
  const logPath = join(logs, 'bench-start.log');
  say(`starting the system (npm start; log: ${logPath}) ...`);
  const log = openSync(logPath, 'a');
  // Tracing off unless the caller configured it: every span of every order costs the services
  // CPU (README "The benchmark" has the figures); set OTEL_* to measure with it.
  const tracingConfigured = Object.keys(process.env).some((name) => name.startsWith('OTEL_'));
  const env = tracingConfigured ? process.env : { ...process.env, OTEL_SDK_DISABLED: 'true' };
  const child = spawn(process.execPath, ['--import', 'tsx', 'infra/stack/cli.ts', 'start'], { cwd: projectRoot, env, stdio: ['ignore', log, log], detached: true });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 600_000;
  while (!(await ready(readyz))) {
    if (child.exitCode !== null) throw new Error(`the system did not start (exit ${child.exitCode}); see ${logPath}`);
    if (Date.now() > deadline) throw new Error(`the system did not answer ${readyz} within 10 minutes; see ${logPath}`);
    await sleep(500);
  }
  const otel = Object.entries(process.env).filter(([name]) => name.startsWith('OTEL_'));
  // Ctrl-C on the benchmark stops the system it started too (it runs in its own process group).
  const stopOnSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping the system it started ...`);
    process.kill(-child.pid!, 'SIGINT');
    void exited.then(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  return {
    startedHere: true,
    tracing: tracingConfigured ? `configured by the caller: ${otel.map(([name, value]) => `${name}=${value}`).join(' ')}` : 'off (OTEL_SDK_DISABLED=true, set by the benchmark)',
    async stop() {
      process.off('SIGINT', stopOnSignal);
      process.off('SIGTERM', stopOnSignal);
      process.kill(-child.pid!, 'SIGINT');
      await exited;
    },
  };
}
