import type { Browser, BrowserContext, Page } from 'playwright-core';

/**
 * Signs `page` in to a Temporal Web UI that has a login (the cluster profile's ui-server): the UI's
 * "Continue to SSO", then the local identity provider's login page (any password) and its consent
 * page, as a person would. Ends back on the UI with its session cookies set.
 */
export async function signInToTemporalUi(page: Page, uiUrl: string, login: string): Promise<void> {
  await page.goto(`${uiUrl}/login`);
  await page.getByRole('button', { name: 'Continue to SSO' }).click();
  // The identity provider's pages (src/identity): the login form, then the consent to the UI's client.
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any');
  await page.locator('button[type="submit"]').click();
  await page.locator('button[type="submit"]').click();
  // ui-server's callback sets the session cookies and sends the browser back into the UI.
  await page.waitForURL((url) => url.origin === new URL(uiUrl).origin && !url.pathname.startsWith('/auth/') && !url.pathname.startsWith('/login'), {
    timeout: 20_000,
  });
}

/**
 * A browser context for the Temporal Web UI at `uiUrl`: signed in as `login` when the UI has a login
 * (the cluster profile's ui-server says so in its settings), as is when it has none (the dev server).
 */
export async function temporalUiContext(browser: Browser, uiUrl: string, login = 'operator'): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const settings = (await (await fetch(`${uiUrl}/api/v1/settings`)).json()) as { Auth?: { Enabled?: boolean } };
  if (settings.Auth?.Enabled) {
    const page = await context.newPage();
    await signInToTemporalUi(page, uiUrl, login);
    await page.close();
  }
  return context;
}
