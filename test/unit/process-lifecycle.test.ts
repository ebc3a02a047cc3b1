import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { projectRoot } from '../../infra/stack/paths.ts';
import { ConfigError, loadConfig } from '../../src/platform/config.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the fixture entry point as production runs one (`node --import tsx`), sending `signal` once it is up. */
function runEntryPoint(env: Record<string, string>, signal?: NodeJS.Signals): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/process-lifecycle/entry-point.ts'], {
    cwd: projectRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let signalled = false;
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (signal && !signalled && stdout.includes('ready')) signalled = child.kill(signal);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('process entry points', () => {
  it('name a configuration error ConfigError, so it can be told from a crash', () => {
    let error: unknown;
    try {
      loadConfig(Type.Object({ SOME_PORT: Type.Integer() }), {});
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).name).toBe('ConfigError');
  });

  it.each<NodeJS.Signals>(['SIGTERM', 'SIGINT'])(
    'on %s close what they opened, last opened first, and exit 0',
    async (signal) => {
      const run = await runEntryPoint({ FIXTURE_MODE: 'serve' }, signal);
      expect(run.stdout.split('\n').filter((line) => line.startsWith('closed'))).toEqual(['closed server', 'closed pool']);
      expect(run.code).toBe(0);
    },
    30_000,
  );

  it('exit 1 when something fails to close, after closing the rest', async () => {
    const run = await runEntryPoint({ FIXTURE_MODE: 'serve', FIXTURE_FAIL_CLOSE: 'server' }, 'SIGTERM');
    expect(run.stderr).toContain('server would not close');
    expect(run.stdout).toContain('closed pool');
    expect(run.code).toBe(1);
  }, 30_000);

  it('on an uncaught error close what they opened and exit 1', async () => {
    const run = await runEntryPoint({ FIXTURE_MODE: 'crash' });
    expect(run.stderr).toContain('boom');
    expect(run.stdout).toContain('closed pool');
    expect(run.code).toBe(1);
  }, 30_000);

  it('on a bad configuration print only the message naming the variable, and exit 1', async () => {
    const run = await runEntryPoint({ FIXTURE_MODE: 'bad-config' });
    expect(run.stderr.trim()).toMatch(/^invalid configuration: .*FIXTURE_REQUIRED_PORT/);
    expect(run.stderr).not.toContain('    at ');
    expect(run.code).toBe(1);
  }, 30_000);
});
