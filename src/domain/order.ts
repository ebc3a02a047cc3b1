import type { Money } from './money.ts';

/** One line of an order as the customer asks for it: a catalog SKU and how many. */
export interface OrderLine {
  sku: string;
  quantity: number;
}

/** One line as priced by the catalog (prices never come from the client). */
export interface PricedLine extends OrderLine {
  unitPriceCents: number;
  lineTotalCents: number;
}

/** Which coordination style runs an order. */
export type Flow = 'orchestrated' | 'choreographed';

/** An order as a flow runs it. */
export interface OrderRequest {
  orderId: string;
  customerId: string;
  /**
   * The customer's email, sealed with the customer's key (`pii:v1:…`, src/contexts/customers):
   * erasing the customer makes it unreadable everywhere. (An order accepted before sealing existed
   * carries it in clear; it is read as it is.)
   */
  email: string;
  items: OrderLine[];
  /**
   * The payment: a reference (`payref_…`) to the token the payments context keeps in its vault,
   * never the token itself. (An order accepted before the vault existed carried the token here,
   * as `paymentToken`; the payments context still charges those.)
   */
  paymentRef: string;
}

/** An order as the customer submits it: with the payment token, which the payments context takes into its vault at acceptance. */
export type NewOrder = Omit<OrderRequest, 'paymentRef'> & { paymentToken: string };

/**
 * Status of an order:
 * `pending → reserved → [awaiting_review →] paid → confirmed`, or `→ cancelled` before confirmation.
 */
export type OrderStatus = 'pending' | 'reserved' | 'awaiting_review' | 'paid' | 'confirmed' | 'cancelled';

/** Why an order ended cancelled. */
export type CancellationReason =
  | 'out_of_stock'
  | 'payment_declined'
  | 'payment_gateway_unavailable'
  | 'review_rejected'
  | 'review_timeout'
  | 'customer_cancelled'
  /** A step failed in a way no retry can fix (the database refused its data, say): compensated, and the operator alerted. */
  | 'system_error';

const allowedTransitions: Record<OrderStatus, readonly OrderStatus[]> = {
  pending: ['reserved', 'cancelled'],
  reserved: ['awaiting_review', 'paid', 'cancelled'],
  awaiting_review: ['paid', 'cancelled'],
  paid: ['confirmed', 'cancelled'],
  confirmed: [],
  cancelled: [],
};

/** True when an order in status `from` may move to `to`. */
export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return allowedTransitions[from].includes(to);
}

/** True for the statuses an order never leaves. */
export function isFinal(status: OrderStatus): boolean {
  return allowedTransitions[status].length === 0;
}

/** Orders whose total is at or above this amount wait for a person's approval before the charge. */
export const reviewThreshold: Money = { amountCents: 100_000, currency: 'USD' };

/** True when an order of this total must be reviewed before it is charged. */
export function needsReview(total: Money): boolean {
  return total.amountCents >= reviewThreshold.amountCents;
}

/** How long a review may stay unanswered before the order is rejected. */
export const reviewTimeout = '24 hours';

/**
 * Workflow id of an order's saga in the orchestrated flow: one per order id, ever. Here, not in
 * src/workflows, because the API and the CLI link to it (the Temporal Web UI page of an order).
 */
export const orderWorkflowId = (orderId: string) => `order-${orderId}`;
