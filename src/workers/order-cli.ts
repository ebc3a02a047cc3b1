/**
 * Command line for the orchestrated flow until the HTTP API exists (`npm run order -- <command>`):
 *   place [--items KB-001:2,MS-002:1] [--token tok_approve] [--customer id] [--email addr] [--wait]
 *   status <orderId> | approve <orderId> | reject <orderId> | cancel <orderId>
 * Talks to the Temporal frontend of TEMPORAL_ADDRESS (default: the local stack).
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { Type } from 'typebox';
import { OrderSagaError } from '../domain/errors.ts';
import type { OrderLine } from '../domain/order.ts';
import { OrderSagaClient } from '../orchestration/order-saga-client.ts';
import { TemporalEnv, loadConfig } from '../platform/config.ts';
import { temporalConnectionOptions } from '../platform/temporal-connection.ts';

const usage = `usage: npm run order -- place [--items KB-001:2,MS-002:1] [--token tok_approve] [--customer id] [--email addr] [--wait]
       npm run order -- status|approve|reject|cancel <orderId>
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
    },
  });
  const [command, orderId] = positionals;
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
  } catch (err) {
    if (err instanceof OrderSagaError) {
      console.error(`${err.code}: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await connection.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
