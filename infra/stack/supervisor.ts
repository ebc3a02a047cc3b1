import { setTimeout as sleep } from 'node:timers/promises';
import { rotateLogs } from './log-rotation.ts';
import { exitReasonOnceKnown, isRunning, type PidFiles, type ProcessRecord } from './process.ts';
import type { ManagedServer, ServerName } from './servers/server.ts';
import { startServer } from './start-server.ts';

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  /** The processes to keep running: those `npm start` started itself. */
  servers: readonly ManagedServer[];
  pids: PidFiles;
  /** How long a restarted process may take to answer its probe. */
  readyTimeoutMs: number;
  report: (line: string) => void;
  /** Pause before the first restart; doubled for each restart in a row. @default 1000 */
  initialBackoffMs?: number;
  /** Longest pause between two restarts. @default 30000 */
  maxBackoffMs?: number;
  /** A process that ran this long before dying starts its backoff over. @default 60000 */
  stableAfterMs?: number;
  /** How often it looks at the processes. @default 1000 */
  intervalMs?: number;
  /** A process's log past this is rotated (infra/stack/log-rotation.ts); checked every 10 looks. @default 64 MiB */
  logMaxBytes?: number;
}

/**
 * Keeps the processes of `npm start` running: one that dies (a crash, kill -9, out of memory) is
 * started again after a backoff (1 s, 2 s, 4 s … 30 s for restarts in a row), with a line for each
 * restart, and its pid file records the restart count and the last exit so that `stack:status`
 * shows it. A process stopped on purpose with `stack:down` (which marks its pid file first) is let go.
 */
export class Supervisor {
  private readonly streaks = new Map<ServerName, number>();
  private readonly watched: Set<ServerName>;
  private readonly restarting = new Map<ServerName, Promise<void>>();
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly options: SupervisorOptions) {
    this.watched = new Set(options.servers.map((s) => s.name));
  }

  /** Starts watching; marks each pid file with who restarts it. */
  start(): void {
    for (const name of this.watched) {
      const record = this.options.pids.read(name);
      if (record) this.options.pids.write({ ...record, supervisorPid: process.pid });
    }
    this.loop = this.watch();
  }

  /** Stops watching and waits for restarts under way, so that what they start can be stopped. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await Promise.allSettled(this.restarting.values());
  }

  private async watch(): Promise<void> {
    const { intervalMs = 1000, logMaxBytes = 64 * 2 ** 20 } = this.options;
    for (let look = 0; !this.abort.signal.aborted; look += 1) {
      if (look % 10 === 0) {
        try {
          for (const log of rotateLogs(
            this.options.servers.map((s) => s.logPath),
            logMaxBytes,
          ))
            this.options.report(`${log} passed ${Math.round(logMaxBytes / 2 ** 20)} MiB: kept as ${log}.1 and started again`);
        } catch (err) {
          this.options.report(`rotating the logs failed: ${(err as Error).message}`);
        }
      }
      for (const server of this.options.servers) {
        if (!this.watched.has(server.name) || this.restarting.has(server.name)) continue;
        const record = this.options.pids.read(server.name);
        if (!record || record.stopRequested) {
          this.watched.delete(server.name);
          this.options.report(`${server.name} was stopped with stack:down; it is no longer restarted`);
          continue;
        }
        if (isRunning(record)) continue;
        const restart = this.restart(server, record).finally(() => this.restarting.delete(server.name));
        this.restarting.set(server.name, restart);
      }
      await sleep(intervalMs, undefined, { signal: this.abort.signal }).catch(() => undefined);
    }
  }

  /** Restarts a dead process after its backoff, until it answers again or we stop. */
  private async restart(server: ManagedServer, dead: ProcessRecord): Promise<void> {
    const { pids, report, initialBackoffMs = 1000, maxBackoffMs = 30_000, stableAfterMs = 60_000 } = this.options;
    const reason = (await exitReasonOnceKnown(dead.pid)) ?? `pid ${dead.pid} is gone`;
    if (Date.now() - Date.parse(dead.startedAt) >= stableAfterMs) this.streaks.set(server.name, 0);
    let record: ProcessRecord = { ...dead, lastExit: { reason, at: new Date().toISOString() } };
    pids.write(record);
    let what = 'exited';
    for (;;) {
      const streak = this.streaks.get(server.name) ?? 0;
      this.streaks.set(server.name, streak + 1);
      const backoffMs = Math.min(maxBackoffMs, initialBackoffMs * 2 ** streak);
      const count = (record.restarts ?? 0) + 1;
      report(`${server.name} ${what} (${record.lastExit?.reason}); restart #${count} in ${backoffMs / 1000} s (log: ${server.logPath})`);
      const waited = await sleep(backoffMs, true, { signal: this.abort.signal }).catch(() => false);
      // Stopping, or stopped with stack:down meanwhile: leave it down.
      const current = pids.read(server.name);
      if (!waited || !current || current.stopRequested) return;
      try {
        const started = await startServer(server, this.options.readyTimeoutMs);
        pids.write({ ...started, restarts: count, lastExit: record.lastExit, supervisorPid: process.pid });
        report(`${server.name} is up again (pid ${started.pid}, restart #${count})`);
        return;
      } catch (err) {
        what = 'did not come back';
        record = { ...record, restarts: count, lastExit: { reason: (err as Error).message, at: new Date().toISOString() } };
        pids.write(record);
      }
    }
  }
}
