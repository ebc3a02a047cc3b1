import { ServiceError, type Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
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

describe('the saga client', () => {
  it('reports a query refused because no worker polls as Temporal being unavailable, not as an unexpected error', async () => {
    const sagas = new OrderSagaClient(clientFailingQueriesWith(noPollerError()), 'orders');
    const failure = await sagas.status('order-1').catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SagaUnavailableError);
    expect(failure).toMatchObject({ timedOut: false, message: 'no worker polls task queue orders, could not query the saga' });
  });

  it('leaves other failed preconditions alone', async () => {
    const other = new ServiceError('Failed to query Workflow', { cause: Object.assign(new Error('9 FAILED_PRECONDITION: something else'), { code: 9, details: 'something else', metadata: {} }) });
    const failure = await new OrderSagaClient(clientFailingQueriesWith(other), 'orders').status('order-1').catch((err: unknown) => err);
    expect(failure).toBe(other);
  });
});
