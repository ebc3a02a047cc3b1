/**
 * Issue 16, item 4: the orchestrated flow with the AES-256-GCM payload codec on the client and the
 * worker, against the integration suite's Temporal. The server's own history (read by a client
 * without the codec, as the Web UI and anyone with access to Temporal read it) holds no email in
 * clear; the codec client and the API's codec endpoint read it back.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AesGcmPayloadCodec } from '../../src/platform/payload-codec.ts';
import { orderWorkflowId } from '../../src/workflows/definitions.ts';
import { signedIn, testAuth } from './helpers/auth.ts';
import { buildOrchestratedApi, startOrchestratedRuntime, type OrchestratedRuntime } from './helpers/orchestrated-runtime.ts';
import '../setup/servers.ts';

const servers = inject('servers');
const uiOrigin = 'http://localhost:8233';

const base64 = /^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The whole history as text, with every bytes field (payload data and metadata, which the JSON
 * form writes as base64) also decoded, so that a search sees what the server stores.
 */
function historyText(history: unknown): string {
  return JSON.stringify(history, (_key, value: unknown) => {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('latin1');
    if (typeof value === 'string' && value.length >= 4 && base64.test(value)) return `${value} ${Buffer.from(value, 'base64').toString('latin1')}`;
    return value;
  });
}

describe('encrypted workflow payloads', () => {
  const codec = new AesGcmPayloadCodec([{ id: 'test-2026-11', key: randomBytes(32) }]);
  let runtime: OrchestratedRuntime;
  let plainClient: Client;
  const email = `secret-${randomUUID().slice(0, 8)}@example.com`;
  const order = {
    orderId: randomUUID(),
    customerId: `enc-${randomUUID().slice(0, 8)}`,
    email,
    items: [{ sku: 'KB-001', quantity: 1 }],
    paymentRef: 'tok_approve',
  };

  const { verifier, tokens } = testAuth(servers);

  /**
   * The API over this runtime, serving the codec endpoint (operators only, its default) when
   * `codecEndpoint` is given. Its requests carry no token unless they say so: see {@link operatorApp}.
   */
  const apiApp = (codecEndpoint?: { codec: AesGcmPayloadCodec; uiOrigin: string }) =>
    buildOrchestratedApi(runtime, servers, { temporalUiUrl: uiOrigin, auth: verifier, ...(codecEndpoint ? { codecEndpoint } : {}) });
  /** {@link apiApp}, whose requests carry an operator's token (helpers/auth.ts), as the Web UI of an operator who logged in passes it. */
  const operatorApp = async (codecEndpoint?: { codec: AesGcmPayloadCodec; uiOrigin: string }) => signedIn(await apiApp(codecEndpoint), tokens);

  beforeAll(async () => {
    runtime = await startOrchestratedRuntime(servers, { payloadCodec: codec });
    // Shares the connection, not the codec: it sees the history as the server stores it.
    plainClient = new Client({ connection: runtime.client.connection, namespace: servers.temporalNamespace });
    await runtime.sagas.start(order, randomUUID());
    expect((await runtime.sagas.result(order.orderId)).status).toBe('confirmed');
  }, 60_000);

  afterAll(async () => {
    await runtime?.close();
  });

  it('keeps the customer email out of the raw history, while clients with the codec confirm and read the order', async () => {
    const raw = historyText(await plainClient.workflow.getHandle(orderWorkflowId(order.orderId)).fetchHistory());
    expect(raw).toContain('binary/encrypted');
    expect(raw).toContain('test-2026-11');
    expect(raw).not.toContain(email);
    expect(raw).not.toContain(Buffer.from(email).toString('base64'));

    const status = await runtime.sagas.status(order.orderId);
    expect(status.status).toBe('confirmed');
    const described = await runtime.client.workflow.getHandle(orderWorkflowId(order.orderId)).describe();
    expect(described.status.name).toBe('COMPLETED');
  });

  it("decodes a payload of the raw history back to the email for an operator's token through the codec endpoint, answering CORS for the Web UI", async () => {
    const history = await plainClient.workflow.getHandle(orderWorkflowId(order.orderId)).fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    expect(Buffer.from(input?.metadata?.encoding ?? new Uint8Array()).toString()).toBe('binary/encrypted');
    const toBase64 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('base64');
    const encrypted = {
      metadata: Object.fromEntries(Object.entries(input?.metadata ?? {}).map(([k, v]) => [k, toBase64(v)])),
      data: toBase64(input?.data),
    };

    const app = await apiApp({ codec, uiOrigin });
    try {
      // A preflight carries no credentials; it must let the UI send its token.
      const preflight = await app.inject({
        method: 'OPTIONS',
        url: '/codec/decode',
        headers: { origin: uiOrigin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-namespace' },
      });
      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe(uiOrigin);
      expect(String(preflight.headers['access-control-allow-headers']).toLowerCase()).toContain('x-namespace');
      expect(String(preflight.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');

      const decoded = await app.inject({
        method: 'POST',
        url: '/codec/decode',
        headers: { origin: uiOrigin, 'x-namespace': servers.temporalNamespace, ...(await tokens.headers({ role: 'operator' })) },
        payload: { payloads: [encrypted] },
      });
      expect(decoded.statusCode).toBe(200);
      expect(decoded.headers['access-control-allow-origin']).toBe(uiOrigin);
      const [payload] = decoded.json<{ payloads: { metadata: Record<string, string>; data: string }[] }>().payloads;
      expect(Buffer.from(payload?.metadata.encoding ?? '', 'base64').toString()).toBe('json/plain');
      expect(JSON.parse(Buffer.from(payload?.data ?? '', 'base64').toString())).toMatchObject({ request: { email, orderId: order.orderId } });
    } finally {
      await app.close();
    }
  });

  it('answers a payload of an unknown key with 400 naming the key id, in the error shape', async () => {
    const [foreign] = await new AesGcmPayloadCodec([{ id: 'someone-elses-key', key: randomBytes(32) }]).encode([
      { metadata: { encoding: new Uint8Array(Buffer.from('json/plain')) }, data: new Uint8Array(Buffer.from('"x"')) },
    ]);
    const app = await operatorApp({ codec, uiOrigin });
    try {
      const toBase64 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('base64');
      const response = await app.inject({
        method: 'POST',
        url: '/codec/decode',
        payload: {
          payloads: [
            { metadata: Object.fromEntries(Object.entries(foreign?.metadata ?? {}).map(([k, v]) => [k, toBase64(v)])), data: toBase64(foreign?.data) },
          ],
        },
      });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ statusCode: 400, code: 'PAYLOAD_KEY_UNKNOWN', error: 'Bad Request' });
      expect(response.json<{ message: string }>().message).toContain('someone-elses-key');
    } finally {
      await app.close();
    }
  });

  it('encodes a payload through the codec endpoint with the newest key, for input the Web UI sends (signals, starts)', async () => {
    const app = await operatorApp({ codec, uiOrigin });
    try {
      const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from(JSON.stringify({ email })).toString('base64') };
      const encoded = await app.inject({ method: 'POST', url: '/codec/encode', payload: { payloads: [plain] } });
      expect(encoded.statusCode).toBe(200);
      const [encrypted] = encoded.json<{ payloads: { metadata: Record<string, string>; data: string }[] }>().payloads;
      expect(Buffer.from(encrypted?.metadata['encryption-key-id'] ?? '', 'base64').toString()).toBe('test-2026-11');
      expect(Buffer.from(encrypted?.data ?? '', 'base64').toString('latin1')).not.toContain(email);
      const decoded = await app.inject({ method: 'POST', url: '/codec/decode', payload: encoded.json() });
      expect(decoded.json()).toEqual({ payloads: [plain] });
    } finally {
      await app.close();
    }
  });

  it('answers the codec endpoint 401 without a token and 403 to a customer, so that only operators read payloads', async () => {
    const app = await apiApp({ codec, uiOrigin });
    try {
      const anonymous = await app.inject({ method: 'POST', url: '/codec/decode', headers: { origin: uiOrigin }, payload: { payloads: [] } });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json()).toMatchObject({ statusCode: 401, code: 'UNAUTHENTICATED', error: 'Unauthorized' });
      expect(anonymous.headers['www-authenticate']).toBe('Bearer');
      const customer = await app.inject({
        method: 'POST',
        url: '/codec/encode',
        headers: await tokens.headers({ role: 'customer', customerId: order.customerId }),
        payload: { payloads: [] },
      });
      expect(customer.statusCode).toBe(403);
      expect(customer.json()).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' });
    } finally {
      await app.close();
    }
  });

  it('serves no codec endpoint unless it is enabled', async () => {
    const app = await operatorApp();
    try {
      expect((await app.inject({ method: 'POST', url: '/codec/decode', payload: { payloads: [] } })).statusCode).toBe(404);
    } finally {
      await app.close();
    }
  });
});
