/**
 * Command line for both flows until the HTTP API exists (`npm run order -- <command>`):
 *   place [--flow orchestrated|choreographed] [--items KB-001:2,MS-002:1] [--token tok_approve] [--customer id] [--email addr] [--wait]
 *   status|approve|reject|cancel <orderId> [--flow ...]
 * The orchestrated flow goes through the Temporal frontend of TEMPORAL_ADDRESS; the choreographed
 * flow through the orders context's commands on DATABASE_URL (defaults: the local stack).
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { Type } from 'typebox';
import { setTimeout as sleep } from 'node:timers/promises';
import { cancelOrder, decideReview, placeOrder } from '../choreography/order-commands.ts';
import { getOrder } from '../contexts/orders/order-store.ts';
import type { OrderLine } from '../domain/order.ts';
import { OrderSagaClient } from '../orchestration/order-saga-client.ts';
import { runCli } from '../platform/cli.ts';
import { DatabaseEnv, TemporalEnv, loadConfig } from '../platform/config.ts';
import { createPool } from '../platform/database.ts';
import { temporalConnectionOptions } from '../platform/temporal-connection.ts';

const usage = `usage: npm run order -- place [--flow orchestrated|choreographed] [--items KB-001:2,MS-002:1] [--token tok_approve] [--customer id] [--email addr] [--wait]
       npm run order -- status|approve|reject|cancel <orderId> [--flow orchestrated|choreographed]
tokens: tok_approve, tok_decline, tok_fail_<N>, tok_slow_<ms>, tok_unavailable
skus:   KB-001 89.00, MS-002 29.00, MN-003 329.00, LT-004 1499.00 (reviewed), CB-005 9.00, LTD-006 (sold out)`;

/** Parses `KB-001:2,MS-002:1` into order lines. */
export function parseItems(text: string): OrderLine[] {
  return text.split(',').map((part) => {
    const [sku, quantity = '1'] = part.trim().split(':');
    if (!sku || !/^\d+$/.test(quantity) || Number(quantity) < 1) throw new Error(`bad item "${part}": expected SKU:QUANTITY, e.g. KB-001:2`);
    return { sku, quantity: Number(quantity) };
  });
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      items: { type: 'string', default: 'KB-001:2,MS-002:1' },
      token: { type: 'string', default: 'tok_approve' },
      customer: { type: 'string', default: 'customer-cli' },
      email: { type: 'string', default: 'customer@example.com' },
      wait: { type: 'boolean', default: false },
      flow: { type: 'string', default: 'orchestrated' },
    },
  });
  const [command, orderId] = positionals;
  if (values.flow === 'choreographed') return choreographed(command, orderId, values);
  if (values.flow !== 'orchestrated') {
    console.error(usage);
    return 2;
  }
  const config = loadConfig(Type.Object({ ...TemporalEnv, TEMPORAL_UI_URL: Type.String({ default: 'http://localhost:8233' }) }));
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const sagas = new OrderSagaClient(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), config.TEMPORAL_TASK_QUEUE);
  const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));
  try {
    if (command === 'place') {
      const request = { orderId: randomUUID(), customerId: values.customer, email: values.email, items: parseItems(values.items), paymentToken: values.token };
      const { workflowId, runId } = await sagas.start(request, randomUUID());
      print({ orderId: request.orderId, workflowId, webUi: `${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/${workflowId}/${runId}/history` });
      if (values.wait) print(await sagas.result(request.orderId));
      return 0;
    }
    if (!orderId || !['status', 'approve', 'reject', 'cancel'].includes(command ?? '')) {
      console.error(usage);
      return 2;
    }
    const run = { status: () => sagas.status(orderId), approve: () => sagas.approve(orderId), reject: () => sagas.reject(orderId), cancel: () => sagas.cancel(orderId) }[command as 'status'];
    print(await run());
    return 0;
  } finally {
    await connection.close();
  }
}

/** The same commands for the choreographed flow: the orders context's commands and its table. */
async function choreographed(command: string | undefined, orderId: string | undefined, values: { items: string; token: string; customer: string; email: string; wait: boolean }): Promise<number> {
  const config = loadConfig(Type.Object({ ...DatabaseEnv }));
  const pool = createPool(config.DATABASE_URL, 2);
  const status = async (id: string) => {
    const order = await getOrder(pool, id);
    return { orderId: id, flow: order.flow, status: order.status, reason: order.reason, total: order.total };
  };
  try {
    if (command === 'place') {
      const request = { orderId: randomUUID(), customerId: values.customer, email: values.email, items: parseItems(values.items), paymentToken: values.token };
      await placeOrder(pool, request, randomUUID());
      console.log(JSON.stringify({ orderId: request.orderId, flow: 'choreographed' }, null, 2));
      if (values.wait) {
        for (let i = 0; i < 600 && !['confirmed', 'cancelled'].includes((await status(request.orderId)).status); i++) await sleep(100);
        console.log(JSON.stringify(await status(request.orderId), null, 2));
      }
      return 0;
    }
    if (!orderId) {
      console.error(usage);
      return 2;
    }
    if (command === 'cancel') await cancelOrder(pool, orderId);
    else if (command === 'approve' || command === 'reject') await decideReview(pool, orderId, command);
    else if (command !== 'status') {
      console.error(usage);
      return 2;
    }
    console.log(JSON.stringify(await status(orderId), null, 2));
    return 0;
  } finally {
    await pool.end();
  }
}

runCli(main);
