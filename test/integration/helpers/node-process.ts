import { spawn, type ChildProcess } from 'node:child_process';
import { projectRoot } from '../../../infra/stack/paths.ts';

/** A process of src/workers started by a test. */
export interface TestProcess {
  child: ChildProcess;
  /** Resolves once the process logged `readyLine`; rejects if it exits first. */
  ready: Promise<void>;
  /** The signal that ended it, or its exit code. */
  exited: Promise<NodeJS.Signals | number | null>;
}

/**
 * Runs a process entry point as production does, with `node --import tsx` (not the tsx CLI, which
 * would be a parent process), so a signal sent to it reaches the process itself.
 */
export function startNodeProcess(entry: string, env: Record<string, string>, readyLine: string): TestProcess {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: projectRoot,
    env: { ...process.env, METRICS_PORT: '0', TEMPORAL_SDK_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(readyLine)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((how) => reject(new Error(`${entry} exited (${how}) before it was ready:\n${output}`)));
  });
  return { child, ready, exited };
}
