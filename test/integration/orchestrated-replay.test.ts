// First: the worker traces like the stack's worker does (the OpenTelemetry workflow interceptors),
// and tracing must start before any module loads pg.
import { tracing } from './helpers/in-memory-tracing.ts';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { temporal } from '@temporalio/proto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createOrder } from '../../src/contexts/orders/order-store.ts';
import type { OrderRequest } from '../../src/domain/order.ts';
import { orderWorkflowId, type OrderSagaStatus } from '../../src/workflows/definitions.ts';
import { startOrchestratedRuntime, type OrchestratedRuntime } from './helpers/orchestrated-runtime.ts';
import '../setup/servers.ts';

const require = createRequire(import.meta.url);
/** Where RECORD_HISTORIES=1 writes the histories of this file: the replay test replays them all. */
export const devServerHistoriesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'workflows', 'histories', 'recorded-on-dev-server');
const workflowsPath = require.resolve('../../src/workflows/index.ts');
const otelWorkflowInterceptors = require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

/** One saga driven the way the API and a reviewer drive it, updates included. */
interface Drive {
  name: string;
  request: Partial<OrderRequest>;
  run(runtime: OrchestratedRuntime, request: OrderRequest): Promise<void>;
  expected: Pick<OrderSagaStatus, 'status' | 'reason'>;
}

const reviewed = [{ sku: 'LT-004', quantity: 1 }];

const waitForStatus = async (runtime: OrchestratedRuntime, orderId: string, status: string) => {
  for (let i = 0; i < 300; i++) {
    if ((await runtime.sagas.status(orderId).catch(() => undefined))?.status === status) return;
    await sleep(100);
  }
  throw new Error(`order ${orderId} never reached ${status}`);
};

const drives: Drive[] = [
  { name: 'approved card confirms the order', request: {}, run: async () => {}, expected: { status: 'confirmed', reason: null } },
  {
    name: 'reviewed order approved by update',
    request: { items: reviewed },
    run: async (runtime, { orderId }) => {
      await waitForStatus(runtime, orderId, 'awaiting_review');
      await runtime.sagas.approve(orderId);
    },
    expected: { status: 'confirmed', reason: null },
  },
  {
    name: 'reviewed order rejected by update',
    request: { items: reviewed },
    run: async (runtime, { orderId }) => {
      await waitForStatus(runtime, orderId, 'awaiting_review');
      await runtime.sagas.reject(orderId);
    },
    expected: { status: 'cancelled', reason: 'review_rejected' },
  },
  {
    name: 'reviewed order cancelled by update',
    request: { items: reviewed },
    run: async (runtime, { orderId }) => {
      await waitForStatus(runtime, orderId, 'awaiting_review');
      await runtime.sagas.cancel(orderId);
    },
    expected: { status: 'cancelled', reason: 'customer_cancelled' },
  },
  {
    name: 'order cancelled by update right after it was placed',
    request: { paymentRef: 'tok_slow_1500' },
    run: async (runtime, { orderId }) => {
      await runtime.sagas.cancel(orderId);
    },
    expected: { status: 'cancelled', reason: 'customer_cancelled' },
  },
  {
    name: 'order cancelled by update while the gateway captures',
    request: { paymentRef: 'tok_approve' },
    run: async () => {}, // the gateway's onCapture sends the cancel
    expected: { status: 'cancelled', reason: 'customer_cancelled' },
  },
  {
    name: 'order id conflict ends the order cancelled with system error',
    request: {},
    run: async () => {}, // a different order with the same id is created before the saga starts
    expected: { status: 'cancelled', reason: 'system_error' },
  },
];

const fileName = (name: string) => `${name.replaceAll(/[^a-z0-9]+/gi, '-').toLowerCase()}.json`;

describe('sagas on the real dev server, traced like the stack worker, replay with and without the workflow interceptors', () => {
  let runtime: OrchestratedRuntime;
  const cancelOnCapture = new Set<string>();
  const histories: { name: string; history: temporal.api.history.v1.IHistory }[] = [];

  beforeAll(async () => {
    runtime = await startOrchestratedRuntime(inject('servers'), {
      tracing,
      gateway: {
        onCapture: async (charge) => {
          if (cancelOnCapture.has(charge.reference)) await runtime.sagas.cancel(charge.reference);
        },
      },
    });
    await Promise.all(
      drives.map(async (drive) => {
        const request: OrderRequest = {
          orderId: randomUUID(),
          customerId: 'customer-replay',
          email: 'ada@example.com',
          items: [{ sku: 'KB-001', quantity: 1 }],
          paymentRef: 'tok_approve',
          ...drive.request,
        };
        if (drive.name.includes('while the gateway captures')) cancelOnCapture.add(request.orderId);
        if (drive.expected.reason === 'system_error') await createOrder(runtime.pool, { ...request, customerId: 'someone-else' }, 'orchestrated');
        await runtime.sagas.start(request, `corr-${request.orderId}`);
        await drive.run(runtime, request);
        const result = await runtime.sagas.result(request.orderId);
        expect({ name: drive.name, status: result.status, reason: result.reason }).toEqual({ name: drive.name, ...drive.expected });
        histories.push({ name: drive.name, history: await runtime.client.workflow.getHandle(orderWorkflowId(request.orderId)).fetchHistory() });
      }),
    );
    if (process.env.RECORD_HISTORIES === '1') {
      mkdirSync(devServerHistoriesDir, { recursive: true });
      for (const { name, history } of histories) writeFileSync(join(devServerHistoriesDir, fileName(name)), `${historyToJSON(history)}\n`);
    }
  }, 120_000);

  afterAll(async () => {
    await runtime?.close();
  });

  const replay = async (interceptors: { workflowModules: string[] } | undefined) => {
    const results: { name: string; error?: string }[] = [];
    const input = histories.map(({ name, history }) => ({ workflowId: name, history }));
    for await (const result of Worker.runReplayHistories({ workflowsPath, ...(interceptors ? { interceptors } : {}) }, input)) {
      results.push({ name: result.workflowId, ...(result.error ? { error: String(result.error) } : {}) });
    }
    return results.sort((a, b) => a.name.localeCompare(b.name));
  };
  const clean = () => histories.map(({ name }) => ({ name })).sort((a, b) => a.name.localeCompare(b.name));

  it('replays every history without the workflow interceptors (as the replay test and a worker without tracing do)', async () => {
    expect(histories).toHaveLength(drives.length);
    expect(await replay(undefined)).toEqual(clean());
  });

  it('replays every history with the OpenTelemetry workflow interceptors the worker ran with', async () => {
    expect(await replay({ workflowModules: [otelWorkflowInterceptors] })).toEqual(clean());
  });
});
