import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { eventually } from './helpers/choreography-scenarios.ts';
import { startFullRuntime, type FullRuntime } from './helpers/full-runtime.ts';
import '../setup/servers.ts';

/** Who did what: the API's log lines name the caller of each request, from its verified token. */
describe('the API log names who made each request', () => {
  let runtime: FullRuntime;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    runtime = await startFullRuntime(inject('servers'), { apiLogger: pino({ level: 'info' }, sink) });
  }, 120_000);

  afterAll(async () => {
    await runtime?.close();
  });

  it.each(['orchestrated', 'choreographed'] as const)('logs the customer who placed a %s order and the operator who approved it', async (flow) => {
    const customerId = `actor-${randomUUID().slice(0, 8)}`;
    const placed = await runtime.api.inject({
      method: 'POST',
      url: '/orders',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      // LT-004 is reviewed before payment.
      payload: { customerId, email: 'ada@example.com', items: [{ sku: 'LT-004', quantity: 1 }], paymentToken: 'tok_approve', flow },
    });
    expect(placed.statusCode).toBe(202);
    const { orderId } = placed.json<{ orderId: string }>();
    await eventually(
      'the order awaits review',
      async () => (await runtime.api.inject({ method: 'GET', url: `/orders/${orderId}` })).json<{ status?: string }>().status === 'awaiting_review',
    );
    expect((await runtime.api.inject({ method: 'POST', url: `/orders/${orderId}/approve` })).statusCode).toBe(202);

    const accepted = lines.find((line) => line.msg === 'order accepted' && line.orderId === orderId);
    expect(accepted?.actor).toBe(`customer ${customerId}`);
    const approved = lines.find((line) => line.msg === 'command accepted' && line.orderId === orderId);
    expect(approved).toMatchObject({ command: 'approve', actor: 'operator order-saga-operator' });
  });
});
