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
  /** A customer (`ada`) places and follows orders; an operator operates. Each in a browser context of its own. */
  let page: Page;
  let operatorPage: Page;
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
    operatorPage = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  }, 120_000);

  // What the page showed when a test failed: the first thing to look at.
  afterEach(async ({ task }) => {
    if (task.result?.state !== 'fail') return;
    const name = task.name.slice(0, 40).replace(/[^a-z0-9]+/gi, '-');
    if (page) await saveScreenshot(page, `console-failed-${name}`);
    if (operatorPage) await saveScreenshot(operatorPage, `console-failed-${name}-operator`);
  });

  afterAll(async () => {
    await browser?.close();
    await runtime?.close();
  });

  /** Fails on any serious or critical axe-core violation of what `on` shows now, naming each. */
  async function expectAccessible(on: Page, what: string): Promise<void> {
    // Through the DevTools protocol, which the page's Content-Security-Policy (script-src 'self') does not govern.
    await on.evaluate(readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
    // Evaluated in the page (a string: the test's own TypeScript has no DOM types).
    const violations = await on.evaluate<{ id: string; impact: string | null; help: string; targets: string[] }[]>(`
      axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }).then((result) =>
        result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => JSON.stringify(n.target)) })))
    `);
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(serious, `${what}: ${JSON.stringify(serious, null, 2)}`).toEqual([]);
  }

  /** Signs `on` in as `login` at the identity provider, as a person does: the console's button, the login form (any password), the consent. */
  async function signIn(on: Page, login: string, button = 'Sign in'): Promise<void> {
    if (button === 'Sign in') await on.goto(`${baseUrl}/`);
    await on.getByRole('button', { name: button }).click();
    // The provider asks for what it does not know yet: a login (none while its session is open),
    // then a consent (none once given); then it sends the browser back to the console.
    const deadline = Date.now() + 30_000;
    const signedIn = async () =>
      new URL(on.url()).origin === baseUrl && (await on.locator('#session').count()) > 0 && (await on.locator('#session').innerText()).includes('Signed in as');
    while (!(await signedIn())) {
      if (Date.now() > deadline) throw new Error(`not signed in as ${login} within 30 s; the browser is at ${on.url()}`);
      if (new URL(on.url()).origin !== baseUrl && (await on.locator('button[type="submit"]').isVisible())) {
        const field = on.locator('input[name="login"]');
        if (await field.isVisible()) {
          await field.fill(login);
          await on.locator('input[name="password"]').fill('any');
        }
        await on.locator('button[type="submit"]').click();
      }
      await on.waitForTimeout(250);
    }
  }

  /** Places an order from the customer's page: one item, a flow (or both). */
  async function placeOrder(sku: string, quantity: number, flow: 'Both, side by side' | 'orchestrated' | 'choreographed'): Promise<void> {
    await page.goto(`${baseUrl}/#place`);
    await page.getByLabel('Item').selectOption(sku);
    await page.getByLabel('Quantity').fill(String(quantity));
    await page.getByRole('radio', { name: flow }).check();
    await page.getByRole('button', { name: 'Place order' }).click();
  }

  /** The read model's status of an order, through the API. */
  const statusOf = async (orderId: string) => (await runtime.api.inject({ method: 'GET', url: `/orders/${orderId}` })).json<{ status: string }>().status;

  it('signs a customer and an operator in at the identity provider (authorization code with PKCE), each with their own role', async () => {
    await signIn(page, 'ada');
    await expect.poll(() => page.locator('#session').innerText(), { timeout: 20_000 }).toContain('Signed in as ada (customer)');
    await expectAccessible(page, 'the place form');
    await page.getByRole('link', { name: 'Operate' }).click();
    expect(await page.locator('main').innerText()).toContain('This part is for operators');

    await signIn(operatorPage, 'operator');
    await expect.poll(() => operatorPage.locator('#session').innerText(), { timeout: 20_000 }).toContain('Signed in as operator (operator)');
    // Orders are the customers' to place: an operator's token is refused by POST /orders.
    expect(await operatorPage.locator('main').innerText()).toContain('Orders are placed by customers');
  });

  it('places the same order in both flows and shows both timelines reach confirmed live, side by side', async () => {
    await placeOrder('KB-001', 2, 'Both, side by side');
    let navigations = 0;
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations += 1;
    });
    await expect.poll(() => page.getByTestId('status-orchestrated').innerText(), { timeout: 60_000 }).toBe('confirmed');
    await expect.poll(() => page.getByTestId('status-choreographed').innerText(), { timeout: 60_000 }).toBe('confirmed');
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
    // The hand-offs, by what carries them: Temporal tasks for one, Kafka messages for the other.
    const comparison = await page.locator('.comparison').innerText();
    expect(comparison).toMatch(/orchestrated\s+\d+ Temporal tasks/);
    expect(comparison).toMatch(/choreographed\s+\d+ Kafka messages/);
    // The orchestrated order links to its workflow in the Temporal Web UI; the choreographed one has none.
    await expect.poll(() => page.getByRole('link', { name: 'Workflow in the Temporal Web UI' }).count()).toBe(1);
    await saveScreenshot(page, 'console-both-flows');
    await expectAccessible(page, 'the side-by-side timelines');
  });

  it("approves a customer's order in review from the operator's order list, and the customer's page shows it confirmed", async () => {
    await placeOrder('LT-004', 1, 'orchestrated');
    const column = page.locator('.column[data-flow="orchestrated"]');
    await expect.poll(() => page.getByTestId('status-orchestrated').innerText(), { timeout: 60_000 }).toBe('awaiting_review');
    const orderId = (await column.getAttribute('data-order-id')) ?? '';

    await operatorPage.goto(`${baseUrl}/#operate`);
    await operatorPage.getByLabel('Status').selectOption('awaiting_review');
    await operatorPage.getByRole('button', { name: 'Show' }).click();
    await expect.poll(() => operatorPage.locator('.orders tbody').getAttribute('aria-busy')).toBe('false');
    const approve = operatorPage.getByRole('button', { name: `Approve order ${orderId}` });
    await approve.waitFor({ timeout: 20_000 });
    await saveScreenshot(operatorPage, 'console-operate-review');
    await expectAccessible(operatorPage, 'the operator view');
    await approve.click();
    // The customer's page, left open, follows the approval to the end.
    await expect.poll(() => page.getByTestId('status-orchestrated').innerText(), { timeout: 60_000 }).toBe('confirmed');
    expect(await statusOf(orderId)).toBe('confirmed');
    // The keyboard stays on the order acted on once the list is drawn again.
    await expect
      .poll(() => operatorPage.evaluate<string>('document.activeElement?.closest("tr")?.getAttribute("data-order-id") ?? document.activeElement?.id ?? ""'))
      .toBe(orderId);
  });

  it('lists a dead letter with its headers decoded and replays it once the cause is fixed', async () => {
    defectiveSku = 'MS-002';
    await placeOrder('MS-002', 1, 'choreographed');
    // The column of the new order (the one before was orchestrated).
    const column = page.locator('.column[data-flow="choreographed"]');
    await column.waitFor({ timeout: 20_000 });
    const orderId = (await column.getAttribute('data-order-id')) ?? '';
    expect(orderId).toMatch(/^[0-9a-f-]{36}$/);

    await operatorPage.goto(`${baseUrl}/#dead-letters`);
    const letter = operatorPage.locator(`article.letter[data-key="${orderId}"]`);
    await expect
      .poll(
        async () => {
          // One read at a time, drawn before it is looked at (the list says aria-busy while it reads).
          await operatorPage.getByRole('button', { name: 'Show' }).click();
          await expect.poll(() => operatorPage.locator('.letters').getAttribute('aria-busy'), { timeout: 30_000 }).toBe('false');
          return letter.count();
        },
        { timeout: 60_000, interval: 2000 },
      )
      .toBe(1);
    expect(await letter.innerText()).toContain('simulated defect in the inventory handler');
    await letter.locator('summary').click();
    // The headers, decoded: the event's type travels with it.
    expect(await letter.locator('table.headers').innerText()).toMatch(/event-type\s+order\.placed/);
    await saveScreenshot(operatorPage, 'console-dead-letters');
    await expectAccessible(operatorPage, 'the dead letters');

    defectiveSku = null; // the fix is deployed
    await letter.getByRole('button', { name: /Replay dead letter/ }).click();
    await expect.poll(() => letter.locator('.replays').innerText(), { timeout: 20_000 }).toContain('by operator');
    await expect.poll(() => page.getByTestId('status-choreographed').innerText(), { timeout: 60_000 }).toBe('confirmed');
    expect(await statusOf(orderId)).toBe('confirmed');
  });

  it("shows the API's errors in words, never swallowed", async () => {
    await placeOrder('KB-001', 500, 'orchestrated');
    await expect.poll(() => page.locator('#errors').innerText(), { timeout: 10_000 }).toContain('POST /orders: body/items/0/quantity must be <= 100');
  });

  it('keeps what is on screen when the session ends, sends nothing, and offers to sign in again', async () => {
    await page.goto(`${baseUrl}/#place`);
    await page.getByLabel('Quantity').fill('7');
    await page.evaluate('sessionStorage.clear()');
    const before = await runtime.api.inject({ method: 'GET', url: '/orders?customerId=ada&limit=100' });
    await page.getByRole('button', { name: 'Place order' }).click();
    await expect.poll(() => page.locator('#errors').innerText(), { timeout: 10_000 }).toContain('Your session has ended');
    await expect(page.getByRole('button', { name: 'Sign in again' }).count()).resolves.toBe(1);
    expect(await page.getByLabel('Quantity').inputValue()).toBe('7');
    const after = await runtime.api.inject({ method: 'GET', url: '/orders?customerId=ada&limit=100' });
    expect(after.json<{ data: unknown[] }>().data).toHaveLength(before.json<{ data: unknown[] }>().data.length);
    // Signed in again from the banner, back where the person was.
    await signIn(page, 'ada', 'Sign in again');
    await expect.poll(() => page.locator('#session').innerText(), { timeout: 20_000 }).toContain('Signed in as ada (customer)');
  });

  it("shows the benchmark's report with its charts", async () => {
    await page.getByRole('link', { name: 'Benchmark report' }).click();
    const chart = page.locator('.report-body img[src="/console/report/comparison/latency.svg"]');
    await chart.waitFor({ timeout: 10_000 });
    await expect
      .poll(() => page.evaluate<number>(`document.querySelector('.report-body img[src="/console/report/comparison/latency.svg"]').naturalWidth`))
      .toBeGreaterThan(0);
    await expectAccessible(page, 'the benchmark report');
  });

  it('fits a phone: nothing wider than the screen, the order list as cards', async () => {
    for (const [on, view] of [
      [page, 'place'],
      [operatorPage, 'operate'],
    ] as const) {
      // The same tab: its sign-in is kept for the tab only (sessionStorage).
      await on.setViewportSize({ width: 390, height: 844 });
      await on.goto(`${baseUrl}/#${view}`);
      await on.locator('main h2').first().waitFor();
      // The elements that stick out, if any, named in the failure.
      const tooWide = await on.evaluate<string[]>(`
        [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > 391)
          .map((e) => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '') + ' ' + Math.round(e.getBoundingClientRect().right))
      `);
      expect(tooWide, `${view} at 390 px`).toEqual([]);
      await saveScreenshot(on, `console-phone-${view}`);
    }
  });
});
