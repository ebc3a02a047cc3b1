import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Output and exit status of a short command run to completion. */
export interface CommandOutput {
  status: number | null;
  output: string;
  /** Set when the command could not be run at all (not found, not executable). */
  error?: NodeJS.ErrnoException;
}

/** Runs a short command (a version check, initdb) and returns its combined output. */
export function capture(command: string, args: readonly string[], options: { cwd?: string; uid?: number; gid?: number } = {}): CommandOutput {
  const result = spawnSync(command, [...args], { encoding: 'utf8', timeout: 120_000, ...options });
  return {
    status: result.status,
    output: `${result.stdout ?? ''}${result.stderr ?? ''}`,
    ...(result.error ? { error: result.error } : {}),
  };
}

/**
 * Runs a long command (an install) with its output appended to `logPath`.
 * @returns the exit code, or a message when the command could not be started.
 */
export async function runLogged(
  command: string,
  args: readonly string[],
  logPath: string,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; startError?: string }> {
  mkdirSync(dirname(logPath), { recursive: true });
  const out = openSync(logPath, 'a');
  writeSync(out, `\n$ ${command} ${args.join(' ')}\n`);
  try {
    return await new Promise((resolve) => {
      const child = spawn(command, [...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', out, out] });
      child.once('error', (err) => resolve({ code: null, startError: err.message }));
      child.once('exit', (code) => resolve({ code }));
    });
  } finally {
    closeSync(out);
  }
}
