import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/stack/ports.ts';
import { jwksTokenVerifier } from '../../src/api/auth.ts';
import { createLocalIdentityProvider, ensureIdentityState, type IdentityState } from '../../src/identity/local-identity-provider.ts';
import { apiAudience, localClientIds } from '../../src/platform/access-tokens.ts';

/**
 * The Web UI's sign-in at the local identity provider, as ui-server goes through it: the
 * authorization code flow with the provider's login page, then the code for tokens. Driven over
 * HTTP with a cookie jar of its own, as a browser would.
 */
describe("the Temporal Web UI's sign-in at the local identity provider", () => {
  const dir = mkdtempSync(join(tmpdir(), 'web-ui-login-'));
  const redirectUri = 'http://localhost:8233/auth/sso/callback';
  let server: Server;
  let issuer: string;
  let state: IdentityState;

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    state = await ensureIdentityState(join(dir, 'provider.json'));
    const callback = createLocalIdentityProvider({ issuer, state, webUiRedirectUri: redirectUri }).callback();
    server = createServer((request, response) => void callback(request, response));
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Signs in as `login` and exchanges the code: the token answer. */
  async function signIn(login: string): Promise<{ access_token?: string; id_token?: string }> {
    const jar = new Map<string, string>();
    const send = async (url: string, init: RequestInit = {}) => {
      const response = await fetch(new URL(url, issuer), {
        ...init,
        redirect: 'manual',
        headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      for (const cookie of response.headers.getSetCookie()) {
        const [pair] = cookie.split(';');
        const at = pair!.indexOf('=');
        jar.set(pair!.slice(0, at), pair!.slice(at + 1));
      }
      return response;
    };
    const form = (fields: Record<string, string>) => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    const query = new URLSearchParams({ client_id: localClientIds.webUi, redirect_uri: redirectUri, response_type: 'code', scope: 'openid', state: 's1' });
    let response = await send(`/auth?${query.toString()}`);
    // Login page, then consent, each a form posted back; each step redirects to the next.
    for (let step = 0; step < 10; step += 1) {
      const location = response.headers.get('location');
      if (location?.startsWith(redirectUri)) break;
      if (location) {
        response = await send(location);
        continue;
      }
      const html = await response.text();
      const action = /action="([^"]+)"/.exec(html)?.[1];
      const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
      if (!action || !prompt) throw new Error(`no form at step ${step}: ${html.slice(0, 200)}`);
      response = await send(action, form(prompt === 'login' ? { prompt, login, password: 'any' } : { prompt }));
    }
    const code = new URL(response.headers.get('location') ?? '').searchParams.get('code');
    if (!code) throw new Error(`no code: ${response.headers.get('location')}`);
    const token = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${localClientIds.webUi}:${state.clientSecrets[localClientIds.webUi]}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri }),
    });
    return (await token.json()) as { access_token?: string; id_token?: string };
  }

  it("gives the login operator an access token the API accepts as an operator's, for the Web UI to pass to the codec endpoint", async () => {
    const answer = await signIn('operator');
    expect(answer.id_token).toBeDefined();
    const principal = await jwksTokenVerifier({ issuer, audience: apiAudience }).verify(answer.access_token ?? '');
    expect({ subject: principal.subject, roles: [...principal.roles] }).toEqual({ subject: 'operator', roles: ['operator'] });
  });

  it('gives any other login a token with no role, which the codec endpoint refuses', async () => {
    const principal = await jwksTokenVerifier({ issuer, audience: apiAudience }).verify((await signIn('mallory')).access_token ?? '');
    expect([...principal.roles]).toEqual([]);
  });
});
