import { ServiceError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { OrderNotFoundError } from '../../src/domain/errors.ts';
import { OrderSagaClient, SagaUnavailableError } from '../../src/orchestration/order-saga-client.ts';

/** The error the Temporal server gives a query of a workflow whose task queue no worker polls. */
function noPollerError(): ServiceError {
  const grpc = Object.assign(new Error('9 FAILED_PRECONDITION: no poller seen for task queue recently, worker may be down'), {
    code: 9,
    details: 'no poller seen for task queue recently, worker may be down',
    metadata: {},
  });
  return new ServiceError('Failed to query Workflow', { cause: grpc });
}

/** A client whose every query fails with `error`, as the SDK's would. */
function clientFailingQueriesWith(error: Error): Client {
  return {
    withDeadline: <T>(_deadline: number, run: () => Promise<T>) => run(),
    workflow: { getHandle: () => ({ describe: () => Promise.resolve({ status: { name: 'RUNNING' } }), query: () => Promise.reject(error) }) },
  } as unknown as Client;
}

/** A gRPC failure as the SDK hands it on (a ServiceError whose cause carries the status code). */
function grpcFailure(code: number, name: string): ServiceError {
  return new ServiceError('Failed to describe workflow', { cause: Object.assign(new Error(`${code} ${name}: boom`), { code, details: 'boom', metadata: {} }) });
}

/**
 * A client with a worker polling whose updates find no running workflow (as for a saga that has
 * ended, or none) and whose reads of the saga (describe) fail with `describeError`.
 */
function clientOfEndedSaga(describeError: Error): Client {
  return {
    options: { namespace: 'default' },
    withDeadline: <T>(_deadline: number, run: () => Promise<T>) => run(),
    connection: { workflowService: { describeTaskQueue: () => Promise.resolve({ pollers: [{ lastAccessTime: msToTs(Date.now()) }] }) } },
    workflow: {
      getHandle: () => ({
        executeUpdate: () => Promise.reject(new WorkflowNotFoundError('workflow execution already completed', 'order-order-1', undefined)),
        describe: () => Promise.reject(describeError),
      }),
    },
  } as unknown as Client;
}

describe('the saga client', () => {
  it('answers a command on an order that has no saga with OrderNotFoundError', async () => {
    const sagas = new OrderSagaClient(clientOfEndedSaga(new WorkflowNotFoundError('workflow not found', 'order-order-1', undefined)), 'orders');
    await expect(sagas.cancel('order-1')).rejects.toBeInstanceOf(OrderNotFoundError);
  });

  it('reports a command whose saga cannot be read because Temporal is unreachable as Temporal being unavailable, not as an unknown order', async () => {
    const sagas = new OrderSagaClient(clientOfEndedSaga(grpcFailure(14, 'UNAVAILABLE')), 'orders');
    const failure = await sagas.approve('order-1').catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SagaUnavailableError);
    expect(failure).not.toBeInstanceOf(OrderNotFoundError);
  });

  it('leaves a Temporal failure other than not found, on a command or a status read, as it is: never an unknown order', async () => {
    const internal = grpcFailure(13, 'INTERNAL');
    const sagas = new OrderSagaClient(clientOfEndedSaga(internal), 'orders');
    expect(await sagas.reject('order-1').catch((err: unknown) => err)).toBe(internal);
    expect(await sagas.status('order-1').catch((err: unknown) => err)).toBe(internal);
  });

  it('reports a query refused because no worker polls as Temporal being unavailable, not as an unexpected error', async () => {
    const sagas = new OrderSagaClient(clientFailingQueriesWith(noPollerError()), 'orders');
    const failure = await sagas.status('order-1').catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SagaUnavailableError);
    expect(failure).toMatchObject({ timedOut: false, message: 'no worker polls task queue orders, could not query the saga' });
  });

  it('leaves other failed preconditions alone', async () => {
    const other = new ServiceError('Failed to query Workflow', {
      cause: Object.assign(new Error('9 FAILED_PRECONDITION: something else'), { code: 9, details: 'something else', metadata: {} }),
    });
    const failure = await new OrderSagaClient(clientFailingQueriesWith(other), 'orders').status('order-1').catch((err: unknown) => err);
    expect(failure).toBe(other);
  });
});
