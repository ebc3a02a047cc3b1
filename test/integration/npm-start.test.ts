/**
 * `npm start` as a person runs it: the whole system comes up on its own ports and data folder,
 * takes an order in each flow through the API, and Ctrl-C (SIGINT to the whole process group,
 * delivered twice as a terminal plus npm do) stops every process it started.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { projectRoot } from '../../infra/stack/paths.ts';
import { freePort } from '../../infra/stack/ports.ts';
import { PidFiles, isRunning, type ProcessRecord } from '../../infra/stack/process.ts';
import { appServices, stackFolders } from '../../infra/stack/stack.ts';
import { eventually } from './helpers/choreography-scenarios.ts';

const serverNames = ['postgres', 'kafka', 'temporal', 'smtp-sink'];

describe('npm start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'order-saga-start-'));
  chmodSync(dataDir, 0o755); // PostgreSQL runs as `postgres` when we are root
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('runs the whole system, takes orders in both flows, and stops everything on Ctrl-C', async () => {
    const settings = ['TEMPORAL_PORT', 'TEMPORAL_UI_PORT', 'KAFKA_PORT', 'KAFKA_CONTROLLER_PORT', 'POSTGRES_PORT', 'SMTP_SINK_PORT', 'SMTP_SINK_HTTP_PORT', 'GATEWAY_PORT', 'API_PORT'];
    const env: Record<string, string> = { STACK_DATA_DIR: dataDir, KAFKA_HEAP_MB: '384' };
    for (const setting of settings) env[setting] = String(await freePort());
    const config = loadStackConfig(env);
    const api = `http://127.0.0.1:${env.API_PORT}`;

    let output = '';
    // Its own process group, as a terminal gives it, so a signal can go to every process at once.
    const child = spawn(process.execPath, ['--import', 'tsx', 'infra/stack/cli.ts', 'start'], { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
    const pids = new PidFiles(stackFolders(config).run);
    const started = () => [...serverNames, ...appServices(config).map((s) => s.name)].map((name) => pids.read(name)).filter((r): r is ProcessRecord => r !== undefined);

    try {
      await eventually(
        'the system to be up',
        () => {
          if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${output}`);
          return Promise.resolve(output.includes('the system is up'));
        },
        180_000,
      );
      expect(output).toContain(`API              http://localhost:${env.API_PORT}/orders`);
      expect(output).toContain(`Swagger UI       http://localhost:${env.API_PORT}/docs`);
      expect(output).toContain(`Temporal Web UI  http://localhost:${env.TEMPORAL_UI_PORT}`);
      expect(started().map((r) => r.name).sort()).toEqual([...serverNames, ...appServices(config).map((s) => s.name)].sort());

      for (const flow of ['orchestrated', 'choreographed']) {
        const placed = await fetch(`${api}/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
          body: JSON.stringify({ customerId: 'npm-start', email: 'ada@example.com', items: [{ sku: 'KB-001', quantity: 1 }], paymentToken: 'tok_approve', flow }),
        });
        expect(placed.status).toBe(202);
        const { orderId } = (await placed.json()) as { orderId: string };
        await eventually(`the ${flow} order confirmed in the read model`, async () => {
          const view = (await (await fetch(`${api}/orders/${orderId}`)).json()) as { status?: string };
          return view.status === 'confirmed';
        });
      }
    } finally {
      const records = started();
      // Ctrl-C: the terminal signals the whole group, and npm forwards the signal once more.
      process.kill(-child.pid!, 'SIGINT');
      setTimeout(() => child.exitCode === null && process.kill(-child.pid!, 'SIGINT'), 200);
      const how = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running after 90 s'), 90_000))]);
      const leftOver = records.filter(isRunning);
      for (const record of leftOver) process.kill(record.pid, 'SIGKILL');
      expect(how, output).toBe(0);
      expect(leftOver.map((r) => r.name), 'processes left running').toEqual([]);
    }
    expect(output).toContain('stopping ...');
  }, 300_000);
});
