import { readFileSync } from 'node:fs';
import { ServerStartError, PortInUseError } from './errors.ts';
import { isPortFree } from './ports.ts';
import { launch, stopProcess, type ProcessRecord } from './process.ts';
import type { ManagedServer } from './servers/server.ts';
import { waitUntil } from './wait.ts';

/** Last `count` lines of a log file, to show next to an error. */
export function tailOf(path: string, count: number): string[] {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-count);
  } catch {
    return [];
  }
}

/**
 * Prepares and starts `server`, then waits until it answers a real request.
 * @throws PortInUseError when one of its ports is taken.
 * @throws ServerStartError when it cannot be prepared, exits, or does not answer in time; a
 *   server that did not become ready is stopped again.
 */
export async function startServer(server: ManagedServer, timeoutMs: number): Promise<ProcessRecord> {
  for (const { port, setting } of server.ports) {
    if (!(await isPortFree(port))) throw new PortInUseError(server.name, port, setting);
  }
  try {
    await server.prepare();
  } catch (err) {
    throw new ServerStartError(server.name, `preparing its data failed: ${(err as Error).message}`, server.logPath);
  }
  const { record, exited } = launch(server.name, server.launchSpec(), server.logPath);
  const result = await waitUntil(() => server.probe(record.pid), { timeoutMs, abortReason: exited });
  if (!result.ready) {
    await stopProcess(record, 'SIGKILL', 5000);
    throw new ServerStartError(server.name, result.reason, server.logPath);
  }
  try {
    await server.afterReady?.();
  } catch (err) {
    throw new ServerStartError(server.name, `it answers, but setting it up failed: ${(err as Error).message}`, server.logPath);
  }
  return record;
}

/**
 * Stops a server started by {@link startServer}, waiting up to its own `stopGraceMs`, else
 * `graceMs`, before SIGKILL.
 */
export function stopServer(server: Pick<ManagedServer, 'stopSignal' | 'stopGraceMs'>, record: ProcessRecord, graceMs = 30_000) {
  return stopProcess(record, server.stopSignal, server.stopGraceMs ?? graceMs);
}
