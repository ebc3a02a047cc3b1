import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { OrderNotFoundError, OrderStateConflictError } from '../domain/errors.ts';
import type { OrderRequest } from '../domain/order.ts';
import {
  approveOrderUpdate,
  cancelOrderUpdate,
  orderStatusQuery,
  orderWorkflowId,
  ordersTaskQueue,
  rejectOrderUpdate,
  type OrderSagaStatus,
  type PlaceOrderInput,
} from '../workflows/definitions.ts';
import type { placeOrder } from '../workflows/place-order.ts';
import { orderSearchAttributeKeys as keys } from '../workflows/search-attribute-keys.ts';

/** Starts and drives order sagas on Temporal: what the API and the tools use. */
export class OrderSagaClient {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string = ordersTaskQueue,
  ) {}

  /**
   * Starts the saga of an order, or finds the one already started: one order id never gets a
   * second saga, whether the first is running (conflict policy USE_EXISTING) or finished (reuse
   * policy REJECT_DUPLICATE).
   */
  async start(request: OrderRequest, correlationId: string): Promise<{ workflowId: string; runId: string }> {
    const workflowId = orderWorkflowId(request.orderId);
    try {
      const handle = await this.client.workflow.start<typeof placeOrder>('placeOrder', {
        workflowId,
        taskQueue: this.taskQueue,
        args: [{ request, correlationId } satisfies PlaceOrderInput],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: keys.orderId, value: request.orderId },
          { key: keys.customerId, value: request.customerId },
          { key: keys.orderStatus, value: 'pending' },
          { key: keys.flow, value: 'orchestrated' },
        ],
      });
      return { workflowId, runId: handle.firstExecutionRunId };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const description = await this.client.workflow.getHandle(workflowId).describe();
      return { workflowId, runId: description.runId };
    }
  }

  /** The saga's live status (its `status` query). */
  status(orderId: string): Promise<OrderSagaStatus> {
    return this.handle(orderId).query(orderStatusQuery);
  }

  /** Waits for the saga to end and returns its final status. */
  result(orderId: string): Promise<OrderSagaStatus> {
    return this.handle(orderId).result();
  }

  /**
   * @throws OrderStateConflictError when the order can no longer be cancelled.
   * @throws OrderNotFoundError when there is no saga for this order.
   */
  cancel(orderId: string): Promise<OrderSagaStatus> {
    return this.update(orderId, 'cancel', () => this.handle(orderId).executeUpdate(cancelOrderUpdate));
  }

  /** @throws OrderStateConflictError when the order is not waiting for review. */
  approve(orderId: string): Promise<OrderSagaStatus> {
    return this.update(orderId, 'approve', () => this.handle(orderId).executeUpdate(approveOrderUpdate));
  }

  /** @throws OrderStateConflictError when the order is not waiting for review. */
  reject(orderId: string): Promise<OrderSagaStatus> {
    return this.update(orderId, 'reject', () => this.handle(orderId).executeUpdate(rejectOrderUpdate));
  }

  private handle(orderId: string): WorkflowHandle<typeof placeOrder> {
    return this.client.workflow.getHandle(orderWorkflowId(orderId));
  }

  private async update(orderId: string, command: string, run: () => Promise<OrderSagaStatus>): Promise<OrderSagaStatus> {
    try {
      return await run();
    } catch (err) {
      // The workflow's validator rejected the command: the order's state does not allow it.
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === 'ORDER_STATE_CONFLICT') {
        const status = await this.status(orderId).catch(() => undefined);
        throw new OrderStateConflictError(orderId, status?.status ?? 'unknown', command);
      }
      if (err instanceof WorkflowNotFoundError) {
        // Updates reach running workflows only; a finished saga still answers its status query.
        const status = await this.status(orderId).catch(() => undefined);
        if (status) throw new OrderStateConflictError(orderId, status.status, command);
        throw new OrderNotFoundError(orderId);
      }
      throw err;
    }
  }
}
