import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chargeKey } from '../../src/contexts/payments/gateway-client.ts';
import { GatewayLedger } from '../../src/gateway/ledger.ts';
import type { FailpointName } from '../../src/platform/failpoints.ts';
import { eventsOfOrder, readAllEvents } from './helpers/event-log.ts';
import { startNodeProcess, type TestProcess } from './helpers/node-process.ts';
import { startOrchestratedRuntime, type OrchestratedRuntime } from './helpers/orchestrated-runtime.ts';
import { testVaultKeys } from './helpers/vault.ts';
import '../setup/servers.ts';

/** Runs src/workers/temporal-worker.ts as its own process, pointed at the test's servers. */
function startWorkerProcess(runtime: OrchestratedRuntime, extraEnv: Record<string, string> = {}): TestProcess {
  const servers = inject('servers');
  return startNodeProcess(
    'src/workers/temporal-worker.ts',
    {
      TEMPORAL_ADDRESS: servers.temporalAddress,
      TEMPORAL_NAMESPACE: servers.temporalNamespace,
      TEMPORAL_TASK_QUEUE: runtime.taskQueue,
      KAFKA_BROKERS: servers.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: servers.schemaRegistryUrl,
      DATABASE_URL: servers.databaseUrl,
      PAYMENT_GATEWAY_URL: runtime.gatewayUrl,
      PAYMENT_VAULT_KEYS: testVaultKeys,
      SMTP_PORT: String(runtime.sink.smtpPort),
      LOG_LEVEL: 'info',
      ...extraEnv,
    },
    'worker started',
  );
}

/** The gateway's ledger, also noting which charges have reached the processor (held or answered). */
class WatchedLedger extends GatewayLedger {
  readonly requested = new Set<string>();
  override countAttempt(key: string): number {
    this.requested.add(key);
    return super.countAttempt(key);
  }
}

describe('a worker killed in the middle of the charge step', () => {
  let runtime: OrchestratedRuntime;
  const ledger = new WatchedLedger();
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    runtime = await startOrchestratedRuntime(inject('servers'), { worker: false, gateway: { ledger } });
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await runtime?.close();
  });

  it.each<[string, FailpointName]>([
    ['after the gateway captured and before the payment row is written', 'after-capture-before-record'],
    ['after the charge is recorded and before its event is published', 'after-charge-before-publish'],
  ])(
    'recovers when SIGKILLed %s: one charge, the event on the topic, the order confirmed',
    async (_when, failpoint) => {
      const orderId = randomUUID();
      const crashing = startWorkerProcess(runtime, { ORDER_SAGA_FAILPOINT: failpoint });
      children.push(crashing.child);
      await crashing.ready;
      await runtime.sagas.start(
        { orderId, customerId: 'crash-test', email: 'ada@example.com', items: [{ sku: 'MS-002', quantity: 1 }], paymentRef: 'tok_approve' },
        `corr-${orderId}`,
      );

      expect(await crashing.exited).toBe('SIGKILL');
      expect(runtime.ledger.charges.filter((c) => c.reference === orderId)).toHaveLength(1);
      expect(eventsOfOrder(await readAllEvents(runtime.kafka), orderId).map((e) => e.type)).not.toContain('payment.completed');

      // A new worker picks the saga up once the lost attempt times out (startToCloseTimeout).
      const restarted = startWorkerProcess(runtime);
      children.push(restarted.child);
      await restarted.ready;
      const result = await runtime.sagas.result(orderId);
      restarted.child.kill('SIGTERM');
      expect(await restarted.exited).toBe(0);

      expect(result).toMatchObject({ status: 'confirmed', compensations: [] });
      expect(runtime.ledger.charges.filter((c) => c.reference === orderId)).toHaveLength(1);
      const raw = (await readAllEvents(runtime.kafka)).filter((e) => e.orderId === orderId);
      expect(raw.filter((e) => e.type === 'payment.completed')).toHaveLength(1);
      expect(
        eventsOfOrder(raw, orderId)
          .map((e) => e.type)
          .sort(),
      ).toEqual(['inventory.reserved', 'notification.sent', 'order.confirmed', 'order.placed', 'payment.completed']);
      const { rows } = await runtime.pool.query<{ status: string }>('select status from payments.payments where order_id = $1', [orderId]);
      expect(rows).toEqual([{ status: 'captured' }]);
    },
    120_000,
  );

  it('on SIGTERM stops polling, lets the charge in flight finish and publish, then exits 0', async () => {
    const orderId = randomUUID();
    const worker = startWorkerProcess(runtime);
    children.push(worker.child);
    await worker.ready;
    await runtime.sagas.start(
      { orderId, customerId: 'shutdown-test', email: 'ada@example.com', items: [{ sku: 'MS-002', quantity: 1 }], paymentRef: 'tok_slow_3000' },
      `corr-${orderId}`,
    );
    // Wait until the gateway holds the charge (the slow token answers after 3 s), then ask the worker
    // to stop. (The saga's step says charge_payment a workflow task before the charge is scheduled.)
    for (let i = 0; i < 100 && !ledger.requested.has(chargeKey(orderId)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(ledger.requested.has(chargeKey(orderId))).toBe(true);
    worker.child.kill('SIGTERM');

    expect(await worker.exited).toBe(0);
    expect(runtime.ledger.charges.filter((c) => c.reference === orderId)).toHaveLength(1);
    const published = eventsOfOrder(await readAllEvents(runtime.kafka), orderId).map((e) => e.type);
    expect(published).toContain('payment.completed');
    // The saga is parked, not lost: a new worker finishes it.
    const next = startWorkerProcess(runtime);
    children.push(next.child);
    await next.ready;
    expect(await runtime.sagas.result(orderId)).toMatchObject({ status: 'confirmed' });
    next.child.kill('SIGTERM');
    await next.exited;
  }, 120_000);
});
