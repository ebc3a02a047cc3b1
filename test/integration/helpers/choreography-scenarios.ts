import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { cancelOrder, decideReview, placeChoreographedOrder, reviewTimeoutMs } from '../../../src/choreography/order-commands.ts';
import type { ChoreographyRuntime } from '../../../src/choreography/runtime.ts';
import type { EventType } from '../../../src/domain/events.ts';
import type { OrderRequest } from '../../../src/domain/order.ts';
import type { OrderScenario } from '../../scenarios/order-scenarios.ts';
import { eventsOfOrder, readAllEvents, type LoggedEvent } from './event-log.ts';
import type { ChoreographyHarness } from './choreography-runtime.ts';
import { choreographySubscriptions } from '../../../src/choreography/services.ts';
import { topicOf } from '../../../src/messaging/topics.ts';

const groups = Object.keys(choreographySubscriptions) as (keyof typeof choreographySubscriptions)[];

/** A scenario's order as the choreographed flow ran it. */
export interface ChoreographedRun {
  scenario: OrderScenario;
  request: OrderRequest;
}

/**
 * The event types a scenario publishes in the choreographed flow: the scenario's own, plus
 * `payment.voided` when the customer cancels before anything was charged. The choreography's
 * payments group answers every cancel with an event (the orders group waits for it before it
 * ends the order); the workflow knows that nothing was charged without one.
 */
export function choreographedEventsOf(scenario: OrderScenario): EventType[] {
  return scenario.action.kind === 'cancel_during_review' ? [...scenario.expected.events, 'payment.voided'] : scenario.expected.events;
}

/** Polls `check` every 100 ms until it returns true. */
export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Offsets every group of the harness has committed, minus the ends of its topics: 0 when caught up. */
export async function choreographyLag(harness: ChoreographyHarness): Promise<number> {
  const admin = harness.kafka.admin();
  await admin.connect();
  let behind = 0;
  for (const group of groups) {
    const topics = choreographySubscriptions[group].map((t) => topicOf(t, harness.prefix));
    const committed = await admin.fetchOffsets({ groupId: `${harness.prefix}${group}`, topics });
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
      for (const end of ends) behind += Number(end.high) - Math.max(0, Number(mine.find((p) => p.partition === end.partition)?.offset ?? 0));
    }
  }
  await admin.disconnect();
  return behind;
}

export const orderStatusOf = async (harness: ChoreographyHarness, orderId: string) =>
  (await harness.pool.query<{ status: string; reason: string | null }>('select status, reason from orders.orders where order_id = $1', [orderId])).rows[0];

/**
 * Runs every scenario through the choreographed flow at once: places the orders, answers reviews,
 * cancels, and moves the sweeper's clock past the review deadline; waits until each order's
 * expected events are all on the topics.
 */
export async function runScenarios(
  harness: ChoreographyHarness,
  runtime: ChoreographyRuntime,
  scenarios: OrderScenario[],
  cancelOnCapture: Set<string>,
): Promise<{ runs: ChoreographedRun[]; events: LoggedEvent[] }> {
  const runs = scenarios.map((scenario) => ({
    scenario,
    request: {
      orderId: randomUUID(),
      customerId: `customer-${randomUUID().slice(0, 8)}`,
      email: 'ada@example.com',
      items: scenario.items,
      paymentRef: scenario.paymentToken,
    },
  }));
  await Promise.all(
    runs.map(async ({ scenario, request }) => {
      if (scenario.action.kind === 'cancel_after_charge') cancelOnCapture.add(request.orderId);
      await placeChoreographedOrder(harness.pool, request, `corr-${request.orderId}`);
      const action = scenario.action.kind;
      const reviewed = action === 'approve' || action === 'reject' || action === 'cancel_during_review' || scenario.expected.reason === 'review_timeout';
      if (!reviewed) return;
      await eventually(`${request.orderId} awaiting review`, async () => (await orderStatusOf(harness, request.orderId))?.status === 'awaiting_review');
      if (action === 'approve' || action === 'reject') await decideReview(harness.pool, request.orderId, action);
      else if (action === 'cancel_during_review') await cancelOrder(harness.pool, request.orderId);
    }),
  );
  if (scenarios.some((s) => s.expected.reason === 'review_timeout')) {
    harness.advanceClock(reviewTimeoutMs + 60_000);
    await runtime.sweep();
  }
  let events: LoggedEvent[] = [];
  await eventually(
    'every order to publish its expected events',
    async () => {
      events = await readAllEvents(harness.kafka, harness.prefix);
      return runs.every(({ scenario, request }) => eventsOfOrder(events, request.orderId).length >= choreographedEventsOf(scenario).length);
    },
    90_000,
  );
  // Let the last consumers finish (a late duplicate would show up here).
  await sleep(1000);
  return { runs, events: await readAllEvents(harness.kafka, harness.prefix) };
}
