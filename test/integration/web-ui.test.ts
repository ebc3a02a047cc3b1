/**
 * The two web pages a person opens first, in a real browser (Debian's Chromium, headless):
 * the Temporal Web UI showing an orchestrated order's saga, and Swagger UI listing the API.
 * Screenshots land in test-artifacts/browser/.
 */
import { randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { orderWorkflowId } from '../../src/workflows/definitions.ts';
import { launchChromium, saveScreenshot } from './helpers/browser.ts';
import { eventually } from './helpers/choreography-scenarios.ts';
import { buildOrchestratedApi, startOrchestratedRuntime, type OrchestratedRuntime } from './helpers/orchestrated-runtime.ts';
import { temporalUiContext } from './helpers/temporal-ui-login.ts';
import '../setup/servers.ts';

const servers = inject('servers');
const workflowsPage = `${servers.temporalUiUrl}/namespaces/${servers.temporalNamespace}/workflows`;

/** Adds one "<attribute> = <value>" filter with the list page's Add Filter menu, as a person would. */
async function addFilter(page: Page, attribute: string, value: string) {
  await page.locator('#workflow-search-attribute-filter-button').click();
  await page.getByPlaceholder('Search').last().fill(attribute);
  await page.getByRole('menuitem', { name: new RegExp(`^${attribute} Keyword$`) }).click();
  await page.getByPlaceholder('Enter value...').fill(value);
  await page.getByRole('button', { name: 'Apply' }).click();
}

/** Workflow ids of the rows the list shows, once the list has settled on `expectedCount` rows. */
async function listedWorkflowIds(page: Page, expectedCount: number): Promise<string[]> {
  const rows = page.getByRole('checkbox', { name: /^Select Workflow / });
  await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(expectedCount);
  const labels = await Promise.all((await rows.all()).map((row) => row.getAttribute('aria-label')));
  return labels.map((label) => (label ?? '').replace(/^Select Workflow /, ''));
}

/** The text of the page's main area, once it contains `marker`. */
async function mainTextWith(page: Page, marker: string): Promise<string> {
  const main = page.locator('main');
  await expect.poll(() => main.innerText(), { timeout: 15_000 }).toContain(marker);
  return main.innerText();
}

describe('in a real browser', () => {
  let runtime: OrchestratedRuntime;
  let browser: Browser;
  /** The Temporal Web UI's pages: signed in as an operator where the UI has a login (cluster profile). */
  let ui: BrowserContext;
  const customerId = `web-ui-${randomUUID().slice(0, 8)}`;
  const confirmed = { orderId: randomUUID(), customerId, email: 'ada@example.com', items: [{ sku: 'KB-001', quantity: 1 }], paymentRef: 'tok_approve' };
  const declined = { ...confirmed, orderId: randomUUID(), paymentRef: 'tok_decline' };

  beforeAll(async () => {
    runtime = await startOrchestratedRuntime(servers);
    browser = await launchChromium();
    ui = await temporalUiContext(browser, servers.temporalUiUrl);
    for (const order of [confirmed, declined]) await runtime.sagas.start(order, randomUUID());
    expect((await runtime.sagas.result(confirmed.orderId)).status).toBe('confirmed');
    expect((await runtime.sagas.result(declined.orderId)).status).toBe('cancelled');
    // Visibility (what the UI lists) follows the workflow's last search-attribute upsert shortly after.
    await eventually('both orders visible with their final status', async () => {
      const { count } = await runtime.client.workflow.count(
        `CustomerId = "${customerId}" AND ExecutionStatus = "Completed" AND OrderStatus IN ("confirmed", "cancelled")`,
      );
      return count === 2;
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await runtime?.close();
  });

  it("finds an orchestrated order's workflow by its id and shows its status, search attributes and saga activities", async () => {
    const page = await ui.newPage();
    const workflowId = orderWorkflowId(confirmed.orderId);
    await page.goto(workflowsPage);
    await addFilter(page, 'WorkflowId', workflowId);
    expect(await listedWorkflowIds(page, 1)).toEqual([workflowId]);

    await page.getByRole('link', { name: workflowId }).first().click();
    const overview = await mainTextWith(page, 'chargePayment');
    expect(overview).toContain('COMPLETED');
    expect(overview).toContain('placeOrder');
    // The saga's steps, drawn on the workflow's timeline.
    for (const activity of ['acceptOrder', 'reserveStock', 'chargePayment', 'recordOrderProgress', 'notifyCustomer']) expect(overview).toContain(activity);
    expect(overview).not.toContain('releaseStock');
    await saveScreenshot(page, 'temporal-ui-order-timeline');

    await page.getByRole('tab', { name: 'Search Attributes' }).click();
    const attributes = await mainTextWith(page, '"OrderStatus"');
    expect(attributes).toContain('"OrderStatus": "confirmed"');
    expect(attributes).toContain(`"OrderId": "${confirmed.orderId}"`);
    expect(attributes).toContain(`"CustomerId": "${customerId}"`);
    expect(attributes).toContain('"Flow": "orchestrated"');
    expect(attributes).toContain('"OrderTotal": 8900');
    await saveScreenshot(page, 'temporal-ui-order-search-attributes');
    await page.close();
  });

  it('lists orders by an OrderStatus filter, and a cancelled saga shows its compensation', async () => {
    const page = await ui.newPage();
    await page.goto(workflowsPage);
    await addFilter(page, 'CustomerId', customerId);
    expect((await listedWorkflowIds(page, 2)).sort()).toEqual([orderWorkflowId(confirmed.orderId), orderWorkflowId(declined.orderId)].sort());
    await addFilter(page, 'OrderStatus', 'cancelled');
    expect(await listedWorkflowIds(page, 1)).toEqual([orderWorkflowId(declined.orderId)]);
    await saveScreenshot(page, 'temporal-ui-orders-by-status');

    await page
      .getByRole('link', { name: orderWorkflowId(declined.orderId) })
      .first()
      .click();
    // The declined charge, then the compensation (stock released) and the cancellation email.
    const overview = await mainTextWith(page, 'releaseStock');
    for (const activity of ['acceptOrder', 'reserveStock', 'chargePayment', 'notifyCustomer']) expect(overview).toContain(activity);
    await page.getByRole('tab', { name: 'Search Attributes' }).click();
    expect(await mainTextWith(page, '"OrderStatus"')).toContain('"OrderStatus": "cancelled"');
    await page.close();
  });

  it('shows every route of the API in Swagger UI', async () => {
    // /docs is public: the browser needs no token to list the routes.
    const api = await buildOrchestratedApi(runtime, servers);
    try {
      const base = await api.listen({ port: 0, host: '127.0.0.1' });
      const routes = [
        'POST /orders',
        'GET /orders',
        'GET /orders/{id}',
        'GET /orders/{id}/events',
        'GET /orders/{id}/stream',
        'POST /orders/{id}/cancel',
        'POST /orders/{id}/approve',
        'POST /orders/{id}/reject',
        'DELETE /customers/{id}/personal-data',
        'GET /catalog',
        'GET /operations/backlog',
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
      ];
      for (const route of routes) {
        const [method, path] = route.split(' ') as [string, string];
        expect(api.hasRoute({ method, url: path.replace(/\{(\w+)\}/g, ':$1') }), `${route} is a route of the app`).toBe(true);
      }

      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(`${base}/docs`);
      const operations = page.locator('.opblock-summary');
      await expect.poll(() => operations.count(), { timeout: 15_000 }).toBeGreaterThan(0);
      const listed = await Promise.all(
        (await operations.all()).map(
          async (summary) => `${await summary.locator('.opblock-summary-method').innerText()} ${await summary.locator('.opblock-summary-path').innerText()}`,
        ),
      );
      // Every route, and nothing else (a new route without its schema would not be documented).
      expect(listed.map((l) => l.replace(/\u200b/g, '')).sort()).toEqual([...routes].sort());
      await saveScreenshot(page, 'swagger-ui');
      await page.close();
    } finally {
      await api.close();
    }
  });
});
