/**
 * Command line for orders in either flow (`npm run order -- <command>`), through the flows port
 * (src/flows), as the HTTP API goes:
 *   place [--flow orchestrated|choreographed] [--items KB-001:2,MS-002:1] [--token tok_approve] [--customer id] [--email addr] [--wait]
 *   status|approve|reject|cancel <orderId>
 * A command on an existing order goes to the flow that runs it (the orders context records it).
 * It reaches the Temporal frontend of TEMPORAL_ADDRESS (only when an order is orchestrated) and
 * PostgreSQL on DATABASE_URL (defaults: the local stack). Unlike the API it reads an order from
 * its flow, not from the read model.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Type } from 'typebox';
import type { Flow, OrderLine } from '../domain/order.ts';
import type { OrderCommand, OrderFlowStatus } from '../flows/order-flows.ts';
import { runCli } from '../platform/cli.ts';
import { paymentVaultOf } from '../contexts/payments/payment-vault.ts';
import { DatabaseEnv, PaymentVaultEnv, TemporalEnv, loadConfig } from '../platform/config.ts';
import { createPool } from '../platform/database.ts';
import { orderWorkflowId } from '../domain/order.ts';
import { openOrderFlows } from '../workers/order-flows.ts';

const usage = `usage: npm run order -- place [--flow orchestrated|choreographed] [--items KB-001:2,MS-002:1] [--token tok_approve] [--customer id] [--email addr] [--wait]
       npm run order -- status|approve|reject|cancel <orderId>
tokens: tok_approve, tok_decline, tok_fail_<N>, tok_slow_<ms>, tok_unavailable
skus:   KB-001 89.00, MS-002 29.00, MN-003 329.00, LT-004 1499.00 (reviewed), CB-005 9.00, LTD-006 (sold out)`;

const flows: readonly Flow[] = ['orchestrated', 'choreographed'];
const commands: readonly string[] = ['cancel', 'approve', 'reject'] satisfies OrderCommand[];
/** How long `--wait` waits for the order to end (one waiting for review waits for a reviewer). */
const waitLimitMs = 5 * 60_000;
const ended = (status: OrderFlowStatus) => status.status === 'confirmed' || status.status === 'cancelled';

/** Parses `KB-001:2,MS-002:1` into order lines. */
export function parseItems(text: string): OrderLine[] {
  return text.split(',').map((part) => {
    const [sku, quantity = '1'] = part.trim().split(':');
    if (!sku || !/^\d+$/.test(quantity) || Number(quantity) < 1) throw new Error(`bad item "${part}": expected SKU:QUANTITY, e.g. KB-001:2`);
    return { sku, quantity: Number(quantity) };
  });
}

/**
 * Like the other defaults, the local stack's: its payload key ring (infra/stack/payload-keys.ts)
 * when the CLI is aimed at the stack's Temporal and no keys are configured, so that it reads the
 * encrypted payloads of the stack's workflows.
 */
function stackPayloadKeys(env: NodeJS.ProcessEnv): Record<string, string> {
  const file = fileURLToPath(new URL('../../.data/secrets/temporal-payload-keys.json', import.meta.url));
  const configured = env.TEMPORAL_ADDRESS || env.TEMPORAL_PAYLOAD_KEYS || env.TEMPORAL_PAYLOAD_KEYS_FILE;
  return !configured && existsSync(file) ? { TEMPORAL_PAYLOAD_KEYS_FILE: file } : {};
}

/** The same for the stack's payment vault keys (infra/stack/payload-keys.ts), which placing an order needs. */
function stackVaultKeys(env: NodeJS.ProcessEnv): Record<string, string> {
  const file = fileURLToPath(new URL('../../.data/secrets/payment-vault-keys.json', import.meta.url));
  const configured = env.DATABASE_URL || env.PAYMENT_VAULT_KEYS || env.PAYMENT_VAULT_KEYS_FILE;
  return !configured && existsSync(file) ? { PAYMENT_VAULT_KEYS_FILE: file } : {};
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
      // Chooses the flow of a new order; a command on an order goes to the flow that runs it.
      flow: { type: 'string', default: 'orchestrated' },
    },
  });
  const [command, orderId] = positionals;
  const flow = flows.find((f) => f === values.flow);
  const known = command === 'place' || (orderId !== undefined && (command === 'status' || commands.includes(command ?? '')));
  if (!flow || !known) {
    console.error(usage);
    return 2;
  }

  const config = loadConfig(
    Type.Object({ ...TemporalEnv, ...DatabaseEnv, ...PaymentVaultEnv, TEMPORAL_UI_URL: Type.String({ default: 'http://localhost:8233' }) }),
    { ...stackPayloadKeys(process.env), ...stackVaultKeys(process.env), ...process.env },
  );
  const pool = createPool(config.DATABASE_URL, 2);
  // Only placing needs the vault's keys: the other commands run without them.
  const { flows: orders, close: closeFlows } = openOrderFlows(pool, config, { store: (db, entry) => paymentVaultOf(config).store(db, entry) });
  const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));
  try {
    if (command === 'place') {
      const request = { orderId: randomUUID(), customerId: values.customer, email: values.email, items: parseItems(values.items), paymentToken: values.token };
      await orders.place(flow, request, randomUUID());
      const workflowId = orderWorkflowId(request.orderId);
      print({
        orderId: request.orderId,
        flow,
        ...(flow === 'orchestrated' ? { workflowId, webUi: `${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/${workflowId}` } : {}),
      });
      if (values.wait) {
        const status = () => orders.flow(flow).status(request.orderId);
        const deadline = Date.now() + waitLimitMs;
        let last = await status();
        while (!ended(last) && Date.now() < deadline) {
          await sleep(200);
          last = await status();
        }
        print(last);
      }
      return 0;
    }
    if (command !== 'status') await orders.command(orderId!, command as OrderCommand);
    print(await orders.status(orderId!));
    return 0;
  } finally {
    await closeFlows();
    await pool.end();
  }
}

runCli(main);
