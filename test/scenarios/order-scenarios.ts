import type { EventType } from '../../src/domain/events.ts';
import type { CancellationReason, OrderLine } from '../../src/domain/order.ts';
import type { Compensation, SagaStep } from '../../src/domain/saga-steps.ts';

/** What the customer or the reviewer does during the saga. */
export type ScenarioAction =
  | { kind: 'none' }
  /** Answer the review. */
  | { kind: 'approve' | 'reject' }
  /** Cancel while the order waits for review. */
  | { kind: 'cancel_during_review' }
  /** Cancel once the charge has been captured, before the order is confirmed. */
  | { kind: 'cancel_after_charge' };

/**
 * One order scenario: the input, what happens, and the outcome every flow must reach. The
 * orchestrated flow's workflow tests and integration tests, and the choreographed flow's tests,
 * all run this one table.
 */
export interface OrderScenario {
  name: string;
  items: OrderLine[];
  paymentToken: string;
  /** In workflow tests (skipped time), the gateway is down this long before it answers. */
  gatewayOutage?: '2 hours';
  action: ScenarioAction;
  expected: {
    status: 'confirmed' | 'cancelled';
    reason: CancellationReason | null;
    stepsDone: SagaStep[];
    compensations: Compensation[];
    /** The event types of the order, in publication order. */
    events: EventType[];
    /** Captures at the gateway for this order. */
    charges: number;
    refunds: number;
  };
}

/** A small order: 2 keyboards and a mouse, 207.00 USD, below the review threshold. */
const smallOrder: OrderLine[] = [
  { sku: 'KB-001', quantity: 2 },
  { sku: 'MS-002', quantity: 1 },
];
/** A laptop: 1,499.00 USD, at or above the review threshold of 1,000.00 USD. */
const reviewedOrder: OrderLine[] = [{ sku: 'LT-004', quantity: 1 }];
/** A SKU the catalog has none of. */
const soldOutOrder: OrderLine[] = [{ sku: 'LTD-006', quantity: 1 }];

const happySteps: SagaStep[] = ['accept_order', 'reserve_stock', 'charge_payment', 'confirm_order', 'notify_customer'];
const happyEvents: EventType[] = ['order.placed', 'inventory.reserved', 'payment.completed', 'order.confirmed', 'notification.sent'];
const cancelledTail: EventType[] = ['inventory.released', 'order.cancelled', 'notification.sent'];

export const orderScenarios: OrderScenario[] = [
  {
    name: 'approved card confirms the order and charges it once',
    items: smallOrder,
    paymentToken: 'tok_approve',
    action: { kind: 'none' },
    expected: { status: 'confirmed', reason: null, stepsDone: happySteps, compensations: [], events: happyEvents, charges: 1, refunds: 0 },
  },
  {
    name: 'declined card releases the reserved stock, charges nothing and cancels',
    items: smallOrder,
    paymentToken: 'tok_decline',
    action: { kind: 'none' },
    expected: {
      status: 'cancelled',
      reason: 'payment_declined',
      stepsDone: ['accept_order', 'reserve_stock'],
      compensations: ['release_stock'],
      events: ['order.placed', 'inventory.reserved', 'payment.failed', ...cancelledTail],
      charges: 0,
      refunds: 0,
    },
  },
  {
    name: 'out of stock cancels without charging',
    items: soldOutOrder,
    paymentToken: 'tok_approve',
    action: { kind: 'none' },
    expected: {
      status: 'cancelled',
      reason: 'out_of_stock',
      stepsDone: ['accept_order'],
      compensations: [],
      events: ['order.placed', 'inventory.rejected', 'order.cancelled', 'notification.sent'],
      charges: 0,
      refunds: 0,
    },
  },
  {
    name: 'gateway outage is retried with backoff until it recovers, then the order is confirmed with one charge',
    items: smallOrder,
    paymentToken: 'tok_fail_3',
    gatewayOutage: '2 hours',
    action: { kind: 'none' },
    expected: { status: 'confirmed', reason: null, stepsDone: happySteps, compensations: [], events: happyEvents, charges: 1, refunds: 0 },
  },
  {
    name: 'reviewed order that is approved is charged and confirmed',
    items: reviewedOrder,
    paymentToken: 'tok_approve',
    action: { kind: 'approve' },
    expected: {
      status: 'confirmed',
      reason: null,
      stepsDone: ['accept_order', 'reserve_stock', 'review', 'charge_payment', 'confirm_order', 'notify_customer'],
      compensations: [],
      events: ['order.placed', 'inventory.reserved', 'order.review_requested', 'order.approved', 'payment.completed', 'order.confirmed', 'notification.sent'],
      charges: 1,
      refunds: 0,
    },
  },
  {
    name: 'reviewed order that is rejected releases its stock and is cancelled',
    items: reviewedOrder,
    paymentToken: 'tok_approve',
    action: { kind: 'reject' },
    expected: {
      status: 'cancelled',
      reason: 'review_rejected',
      stepsDone: ['accept_order', 'reserve_stock'],
      compensations: ['release_stock'],
      events: ['order.placed', 'inventory.reserved', 'order.review_requested', 'order.rejected', ...cancelledTail],
      charges: 0,
      refunds: 0,
    },
  },
  {
    name: 'review left unanswered for 24 hours is rejected and compensated',
    items: reviewedOrder,
    paymentToken: 'tok_approve',
    action: { kind: 'none' },
    expected: {
      status: 'cancelled',
      reason: 'review_timeout',
      stepsDone: ['accept_order', 'reserve_stock'],
      compensations: ['release_stock'],
      events: ['order.placed', 'inventory.reserved', 'order.review_requested', 'order.rejected', ...cancelledTail],
      charges: 0,
      refunds: 0,
    },
  },
  {
    name: 'customer cancelling during review releases the stock',
    items: reviewedOrder,
    paymentToken: 'tok_approve',
    action: { kind: 'cancel_during_review' },
    expected: {
      status: 'cancelled',
      reason: 'customer_cancelled',
      stepsDone: ['accept_order', 'reserve_stock'],
      compensations: ['release_stock'],
      events: ['order.placed', 'inventory.reserved', 'order.review_requested', 'order.cancel_requested', ...cancelledTail],
      charges: 0,
      refunds: 0,
    },
  },
  {
    name: 'customer cancelling after the charge is refunded and the stock released, in that order',
    items: smallOrder,
    paymentToken: 'tok_approve',
    action: { kind: 'cancel_after_charge' },
    expected: {
      status: 'cancelled',
      reason: 'customer_cancelled',
      stepsDone: ['accept_order', 'reserve_stock', 'charge_payment'],
      compensations: ['refund_payment', 'release_stock'],
      events: ['order.placed', 'inventory.reserved', 'payment.completed', 'order.cancel_requested', 'payment.refunded', ...cancelledTail],
      charges: 1,
      refunds: 1,
    },
  },
];
