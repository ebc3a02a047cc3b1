import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** What to run for a server, and as whom. */
export interface LaunchSpec {
  command: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Run as this user (PostgreSQL refuses to run as root). */
  uid?: number;
  gid?: number;
}

/** A started server process, as written to its pid file. */
export interface ProcessRecord {
  name: string;
  pid: number;
  /** Start time in clock ticks since boot (Linux), so a reused pid is not mistaken for ours. */
  startTicks: number | null;
  command: string;
  logPath: string;
  startedAt: string;
  /** How many times `npm start` restarted it after it died. */
  restarts?: number;
  /** Why it last ended on its own, and when (set by the supervisor of `npm start`). */
  lastExit?: { reason: string; at: string };
  /** Pid of the `npm start` that restarts it when it dies. */
  supervisorPid?: number;
  /** Set by `stack:down` before it stops the process: its end is wanted, not to be restarted. */
  stopRequested?: boolean;
}

/** Why each process this one launched ended, by pid (while this process runs). */
const exitReasons = new Map<number, () => string | undefined>();

/** Why a process launched by this one ended ("process exited on signal SIGKILL"), if it has and we know. */
export function exitReasonOf(pid: number): string | undefined {
  return exitReasons.get(pid)?.();
}

/**
 * Like {@link exitReasonOf}, for a process seen gone: Node learns of a child's exit a moment
 * after /proc shows it ended, so this waits up to `waitMs` for the reason of a process launched here.
 */
export async function exitReasonOnceKnown(pid: number, waitMs = 2000): Promise<string | undefined> {
  const deadline = Date.now() + waitMs;
  while (exitReasons.has(pid) && exitReasonOf(pid) === undefined && Date.now() < deadline) await sleep(20);
  return exitReasonOf(pid);
}

/** State letter and start time (clock ticks since boot) of `pid` from /proc, or null without /proc. */
function procStat(pid: number): { state: string; startTicks: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: count fields after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', startTicks: Number(fields[19]) };
  } catch {
    return null;
  }
}

/** True when the process of `record` is still the one we started and has not exited. */
export function isRunning(record: ProcessRecord): boolean {
  try {
    process.kill(record.pid, 0);
  } catch (err) {
    // EPERM: the pid exists but belongs to another user, as PostgreSQL's does when we are not root.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (record.startTicks === null) return true;
  const stat = procStat(record.pid);
  // A zombie ('Z') has exited; only its parent's wait() is missing.
  return stat !== null && stat.state !== 'Z' && stat.startTicks === record.startTicks;
}

/**
 * Starts a server in the background, its stdout and stderr appended to `logPath`.
 * The process gets its own process group, so it outlives the command that started it and a
 * Ctrl-C at the terminal reaches only the processes we choose to stop.
 */
export function launch(name: string, spec: LaunchSpec, logPath: string): { record: ProcessRecord; exited: () => string | undefined } {
  mkdirSync(dirname(logPath), { recursive: true });
  const out = openSync(logPath, 'a');
  let exitReason: string | undefined;
  try {
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', out, out],
      uid: spec.uid,
      gid: spec.gid,
    });
    child.on('error', (err) => {
      exitReason = `could not run ${spec.command}: ${err.message}`;
    });
    child.on('exit', (code, signal) => {
      exitReason = signal ? `process exited on signal ${signal}` : `process exited with code ${code}`;
    });
    child.unref();
    const pid = child.pid ?? -1;
    if (pid > 0) exitReasons.set(pid, () => exitReason);
    const record: ProcessRecord = {
      name,
      pid,
      startTicks: pid > 0 ? (procStat(pid)?.startTicks ?? null) : null,
      command: [spec.command, ...spec.args].join(' '),
      logPath,
      startedAt: new Date().toISOString(),
    };
    return { record, exited: () => exitReason };
  } finally {
    closeSync(out);
  }
}

/**
 * Stops the process of `record`: `signal` first, SIGKILL if it is still running after `graceMs`.
 * @returns how it ended.
 */
export async function stopProcess(record: ProcessRecord, signal: NodeJS.Signals, graceMs: number): Promise<'stopped' | 'killed' | 'not-running'> {
  if (!isRunning(record)) return 'not-running';
  process.kill(record.pid, signal);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(record)) return 'stopped';
    await sleep(100);
  }
  process.kill(record.pid, 'SIGKILL');
  while (isRunning(record)) await sleep(50);
  return 'killed';
}

/** Pid files of the stack: one JSON record per server in a run folder. */
export class PidFiles {
  constructor(private readonly runDir: string) {}

  private path(name: string): string {
    return join(this.runDir, `${name}.json`);
  }

  read(name: string): ProcessRecord | undefined {
    const file = this.path(name);
    if (!existsSync(file)) return undefined;
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as ProcessRecord;
    } catch {
      return undefined;
    }
  }

  write(record: ProcessRecord): void {
    mkdirSync(this.runDir, { recursive: true });
    writeFileSync(this.path(record.name), `${JSON.stringify(record, null, 2)}\n`);
  }

  remove(name: string): void {
    rmSync(this.path(name), { force: true });
  }
}
