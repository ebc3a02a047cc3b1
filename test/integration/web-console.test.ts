/**
 * Issue 18: the web console in a real browser (Debian's Chromium through playwright-core). A
 * person signs in at the suite's identity provider, places the same order in both flows and sees
 * both timelines reach `confirmed` live, approves an order in review, replays a dead letter once
 * its cause is fixed, and reads the API's errors in words; axe-core finds no serious
 * accessibility violation, and the page fits a phone's width. Screenshots go to
 * test-artifacts/browser/.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, saveScreenshot } from './helpers/browser.ts';
import { startFullRuntime, type FullRuntime } from './helpers/full-runtime.ts';
import '../setup/servers.ts';

const require = createRequire(import.meta.url);
const servers = inject('servers');

describe('the web console, in a browser', () => {
  let runtime: FullRuntime;
  let browser: Browser;
  let page: Page;
  let baseUrl: string;
  /** While set, the inventory group fails every reservation of this SKU, as a defect in its handler would. */
  let defectiveSku: string | null = null;

  beforeAll(async () => {
    const port = servers.identity.consolePort;
    if (!port) throw new Error('the suite names no console port (servers.identity.consolePort): its identity provider has no console redirect for this test');
    runtime = await startFullRuntime(servers, {
      retryWindowMs: 1000,
      adjustServices: (services) => {
        const reserve = services.inventory.handlers['order.placed']!;
        services.inventory.handlers['order.placed'] = (event, ctx) => {
          if (event.type === 'order.placed' && event.data.items.some((i) => i.sku === defectiveSku))
            return Promise.reject(new Error('simulated defect in the inventory handler'));
          return reserve(event, ctx);
        };
        return services;
      },
      console: {
        issuer: servers.identity.issuer,
        clientId: 'order-saga-console',
        temporalUiUrl: servers.temporalUiUrl,
        namespace: servers.temporalNamespace,
        zipkinUrl: 'http://127.0.0.1:9411/zipkin',
        mailUrl: 'http://127.0.0.1:8025/messages',
      },
    });
    baseUrl = await runtime.api.listen({ host: '127.0.0.1', port });
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  }, 120_000);

  // What the page showed when a test failed: the first thing to look at.
  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail' && page) await saveScreenshot(page, `console-failed-${task.name.slice(0, 40).replace(/[^a-z0-9]+/gi, '-')}`);
  });

  afterAll(async () => {
    await browser?.close();
    await runtime?.close();
  });

  /** Fails on any serious or critical axe-core violation of what the page shows now, naming each. */
  async function expectAccessible(what: string): Promise<void> {
    // Through the DevTools protocol, which the page's Content-Security-Policy (script-src 'self') does not govern.
    await page.evaluate(readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
    // Evaluated in the page (a string: the test's own TypeScript has no DOM types).
    const violations = await page.evaluate<{ id: string; impact: string | null; help: string; targets: string[] }[]>(`
      axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }).then((result) =>
        result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => JSON.stringify(n.target)) })))
    `);
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(serious, `${what}: ${JSON.stringify(serious, null, 2)}`).toEqual([]);
  }

  it('signs in at the identity provider (authorization code with PKCE) and comes back to the console', async () => {
    await page.goto(`${baseUrl}/`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // The identity provider's pages: its login form (any password), then its consent.
    await page.locator('input[name="login"]').fill('operator');
    await page.locator('input[name="password"]').fill('any');
    await page.locator('button[type="submit"]').click();
    await page.locator('button[type="submit"]').click();
    await page.waitForURL((url) => url.origin === baseUrl && !url.search.includes('code='), { timeout: 20_000 });
    await expect.poll(() => page.locator('#session').innerText(), { timeout: 20_000 }).toContain('Signed in as operator');
    await expectAccessible('the place form');
  });

  it('places the same order in both flows and shows both timelines reach confirmed live, side by side', async () => {
    let navigations = 0;
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations += 1;
    });
    await page.getByLabel('Item').selectOption('KB-001');
    await page.getByLabel('Quantity').fill('2');
    await page.getByRole('radio', { name: 'Both, side by side' }).check();
    await page.getByRole('button', { name: 'Place order' }).click();

    const orchestrated = page.getByTestId('status-orchestrated');
    const choreographed = page.getByTestId('status-choreographed');
    await expect.poll(() => orchestrated.innerText(), { timeout: 60_000 }).toBe('confirmed');
    await expect.poll(() => choreographed.innerText(), { timeout: 60_000 }).toBe('confirmed');
    // Live: the page was never reloaded; the stream brought every change.
    expect(navigations).toBe(0);
    await expect.poll(() => page.getByTestId('verdict').innerText(), { timeout: 10_000 }).toMatch(/reached confirmed .* sooner than/);
    for (const flow of ['orchestrated', 'choreographed']) {
      const steps = await page
        .getByRole('list', { name: `${flow} timeline` })
        .locator('li')
        .allInnerTexts();
      expect(steps.some((s) => s.includes('order.placed'))).toBe(true);
      expect(steps.some((s) => s.includes('payment.completed'))).toBe(true);
      expect(steps.some((s) => s.includes('order.confirmed'))).toBe(true);
    }
    // The orchestrated order links to its workflow in the Temporal Web UI; the choreographed one has none.
    await expect.poll(() => page.getByRole('link', { name: 'Workflow in the Temporal Web UI' }).count()).toBe(1);
    await saveScreenshot(page, 'console-both-flows');
    await expectAccessible('the side-by-side timelines');
  });

  it('approves an order in review from the order list, and the order goes on to confirmed', async () => {
    await page.goto(`${baseUrl}/#place`);
    await page.getByLabel('Item').selectOption('LT-004');
    await page.getByLabel('Quantity').fill('1');
    await page.getByRole('radio', { name: 'orchestrated' }).check();
    await page.getByRole('button', { name: 'Place order' }).click();
    await expect.poll(() => page.getByTestId('status-orchestrated').innerText(), { timeout: 60_000 }).toBe('awaiting_review');
    const orderId = (await page.locator('.column[data-flow="orchestrated"]').getAttribute('data-order-id')) ?? '';

    await page.getByRole('link', { name: 'Operate' }).click();
    await page.getByLabel('Status').selectOption('awaiting_review');
    await page.getByRole('button', { name: 'Show' }).click();
    const approve = page.getByRole('button', { name: `Approve order ${orderId}` });
    await approve.waitFor({ timeout: 20_000 });
    await saveScreenshot(page, 'console-operate-review');
    await expectAccessible('the operator view');
    await approve.click();
    await expect
      .poll(async () => (await runtime.api.inject({ method: 'GET', url: `/orders/${orderId}` })).json<{ status: string }>().status, { timeout: 60_000 })
      .toBe('confirmed');
  });

  it('lists a dead letter with its headers decoded and replays it once the cause is fixed', async () => {
    defectiveSku = 'MS-002';
    await page.goto(`${baseUrl}/#place`);
    await page.getByLabel('Item').selectOption('MS-002');
    await page.getByLabel('Quantity').fill('1');
    await page.getByRole('radio', { name: 'choreographed' }).check();
    await page.getByRole('button', { name: 'Place order' }).click();
    // The column of the new order (the one before was orchestrated).
    const column = page.locator('.column[data-flow="choreographed"]');
    await column.waitFor({ timeout: 20_000 });
    const orderId = (await column.getAttribute('data-order-id')) ?? '';
    expect(orderId).toMatch(/^[0-9a-f-]{36}$/);

    await page.getByRole('link', { name: 'Dead letters' }).click();
    const letter = page.locator(`article.letter[data-key="${orderId}"]`);
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Show' }).click();
          return letter.count();
        },
        { timeout: 60_000, interval: 2000 },
      )
      .toBe(1);
    const text = await letter.innerText();
    expect(text).toContain('simulated defect in the inventory handler');
    await letter.locator('summary').click();
    // The headers, decoded: the event's type and its schema id travel with it.
    expect(await letter.locator('table.headers').innerText()).toMatch(/event-type\s+order\.placed/);
    await saveScreenshot(page, 'console-dead-letters');
    await expectAccessible('the dead letters');

    defectiveSku = null; // the fix is deployed
    await letter.getByRole('button', { name: /Replay dead letter/ }).click();
    await expect.poll(() => letter.locator('.replays').innerText(), { timeout: 20_000 }).toContain('by ');
    await expect
      .poll(async () => (await runtime.api.inject({ method: 'GET', url: `/orders/${orderId}` })).json<{ status: string }>().status, { timeout: 60_000 })
      .toBe('confirmed');
  });

  it("shows the API's errors in words, never swallowed", async () => {
    await page.goto(`${baseUrl}/#place`);
    await page.getByLabel('Item').selectOption('KB-001');
    await page.getByLabel('Quantity').fill('500');
    await page.getByRole('radio', { name: 'orchestrated' }).check();
    await page.getByRole('button', { name: 'Place order' }).click();
    await expect.poll(() => page.locator('#errors').innerText(), { timeout: 10_000 }).toContain('POST /orders: body/items/0/quantity must be <= 100');
  });

  it("shows the benchmark's report with its charts", async () => {
    await page.getByRole('link', { name: 'Benchmark report' }).click();
    const chart = page.locator('.report-body img[src="/console/report/comparison/latency.svg"]');
    await chart.waitFor({ timeout: 10_000 });
    await expect
      .poll(() => page.evaluate<number>(`document.querySelector('.report-body img[src="/console/report/comparison/latency.svg"]').naturalWidth`))
      .toBeGreaterThan(0);
    await expectAccessible('the benchmark report');
  });

  it('fits a phone: nothing wider than the screen', async () => {
    // The same tab: its sign-in is kept for the tab only (sessionStorage).
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${baseUrl}/#place`);
    await page.getByRole('button', { name: 'Place order' }).waitFor();
    // The elements that stick out, if any, named in the failure.
    const tooWide = await page.evaluate<string[]>(`
      [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > 391)
        .map((e) => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '') + ' ' + Math.round(e.getBoundingClientRect().right))
    `);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth'), tooWide.slice(0, 10).join(', ')).toBeLessThanOrEqual(390);
    await saveScreenshot(page, 'console-phone');
  });
});
