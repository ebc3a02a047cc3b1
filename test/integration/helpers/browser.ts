import { X509Certificate, createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { projectRoot } from '../../../infra/stack/paths.ts';
import { findChromium } from '../../../infra/stack/prerequisites.ts';

/** Where browser tests leave their screenshots (ignored by git, kept by CI as artifacts). */
export const artifactsDir = join(projectRoot, 'test-artifacts', 'browser');

/**
 * Starts Debian's Chromium headless through playwright-core (no browser download). With
 * `trustedCertificates` (PEM files), the browser accepts servers presenting exactly those
 * certificates (their public keys), as it would a certificate of a CA it trusts; any other
 * certificate error still fails.
 * @throws when no Chromium is installed, saying how to get one.
 */
export async function launchChromium({ trustedCertificates = [] }: { trustedCertificates?: string[] } = {}): Promise<Browser> {
  const executablePath = findChromium();
  if (!executablePath) {
    throw new Error('no Chromium found for the browser tests: run `npm run stack:install -- --test-tools` (npm test does) or set CHROMIUM_PATH');
  }
  return chromium.launch({
    executablePath,
    headless: true,
    // Root in a container: no sandbox; no GPU; /dev/shm may be small; nothing fetched from outside.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--no-first-run',
      ...(trustedCertificates.length > 0 ? [`--ignore-certificate-errors-spki-list=${trustedCertificates.map(spkiHashOf).join(',')}`] : []),
    ],
  });
}

/** Saves a full-page screenshot under {@link artifactsDir} and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(artifactsDir, { recursive: true });
  const path = join(artifactsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Base64 of the SHA-256 of a certificate's public key (SubjectPublicKeyInfo), as Chromium's SPKI list names it. */
function spkiHashOf(certificateFile: string): string {
  const spki = new X509Certificate(readFileSync(certificateFile)).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
