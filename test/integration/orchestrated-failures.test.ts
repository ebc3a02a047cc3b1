import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createOrder } from '../../src/contexts/orders/order-store.ts';
import { OrderStateConflictError } from '../../src/domain/errors.ts';
import type { OrderRequest } from '../../src/domain/order.ts';
import { orderWorkflowId } from '../../src/workflows/definitions.ts';
import type { placeOrder } from '../../src/workflows/place-order.ts';
import { orderSearchAttributeKeys } from '../../src/workflows/search-attribute-keys.ts';
import { eventsOfOrder, readAllEvents } from './helpers/event-log.ts';
import { startOrchestratedRuntime, type OrchestratedRuntime } from './helpers/orchestrated-runtime.ts';
import '../setup/servers.ts';

/**
 * Failures of the orchestrated saga that are not business outcomes, and cancels that race the
 * charge, against the real dev server, Kafka, PostgreSQL, the gateway simulator and SMTP.
 */
describe('orchestrated saga failures and early cancels on the real servers', () => {
  let runtime: OrchestratedRuntime;

  beforeAll(async () => {
    runtime = await startOrchestratedRuntime(inject('servers'));
  }, 120_000);

  afterAll(async () => {
    await runtime?.close();
  });

  const newRequest = (overrides: Partial<OrderRequest> = {}): OrderRequest => ({
    orderId: randomUUID(),
    customerId: `customer-${randomUUID().slice(0, 8)}`,
    email: 'ada@example.com',
    items: [{ sku: 'KB-001', quantity: 1 }],
    paymentRef: 'tok_approve',
    ...overrides,
  });

  /** The gateway simulator's ledger as a client sees it. */
  const chargesAtGateway = async (orderId: string): Promise<unknown[]> => {
    const response = await fetch(new URL(`/v1/charges?reference=${orderId}`, runtime.gatewayUrl));
    return ((await response.json()) as { data: unknown[] }).data;
  };

  const orderStatusAttribute = async (orderId: string) =>
    (await runtime.client.workflow.getHandle(orderWorkflowId(orderId)).describe()).typedSearchAttributes.get(orderSearchAttributeKeys.orderStatus);

  it('ends a saga whose order the database refuses (a NUL in the customer id) cancelled with reason system_error, charging nothing', async () => {
    const request = newRequest({ customerId: 'customer-\u0000-nul' });
    // Straight to the workflow: the API refuses NUL at its boundary, the saga must not depend on it.
    const handle = await runtime.client.workflow.start<typeof placeOrder>('placeOrder', {
      workflowId: orderWorkflowId(request.orderId),
      taskQueue: runtime.taskQueue,
      args: [{ request, correlationId: `corr-${request.orderId}` }],
    });

    // Before DATA_REJECTED, acceptOrder was retried forever and this never returned.
    const result = await handle.result();

    expect(result).toMatchObject({ status: 'cancelled', reason: 'system_error', currentStep: 'done', compensations: [] });
    expect(await chargesAtGateway(request.orderId)).toEqual([]);
    expect(await orderStatusAttribute(request.orderId)).toBe('cancelled');
    const events = eventsOfOrder(await readAllEvents(runtime.kafka), request.orderId);
    expect(events.map((e) => [e.type, e.data])).toEqual([['order.cancelled', { reason: 'system_error' }]]);
  });

  it('ends a saga whose order id meets a different order (ORDER_CONFLICT) cancelled with reason system_error, and a later cancel answers a conflict', async () => {
    const request = newRequest();
    // The row a first attempt would have left behind, as the orders store sees it: it compares
    // the contents and finds them different, the non-retryable failure issue 12 ran into.
    await createOrder(runtime.pool, { ...request, customerId: 'someone-else' }, 'orchestrated');

    await runtime.sagas.start(request, `corr-${request.orderId}`);
    const result = await runtime.sagas.result(request.orderId);

    expect(result).toMatchObject({ status: 'cancelled', reason: 'system_error', currentStep: 'done' });
    const { rows } = await runtime.pool.query<{ status: string; reason: string | null }>('select status, reason from orders.orders where order_id = $1', [
      request.orderId,
    ]);
    expect(rows).toEqual([{ status: 'cancelled', reason: 'system_error' }]);
    expect(await orderStatusAttribute(request.orderId)).toBe('cancelled');
    const events = eventsOfOrder(await readAllEvents(runtime.kafka), request.orderId);
    expect(events.filter((e) => e.type === 'order.cancelled').map((e) => e.data)).toEqual([{ reason: 'system_error' }]);
    await expect(runtime.sagas.cancel(request.orderId)).rejects.toBeInstanceOf(OrderStateConflictError);
  });

  it('never charges an order cancelled right after it was placed, even with a slow gateway: nothing in the ledger, order cancelled, one email', async () => {
    // A few at once: the cancel lands at different points of the first workflow tasks.
    const requests = Array.from({ length: 3 }, () => newRequest({ paymentRef: 'tok_slow_1500' }));
    const results = await Promise.all(
      requests.map(async (request) => {
        await runtime.sagas.start(request, `corr-${request.orderId}`);
        const answer = await runtime.sagas.cancel(request.orderId);
        return { answer, result: await runtime.sagas.result(request.orderId) };
      }),
    );

    for (const [i, request] of requests.entries()) {
      const { answer, result } = results[i]!;
      // The cancel is accepted before anything was charged, and the order is not cancelled yet.
      expect(answer.stepsDone).not.toContain('charge_payment');
      expect(answer.status).not.toBe('cancelled');
      expect(result).toMatchObject({ status: 'cancelled', reason: 'customer_cancelled', currentStep: 'done' });
      expect(result.compensations).not.toContain('refund_payment');
      expect(await chargesAtGateway(request.orderId)).toEqual([]);
      const mails = runtime.sink.messages.filter((m) => m.orderId === request.orderId);
      expect(mails.map((m) => m.subject)).toEqual([`Order ${request.orderId} cancelled`]);
    }
  });
});
