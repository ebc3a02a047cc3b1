/**
 * Issue 16, item 4, on the cluster profile, in a real browser: the standalone Web UI (ui-server)
 * signs its users in at the stack's identity provider and passes their access token to the API's
 * codec endpoint, over HTTPS as the UI requires. An operator sees an encrypted order's input
 * decoded; anyone else who signs in sees ciphertext (the endpoint answers 403); nobody sees the
 * UI's workflows without signing in.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stackCertificatesOf } from '../../infra/stack/certificates.ts';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { type buildApiApp, listenTls } from '../../src/api/app.ts';
import { AesGcmPayloadCodec } from '../../src/platform/payload-codec.ts';
import { orderWorkflowId } from '../../src/workflows/definitions.ts';
import { launchChromium, saveScreenshot } from './helpers/browser.ts';
import { buildOrchestratedApi, startOrchestratedRuntime, type OrchestratedRuntime } from './helpers/orchestrated-runtime.ts';
import { temporalUiContext } from './helpers/temporal-ui-login.ts';
import '../setup/servers.ts';

const servers = inject('servers');
const stack = loadStackConfig(inject('clusterStackEnv'));
const apiCertificate = stackCertificatesOf(stack.STACK_DATA_DIR).pairs.api;

describe("the cluster profile's Web UI: sign-in, and payloads decoded for operators only", () => {
  const codec = new AesGcmPayloadCodec([{ id: 'ui-login-test', key: randomBytes(32) }]);
  const email = `ui-login-${randomUUID().slice(0, 8)}@example.com`;
  const order = {
    orderId: randomUUID(),
    customerId: `ui-login-${randomUUID().slice(0, 8)}`,
    email,
    items: [{ sku: 'KB-001', quantity: 1 }],
    paymentRef: 'tok_approve',
  };
  const workflowPage = `${servers.temporalUiUrl}/namespaces/${servers.temporalNamespace}/workflows/${orderWorkflowId(order.orderId)}`;
  let runtime: OrchestratedRuntime;
  let browser: Browser;
  let api: Awaited<ReturnType<typeof buildApiApp>>;
  const decodeCalls: number[] = [];

  beforeAll(async () => {
    runtime = await startOrchestratedRuntime(servers, { payloadCodec: codec });
    // The API as the stack's first instance serves it: the codec endpoint for operators, on the
    // HTTPS port the UI's configuration names (API_TLS_PORT), with the stack's certificate.
    api = await buildOrchestratedApi(runtime, servers, {
      codecEndpoint: { codec, uiOrigin: new URL(servers.temporalUiUrl).origin },
      tls: { cert: readFileSync(apiCertificate.cert, 'utf8'), key: readFileSync(apiCertificate.key, 'utf8') },
    });
    api.addHook('onResponse', async (request, reply) => {
      if (request.url.startsWith('/codec/decode') && request.method === 'POST') decodeCalls.push(reply.statusCode);
    });
    await listenTls(api, { host: '127.0.0.1', port: stack.API_TLS_PORT });
    // The browser trusts the API's certificate, as a person's would once they trust the stack's CA.
    browser = await launchChromium({ trustedCertificates: [apiCertificate.cert] });
    await runtime.sagas.start(order, randomUUID());
    expect((await runtime.sagas.result(order.orderId)).status).toBe('confirmed');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await runtime?.close();
  });

  /** The workflow page's main text, signed in as `login`, once its input card shows `marker`. */
  async function workflowPageAs(login: string, marker: string, screenshot: string): Promise<string> {
    const context: BrowserContext = await temporalUiContext(browser, servers.temporalUiUrl, login);
    const page = await context.newPage();
    await page.goto(workflowPage);
    const main = page.locator('main');
    await expect.poll(() => main.innerText(), { timeout: 30_000 }).toContain(marker);
    const text = await main.innerText();
    await saveScreenshot(page, screenshot);
    await context.close();
    return text;
  }

  it('sends a visitor who has not signed in to the login page, never to the workflows', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(workflowPage);
    await page.waitForURL((url) => url.pathname === '/login', { timeout: 20_000 });
    await expect.poll(() => page.locator('body').innerText()).toContain('Continue to SSO');
    expect(await page.locator('body').innerText()).not.toContain(order.orderId);
    await context.close();
  });

  it("shows an operator the order's input decoded, email included, through the codec endpoint", async () => {
    const before = decodeCalls.length;
    const text = await workflowPageAs('operator', email, 'temporal-ui-cluster-operator-decoded');
    expect(text).toContain(order.orderId);
    expect(decodeCalls.slice(before)).toContain(200);
  });

  it('shows anyone else who signs in the ciphertext: the codec endpoint refuses their token', async () => {
    const history = await runtime.client.workflow.getHandle(orderWorkflowId(order.orderId)).fetchHistory();
    const stored = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    const ciphertext = Buffer.from(stored ?? new Uint8Array())
      .toString('base64')
      .slice(0, 40);
    expect(ciphertext).toHaveLength(40);
    const before = decodeCalls.length;
    const text = await workflowPageAs('mallory', ciphertext, 'temporal-ui-cluster-other-login-ciphertext');
    expect(text).not.toContain(email);
    expect(decodeCalls.slice(before)).toContain(403);
    expect(decodeCalls.slice(before)).not.toContain(200);
  });
});
