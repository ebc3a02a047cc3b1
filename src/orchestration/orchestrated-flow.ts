import type { OrderRequest } from '../domain/order.ts';
import type { OrderFlow, OrderFlowStatus } from '../flows/order-flows.ts';
import type { OrderSagaClient } from './order-saga-client.ts';

/**
 * The orchestrated flow behind the flows port: each call goes to the order's Temporal workflow
 * through {@link OrderSagaClient}, whose SagaUnavailableError is the port's FlowUnavailableError.
 */
export class OrchestratedFlow implements OrderFlow {
  readonly name = 'orchestrated' as const;

  constructor(private readonly sagas: OrderSagaClient) {}

  /** Starts the order's saga, or finds the one already started (`created` is not known: Temporal keeps the first). */
  async place(order: OrderRequest, correlationId: string): Promise<{ created?: boolean }> {
    await this.sagas.start(order, correlationId);
    return {};
  }

  /** The saga's live status: its query while it runs, its result once it has ended. */
  async status(orderId: string): Promise<OrderFlowStatus> {
    const saga = await this.sagas.status(orderId);
    return {
      orderId: saga.orderId,
      flow: 'orchestrated',
      status: saga.status,
      reason: saga.reason,
      total: saga.total,
      step: saga.currentStep,
      notified: saga.currentStep === 'done' && !saga.notificationFailed,
    };
  }

  /** The saga's `cancel` update. */
  async cancel(orderId: string): Promise<void> {
    await this.sagas.cancel(orderId);
  }

  /** The saga's `approve` update. */
  async approve(orderId: string): Promise<void> {
    await this.sagas.approve(orderId);
  }

  /** The saga's `reject` update. */
  async reject(orderId: string): Promise<void> {
    await this.sagas.reject(orderId);
  }
}
