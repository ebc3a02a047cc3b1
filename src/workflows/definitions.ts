import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Money } from '../domain/money.ts';
import type { CancellationReason, OrderRequest, OrderStatus } from '../domain/order.ts';
import type { Compensation, SagaStep } from '../domain/saga-steps.ts';

/** Task queue of the orchestrated flow's workers. */
export const ordersTaskQueue = 'orders';

export { orderWorkflowId } from '../domain/order.ts';

/** Input of the `placeOrder` workflow. */
export interface PlaceOrderInput {
  request: OrderRequest;
  /** Travels with every event of this order (DESIGN.md envelope). */
  correlationId: string;
}

/** What the `status` query answers: where the saga is and what it did. */
export interface OrderSagaStatus {
  orderId: string;
  status: OrderStatus;
  /** The step running now; `compensating` while undoing; `done` at the end. */
  currentStep: SagaStep | 'compensating' | 'done';
  stepsDone: SagaStep[];
  compensations: Compensation[];
  reason: CancellationReason | null;
  total: Money | null;
  /** True when the final email could not be sent (it never changes the outcome). */
  notificationFailed: boolean;
}

/** Query: the saga's current {@link OrderSagaStatus}. */
export const orderStatusQuery = defineQuery<OrderSagaStatus>('status');

/** Update: cancel the order (allowed until it is being confirmed); answers the status. */
export const cancelOrderUpdate = defineUpdate<OrderSagaStatus>('cancel');
/** Update: approve an order waiting for review. */
export const approveOrderUpdate = defineUpdate<OrderSagaStatus>('approve');
/** Update: reject an order waiting for review. */
export const rejectOrderUpdate = defineUpdate<OrderSagaStatus>('reject');

/** Signal twins of the updates, for callers that cannot wait for an answer. */
export const cancelOrderSignal = defineSignal('cancelSignal');
export const approveOrderSignal = defineSignal('approveSignal');
export const rejectOrderSignal = defineSignal('rejectSignal');
