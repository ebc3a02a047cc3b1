import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ConsumerRunner } from '../../src/messaging/consumer-runner.ts';
import { projectorGroup, rebuildReadModel } from '../../src/projections/projector.ts';
import { orderScenarios, type OrderScenario } from '../scenarios/order-scenarios.ts';
import { startChoreographyHarness, startHarnessProjector, type ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { choreographedEventsOf, eventually, runScenarios, type ChoreographedRun } from './helpers/choreography-scenarios.ts';
import { startOrchestratedRuntime, type OrchestratedRuntime } from './helpers/orchestrated-runtime.ts';
import '../setup/servers.ts';

describe('read model projected from both flows', () => {
  let harness: ChoreographyHarness;
  let orchestrated: OrchestratedRuntime;
  let projector: ConsumerRunner;
  const runs: (ChoreographedRun & { flow: string })[] = [];
  const producer = () => harness.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  let dlqProducer: ReturnType<typeof producer>;

  const start = () => startHarnessProjector(harness, dlqProducer);
  const views = async () =>
    (await harness.pool.query('select * from read_model.order_view where order_id = any($1) order by order_id', [runs.map((r) => r.request.orderId)]))
      .rows as Record<string, unknown>[];
  const timelines = async () =>
    (
      await harness.pool.query('select * from read_model.order_timeline where order_id = any($1) order by order_id, event_id', [
        runs.map((r) => r.request.orderId),
      ])
    ).rows as Record<string, unknown>[];
  const eventsOf = (run: { scenario: OrderScenario; flow: string }) =>
    run.flow === 'choreographed' ? choreographedEventsOf(run.scenario) : run.scenario.expected.events;
  const projected = async () => {
    const rows = await views();
    return rows.length === runs.length && runs.every((r) => rows.find((v) => v.order_id === r.request.orderId)?.event_count === eventsOf(r).length);
  };

  beforeAll(async () => {
    harness = await startChoreographyHarness(inject('servers'));
    dlqProducer = producer();
    await dlqProducer.connect();
    const runtime = await harness.startInstance();
    projector = await start();
    const choreo = await runScenarios(
      harness,
      runtime,
      orderScenarios.filter((s) => s.expected.reason !== 'review_timeout' && s.action.kind !== 'cancel_after_charge'),
      new Set(),
    );
    runs.push(...choreo.runs.map((r) => ({ ...r, flow: 'choreographed' })));

    // Two orchestrated orders on the same topics: the projector reads both flows.
    orchestrated = await startOrchestratedRuntime(inject('servers'), { topicPrefix: harness.prefix });
    for (const scenario of orderScenarios.slice(0, 2)) {
      const request = { orderId: randomUUID(), customerId: 'c-orch', email: 'ada@example.com', items: scenario.items, paymentRef: scenario.paymentToken };
      await orchestrated.sagas.start(request, `corr-${request.orderId}`);
      await orchestrated.sagas.result(request.orderId);
      runs.push({ scenario, request, flow: 'orchestrated' });
    }
    await eventually('the read model to show every order', projected);
  }, 180_000);

  afterAll(async () => {
    await projector?.stop();
    await orchestrated?.close();
    await dlqProducer?.disconnect();
    await harness?.close();
  });

  it('shows each order with its flow, final status, reason and totals', async () => {
    const rows = await views();
    for (const { scenario, request, flow } of runs) {
      const view = rows.find((v) => v.order_id === request.orderId);
      expect({ scenario: scenario.name, flow: view?.flow, status: view?.status, reason: view?.reason, notified: view?.notified }).toEqual({
        scenario: scenario.name,
        flow,
        status: scenario.expected.status,
        reason: scenario.expected.reason,
        notified: true,
      });
    }
  });

  it('keeps each order timeline with every event once, chained by causation', async () => {
    const rows = await timelines();
    for (const { scenario, request, flow } of runs) {
      const mine = rows.filter((r) => r.order_id === request.orderId);
      expect(mine.map((r) => r.type as string).sort()).toEqual([...eventsOf({ scenario, flow })].sort());
      const ids = new Set(mine.map((r) => r.event_id));
      expect(mine.filter((r) => r.causation_id !== null).every((r) => ids.has(r.causation_id))).toBe(true);
    }
  });

  it('rebuilds identical tables from the beginning of the topics', async () => {
    const before = { views: await views(), timelines: await timelines() };
    await projector.stop();
    await rebuildReadModel(harness.pool, harness.kafka, `${harness.prefix}${projectorGroup}`, harness.prefix);
    expect(await views()).toEqual([]);

    projector = await start();
    await eventually('the rebuild', projected);
    expect({ views: await views(), timelines: await timelines() }).toEqual(before);
  });
});
