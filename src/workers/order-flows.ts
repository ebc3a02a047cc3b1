/**
 * Not a process: the wiring of the flows port (src/flows), shared by the api process and the
 * order CLI. It is the one module that puts the two flows' implementations behind the port, so
 * that neither the API nor the CLI imports src/orchestration or src/choreography.
 */
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import type { Static, TObject } from 'typebox';
import { ChoreographedFlow } from '../choreography/choreographed-flow.ts';
import { sealPersonalData } from '../contexts/customers/personal-data.ts';
import { flowOf, getOrder } from '../contexts/orders/order-store.ts';
import type { PaymentVault } from '../contexts/payments/payment-vault.ts';
import type { OrderFlows } from '../flows/order-flows.ts';
import { createOrderRouter } from '../flows/order-router.ts';
import { OrchestratedFlow } from '../orchestration/orchestrated-flow.ts';
import { OrderSagaClient } from '../orchestration/order-saga-client.ts';
import type { TemporalEnv } from '../platform/config.ts';
import { dataConverterOf, payloadCodecOf } from '../platform/payload-codec.ts';
import { temporalConnectionOptions } from '../platform/temporal-connection.ts';

/**
 * Both flows behind the port: the orchestrated one on `sagas`, the choreographed one on `pool`,
 * and the orders context (on `pool`) says which flow runs an order; new orders' payment tokens go
 * into the payments `vault` (on `pool`).
 */
export function wireOrderFlows(deps: { pool: pg.Pool; sagas: OrderSagaClient; vault: Pick<PaymentVault, 'store'> }): OrderFlows {
  return createOrderRouter({
    flows: { orchestrated: new OrchestratedFlow(deps.sagas), choreographed: new ChoreographedFlow(deps.pool) },
    flowOf: (orderId) => flowOf(deps.pool, orderId),
    recordOf: (orderId) => getOrder(deps.pool, orderId),
    vaultPaymentToken: (entry) => deps.vault.store(deps.pool, entry),
    sealPersonalData: (customerId, value) => sealPersonalData(deps.pool, customerId, value),
  });
}

/**
 * {@link wireOrderFlows} with a saga client of its own on a lazy Temporal connection: it
 * connects on the first orchestrated call only, so choreographed orders need no Temporal.
 * Payloads go through the payload codec the settings configure (TEMPORAL_PAYLOAD_KEYS*), if any.
 * `close` closes that connection (not the pool).
 */
export function openOrderFlows(
  pool: pg.Pool,
  temporal: Static<TObject<typeof TemporalEnv>>,
  vault: Pick<PaymentVault, 'store'>,
): { flows: OrderFlows; close: () => Promise<void> } {
  const connection = Connection.lazy(temporalConnectionOptions(temporal));
  const sagas = new OrderSagaClient(
    new Client({ connection, namespace: temporal.TEMPORAL_NAMESPACE, dataConverter: dataConverterOf(payloadCodecOf(temporal)) }),
    temporal.TEMPORAL_TASK_QUEUE,
  );
  return { flows: wireOrderFlows({ pool, sagas, vault }), close: () => connection.close() };
}
