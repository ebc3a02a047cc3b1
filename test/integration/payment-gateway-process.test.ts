import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/stack/ports.ts';
import { startNodeProcess, type TestProcess } from './helpers/node-process.ts';

describe('the payment gateway process', () => {
  let gateway: TestProcess | undefined;
  let output = '';

  afterAll(async () => {
    gateway?.child.kill('SIGTERM');
    await gateway?.exited;
  });

  it('logs JSON lines that name its service, as every process of the system does', async () => {
    const port = await freePort();
    gateway = startNodeProcess('src/workers/payment-gateway.ts', { GATEWAY_PORT: String(port) }, 'Server listening');
    gateway.child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await gateway.ready;
    await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
    const lines = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { service?: string; msg?: string });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((line) => line.service === 'payment-gateway')).toBe(true);
  });
});
