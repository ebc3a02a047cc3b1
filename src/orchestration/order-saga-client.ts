import {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  isGrpcCancelledError,
  isGrpcDeadlineError,
  isGrpcServiceError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, tsToMs } from '@temporalio/common';
import { OrderNotFoundError, OrderStateConflictError } from '../domain/errors.ts';
import { FlowUnavailableError } from '../flows/flow-unavailable-error.ts';
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

/** Options of {@link OrderSagaClient}. */
export interface OrderSagaClientOptions {
  /**
   * Deadline of every call to Temporal (start, query, update, describe), in ms. Queries and
   * updates need a worker to answer: without a deadline they wait as long as the worker is away.
   * @default 5000
   */
  timeoutMs?: number;
  /**
   * A worker counts as polling the task queue when it polled within this many ms. An idle worker
   * long-polls about once a minute; the server remembers a poller for 5 minutes after it stopped.
   * @default 90000
   */
  pollerFreshMs?: number;
}

/**
 * Thrown when Temporal, or the worker of the order's task queue, did not answer: the frontend
 * cannot be reached, no worker polls, or the deadline passed. `outcome` says what became of a
 * command (an update), when the call was one. The flows port's {@link FlowUnavailableError}, so
 * that the API answers it 503/504 without knowing Temporal.
 */
export class SagaUnavailableError extends FlowUnavailableError {
  constructor(timedOut: boolean, message: string, outcome: string | undefined, options?: { cause?: unknown }) {
    super(timedOut, message, outcome, options);
    this.name = 'SagaUnavailableError';
  }
}

/** gRPC status UNAVAILABLE: the frontend cannot be reached. */
const grpcUnavailable = 14;
/** gRPC status FAILED_PRECONDITION: for a query, the server has seen no worker poll the task queue lately. */
const grpcFailedPrecondition = 9;

/** The gRPC status code of a failed call, whether the client wrapped it (ServiceError's cause) or not. */
function grpcCodeOf(err: unknown): number | undefined {
  const grpc = isGrpcServiceError(err) ? err : err instanceof ServiceError && isGrpcServiceError(err.cause) ? err.cause : undefined;
  return grpc ? Number(grpc.code) : undefined;
}

/** Starts and drives order sagas on Temporal: what the API and the tools use. */
export class OrderSagaClient {
  private readonly timeoutMs: number;
  private readonly pollerFreshMs: number;

  constructor(
    private readonly client: Client,
    /** The task queue the sagas run on. */
    readonly taskQueue: string = ordersTaskQueue,
    options: OrderSagaClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.pollerFreshMs = options.pollerFreshMs ?? 90_000;
  }

  /**
   * Starts the saga of an order, or finds the one already started: one order id never gets a
   * second saga, whether the first is running (conflict policy USE_EXISTING) or finished (reuse
   * policy REJECT_DUPLICATE).
   * @throws SagaUnavailableError when Temporal does not answer in time (the saga may have started).
   */
  async start(request: OrderRequest, correlationId: string): Promise<{ workflowId: string; runId: string }> {
    const workflowId = orderWorkflowId(request.orderId);
    return this.call('start the saga', undefined, async () => {
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
    });
  }

  /**
   * The saga's live status (its `status` query, answered by a worker).
   * @throws OrderNotFoundError when there is no saga for this order.
   * @throws SagaUnavailableError when Temporal or the worker does not answer in time.
   */
  status(orderId: string): Promise<OrderSagaStatus> {
    return this.call('query the saga', undefined, async () => {
      const handle = this.handle(orderId);
      try {
        // A finished saga's status is its result, kept in its history: no worker needs to replay
        // it to answer (a query would, and fails while no worker polls).
        const { status } = await handle.describe();
        if (status.name === 'COMPLETED') return await handle.result();
        return await handle.query(orderStatusQuery);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw new OrderNotFoundError(orderId);
        throw err;
      }
    });
  }

  /** Waits for the saga to end and returns its final status (no deadline: it waits for the end). */
  result(orderId: string): Promise<OrderSagaStatus> {
    return this.handle(orderId).result();
  }

  /**
   * @throws OrderStateConflictError when the order can no longer be cancelled.
   * @throws OrderNotFoundError when there is no saga for this order.
   * @throws SagaUnavailableError when no worker takes the command in time (its message says whether it may still be applied).
   */
  cancel(orderId: string): Promise<OrderSagaStatus> {
    return this.update(orderId, 'cancel', () => this.handle(orderId).executeUpdate(cancelOrderUpdate));
  }

  /** Like {@link cancel}; @throws OrderStateConflictError when the order is not waiting for review. */
  approve(orderId: string): Promise<OrderSagaStatus> {
    return this.update(orderId, 'approve', () => this.handle(orderId).executeUpdate(approveOrderUpdate));
  }

  /** Like {@link cancel}; @throws OrderStateConflictError when the order is not waiting for review. */
  reject(orderId: string): Promise<OrderSagaStatus> {
    return this.update(orderId, 'reject', () => this.handle(orderId).executeUpdate(rejectOrderUpdate));
  }

  /**
   * Rejects unless the Temporal frontend answers (DescribeNamespace) within the deadline.
   * @throws SagaUnavailableError
   */
  async checkFrontend(): Promise<void> {
    await this.call('reach the Temporal frontend', undefined, () =>
      this.client.connection.workflowService.describeNamespace({ namespace: this.client.options.namespace }),
    );
  }

  /**
   * True when a worker polled the saga's task queue recently (DescribeTaskQueue): without one,
   * queries and updates cannot be answered.
   * @throws SagaUnavailableError when the frontend does not answer.
   */
  async workerPolling(): Promise<boolean> {
    const { pollers } = await this.call('describe the task queue', undefined, () =>
      this.client.connection.workflowService.describeTaskQueue({ namespace: this.client.options.namespace, taskQueue: { name: this.taskQueue } }),
    );
    const since = Date.now() - this.pollerFreshMs;
    return pollers.some((p) => p.lastAccessTime && tsToMs(p.lastAccessTime) >= since);
  }

  private handle(orderId: string): WorkflowHandle<typeof placeOrder> {
    return this.client.workflow.getHandle(orderWorkflowId(orderId));
  }

  /**
   * Runs one call to Temporal under the deadline, turning "no answer" into a SagaUnavailableError
   * that carries `outcome` (a connection lost mid-call may have delivered the request too).
   */
  private async call<T>(what: string, outcome: string | undefined, run: () => Promise<T>): Promise<T> {
    try {
      return await this.client.withDeadline(Date.now() + this.timeoutMs, run);
    } catch (err) {
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isGrpcDeadlineError(err) || isGrpcCancelledError(err)) {
        throw new SagaUnavailableError(
          true,
          `Temporal did not ${what} within ${this.timeoutMs} ms (is the worker of task queue ${this.taskQueue} running?)`,
          outcome,
          { cause: err },
        );
      }
      const code = grpcCodeOf(err);
      if (code === grpcUnavailable) {
        throw new SagaUnavailableError(false, `Temporal is unreachable, could not ${what}`, outcome, { cause: err });
      }
      // A query with no worker polling is refused at once ("no poller seen for task queue recently").
      if (code === grpcFailedPrecondition && /no poller/i.test(err instanceof Error ? `${err.message} ${String((err as { cause?: unknown }).cause)}` : '')) {
        throw new SagaUnavailableError(false, `no worker polls task queue ${this.taskQueue}, could not ${what}`, outcome, { cause: err });
      }
      throw err;
    }
  }

  private async update(orderId: string, command: string, run: () => Promise<OrderSagaStatus>): Promise<OrderSagaStatus> {
    // An update waits for a worker to accept it. Sent while no worker polls, it stays admitted on
    // the server and is applied whenever a worker returns, long after the caller gave up: so it is
    // sent only while a worker polls, and a deadline that passes after that is reported as
    // "may still be applied", which is what Temporal guarantees (it has no way to withdraw it).
    const notSent = `the ${command} was not sent and will not be applied`;
    const polling = await this.workerPolling().catch((err: unknown) => {
      if (err instanceof SagaUnavailableError) throw new SagaUnavailableError(err.timedOut, err.message, notSent, { cause: err });
      throw err;
    });
    if (!polling) throw new SagaUnavailableError(false, `no worker polls task queue ${this.taskQueue}`, notSent);
    try {
      return await this.call(
        `${command} the order`,
        `the ${command} was not confirmed and may still be applied when a worker takes it; read the order before sending it again`,
        run,
      );
    } catch (err) {
      // The workflow's validator rejected the command: the order's state does not allow it.
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === 'ORDER_STATE_CONFLICT') {
        const status = await this.status(orderId).catch(() => undefined);
        const why = err.cause.details?.[0];
        throw new OrderStateConflictError(orderId, status?.status ?? 'unknown', command, typeof why === 'string' ? why : undefined);
      }
      if (err instanceof WorkflowNotFoundError) {
        // Updates reach running workflows only; a finished saga still answers its status query.
        const status = await this.status(orderId).catch((statusErr: unknown) => {
          if (statusErr instanceof OrderNotFoundError) return undefined;
          throw statusErr;
        });
        if (status) throw new OrderStateConflictError(orderId, status.status, command);
        throw new OrderNotFoundError(orderId);
      }
      throw err;
    }
  }
}
