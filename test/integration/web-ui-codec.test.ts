/**
 * Issue 16, item 4, in a real browser: the Temporal Web UI shows an encrypted order's input as
 * ciphertext, and decoded once it is pointed at the API's codec endpoint (here through the UI's
 * own per-browser codec setting, as the suite's dev server runs without --ui-codec-endpoint).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type buildApiApp } from '../../src/api/app.ts';
import { AesGcmPayloadCodec } from '../../src/platform/payload-codec.ts';
import { orderWorkflowId } from '../../src/workflows/definitions.ts';
import { launchChromium, saveScreenshot } from './helpers/browser.ts';
import { buildOrchestratedApi, startOrchestratedRuntime, type OrchestratedRuntime } from './helpers/orchestrated-runtime.ts';
import '../setup/servers.ts';

const servers = inject('servers');

describe('the Temporal Web UI and encrypted payloads, in a real browser', () => {
  const codec = new AesGcmPayloadCodec([{ id: 'ui-test', key: randomBytes(32) }]);
  const email = `ui-${randomUUID().slice(0, 8)}@example.com`;
  const order = {
    orderId: randomUUID(),
    customerId: `ui-${randomUUID().slice(0, 8)}`,
    email,
    items: [{ sku: 'KB-001', quantity: 1 }],
    paymentRef: 'tok_approve',
  };
  const workflowPage = `${servers.temporalUiUrl}/namespaces/${servers.temporalNamespace}/workflows/${orderWorkflowId(order.orderId)}`;
  let runtime: OrchestratedRuntime;
  let browser: Browser;
  let api: Awaited<ReturnType<typeof buildApiApp>>;
  let codecEndpoint: string;

  beforeAll(async () => {
    runtime = await startOrchestratedRuntime(servers, { payloadCodec: codec });
    api = await buildOrchestratedApi(runtime, servers, {
      // Public, exactly as the stack's dev profile serves it (TEMPORAL_CODEC_ENDPOINT_PUBLIC, on a
      // loopback API only): the Temporal dev server's Web UI has no login, so it has no token to pass.
      codecEndpoint: { codec, uiOrigin: new URL(servers.temporalUiUrl).origin, access: 'public' },
    });
    codecEndpoint = `${await api.listen({ port: 0, host: '127.0.0.1' })}/codec`;
    browser = await launchChromium();
    await runtime.sagas.start(order, randomUUID());
    expect((await runtime.sagas.result(order.orderId)).status).toBe('confirmed');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await runtime?.close();
  });

  /** The text of the workflow page's main area once its input card shows `marker`. */
  async function workflowPageText(endpoint: string | undefined, marker: string, screenshot: string): Promise<string> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    // The UI's own codec setting (Settings > Codec Server), kept in localStorage as JSON; the
    // override flag makes it win over the server's (absent) --ui-codec-endpoint.
    if (endpoint) {
      await page.addInitScript((value) => {
        const storage = (globalThis as unknown as { localStorage: { setItem(key: string, value: string): void } }).localStorage;
        storage.setItem('endpoint', JSON.stringify(value));
        storage.setItem('overrideRemoteCodecConfiguration', 'true');
      }, endpoint);
    }
    await page.goto(workflowPage);
    const main = page.locator('main');
    await expect.poll(() => main.innerText(), { timeout: 20_000 }).toContain(marker);
    const text = await main.innerText();
    await saveScreenshot(page, screenshot);
    await page.close();
    return text;
  }

  it("shows the order's input as ciphertext without the codec endpoint", async () => {
    // What the server stores: the start of the encrypted input, as the UI prints bytes it cannot decode (base64).
    const history = await runtime.client.workflow.getHandle(orderWorkflowId(order.orderId)).fetchHistory();
    const stored = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    const ciphertext = Buffer.from(stored ?? new Uint8Array())
      .toString('base64')
      .slice(0, 40);
    expect(ciphertext).toHaveLength(40);
    const text = await workflowPageText(undefined, ciphertext, 'temporal-ui-encrypted-input');
    expect(text).not.toContain(email);
  });

  it("shows the order's input decoded, email included, through the API's codec endpoint", async () => {
    const text = await workflowPageText(codecEndpoint, email, 'temporal-ui-decoded-input');
    expect(text).toContain(order.orderId);
  });
});
