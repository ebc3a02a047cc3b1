import type { Money } from '../domain/money.ts';
import type { Flow, NewOrder, OrderRequest, OrderStatus } from '../domain/order.ts';

/** Where an order stands, as the flow that runs it knows it (not the read model). */
export interface OrderFlowStatus {
  orderId: string;
  flow: Flow;
  status: OrderStatus;
  reason: string | null;
  total: Money | null;
  /**
   * Where the flow is: the saga's current step (orchestrated: `reserve`, ..., `compensating`,
   * `done`); the order's status (choreographed: no one place knows which service acts next).
   */
  step: string;
  /** True once the customer's final email went out; null when the flow cannot tell (choreographed: the notifications context knows). */
  notified: boolean | null;
}

/**
 * One way of running the order saga, the port that the API and the CLI go through: implemented
 * by the orchestrated flow (src/orchestration/orchestrated-flow.ts, Temporal) and the
 * choreographed flow (src/choreography/choreographed-flow.ts, Kafka). Every method may also throw
 * {@link FlowUnavailableError} when what runs the flow does not answer in time, and a transient
 * database error (see src/platform/database-errors.ts).
 */
export interface OrderFlow {
  /** Which flow this is. */
  readonly name: Flow;
  /**
   * Accepts the order and starts its saga; placing the same order again starts nothing new.
   * `created` is true when this call accepted it, false when it was already there, absent when
   * the flow cannot tell (orchestrated: Temporal keeps the saga it already has).
   * @throws OrderConflictError when the order id exists with other contents.
   */
  place(order: OrderRequest, correlationId: string): Promise<{ created?: boolean }>;
  /**
   * Where the order stands, read from the flow itself.
   * @throws OrderNotFoundError when this flow has no such order.
   */
  status(orderId: string): Promise<OrderFlowStatus>;
  /**
   * The customer cancels (allowed until the order is confirmed); the saga compensates.
   * @throws OrderNotFoundError when this flow has no such order.
   * @throws OrderStateConflictError when the order can no longer be cancelled.
   */
  cancel(orderId: string): Promise<void>;
  /**
   * A reviewer approves an order waiting for review.
   * @throws OrderNotFoundError when this flow has no such order.
   * @throws OrderStateConflictError when the order is not waiting for review.
   */
  approve(orderId: string): Promise<void>;
  /**
   * A reviewer rejects an order waiting for review: its stock is released and it is cancelled.
   * @throws OrderNotFoundError when this flow has no such order.
   * @throws OrderStateConflictError when the order is not waiting for review.
   */
  reject(orderId: string): Promise<void>;
}

/** The commands on an existing order, which every flow takes. */
export type OrderCommand = 'cancel' | 'approve' | 'reject';

/**
 * Both flows behind one door: what the API and the CLI use (src/flows/order-router.ts). New
 * orders go to the flow the caller names; everything else goes to the flow that runs the order.
 * The errors are those of {@link OrderFlow}.
 */
export interface OrderFlows {
  /** The flow of that name: to read an order live from the orchestrated saga, say. */
  flow(name: Flow): OrderFlow;
  /** Puts the payment token into the payments vault, then {@link OrderFlow.place} in the flow named `flow` with its reference. */
  place(flow: Flow, order: NewOrder, correlationId: string): Promise<{ created?: boolean }>;
  /** {@link OrderFlow.status}, from the flow that runs the order. */
  status(orderId: string): Promise<OrderFlowStatus>;
  /** {@link OrderFlow.cancel}, {@link OrderFlow.approve} or {@link OrderFlow.reject}, in the flow that runs the order. */
  command(orderId: string, command: OrderCommand): Promise<void>;
}
