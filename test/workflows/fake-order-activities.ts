/* eslint-disable @typescript-eslint/require-await -- fakes honour the activities' async contract */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { OrderActivities, SagaRef } from '../../src/activities/order-activities.ts';
import type { EventType } from '../../src/domain/events.ts';
import type { OrderLine } from '../../src/domain/order.ts';
import type { OrderScenario } from '../scenarios/order-scenarios.ts';

/** Catalog prices and stock the fakes price with (the same as the seeded catalog). */
const catalog: Record<string, { priceCents: number; stock: number }> = {
  'KB-001': { priceCents: 8900, stock: 100 },
  'MS-002': { priceCents: 2900, stock: 100 },
  'LT-004': { priceCents: 149900, stock: 100 },
  'LTD-006': { priceCents: 19900, stock: 0 },
};

/** What the fake activities saw, for the assertions. */
export interface FakeWorld {
  /** Activity names in the order they completed successfully. */
  calls: string[];
  events: EventType[];
  /** Attempts of the charge activity, failed ones included. */
  chargeAttempts: number;
  charges: number;
  refunds: number;
  reserved: boolean;
}

const hours = (n: number) => n * 60 * 60 * 1000;

/**
 * In-memory stand-ins for the activities, with the same contract as the real ones (idempotent,
 * business failures as non-retryable ApplicationFailures with the error code as type), so the
 * workflow can be tested on the time-skipping server in seconds. The real activities are tested
 * against real servers in test/integration.
 */
export function createFakeOrderActivities(
  scenario: OrderScenario,
  hooks: { onCapture?: () => Promise<void> } = {},
): { activities: OrderActivities; world: FakeWorld } {
  const world: FakeWorld = { calls: [], events: [], chargeAttempts: 0, charges: 0, refunds: 0, reserved: false };
  let charged = false;
  const publish = (type: EventType) => {
    world.events.push(type);
    return { eventId: `${type}-${world.events.length}` };
  };
  const done = <T>(name: string, value: T): T => {
    world.calls.push(name);
    return value;
  };
  const total = (items: OrderLine[]) => items.reduce((sum, { sku, quantity }) => sum + (catalog[sku]?.priceCents ?? 0) * quantity, 0);

  const activities = {
    acceptOrder: async () => done('acceptOrder', publish('order.placed')),
    reserveStock: async ({ items }: { saga: SagaRef; items: OrderLine[] }) => {
      const short = items.find(({ sku, quantity }) => (catalog[sku]?.stock ?? 0) < quantity);
      if (short) {
        publish('inventory.rejected');
        throw ApplicationFailure.nonRetryable(`${short.sku} is out of stock`, 'OUT_OF_STOCK');
      }
      world.reserved = true;
      const lines = items.map(({ sku, quantity }) => ({
        sku,
        quantity,
        unitPriceCents: catalog[sku]!.priceCents,
        lineTotalCents: catalog[sku]!.priceCents * quantity,
      }));
      return done('reserveStock', { ...publish('inventory.reserved'), lines, total: { amountCents: total(items), currency: 'USD' } });
    },
    recordOrderProgress: async (input: Parameters<OrderActivities['recordOrderProgress']>[0]) => {
      const result = input.event ? publish(input.event.type) : { eventId: null };
      return done(`recordOrderProgress:${input.status ?? input.event?.type}`, result);
    },
    chargePayment: async ({ payment: token }: { payment?: string }) => {
      const info = Context.current().info;
      world.chargeAttempts += 1;
      if (scenario.gatewayOutage && info.currentAttemptScheduledTimestampMs - info.scheduledTimestampMs < hours(2)) {
        throw ApplicationFailure.retryable(`gateway unavailable (attempt ${info.attempt})`, 'PAYMENT_GATEWAY_UNAVAILABLE');
      }
      if (token === 'tok_decline') {
        publish('payment.failed');
        throw ApplicationFailure.nonRetryable('the card was declined', 'PAYMENT_DECLINED');
      }
      if (!charged) world.charges += 1;
      charged = true;
      await hooks.onCapture?.();
      return done('chargePayment', { ...publish('payment.completed'), chargeId: 'ch_fake' });
    },
    reportPaymentUnavailable: async () => done('reportPaymentUnavailable', publish('payment.failed')),
    refundPayment: async () => {
      if (!charged) return done('refundPayment', { eventId: null });
      charged = false;
      world.refunds += 1;
      return done('refundPayment', publish('payment.refunded'));
    },
    releaseStock: async () => {
      if (!world.reserved) return done('releaseStock', { eventId: null });
      world.reserved = false;
      return done('releaseStock', publish('inventory.released'));
    },
    notifyCustomer: async () => done('notifyCustomer', publish('notification.sent')),
  } satisfies Record<keyof OrderActivities, unknown>;

  return { activities, world };
}
