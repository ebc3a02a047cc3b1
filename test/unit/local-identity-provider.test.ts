import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/stack/ports.ts';
import { confidentialClientIds, createLocalIdentityProvider, ensureIdentityState, type IdentityState } from '../../src/identity/local-identity-provider.ts';
import {
  AccessTokens,
  apiAudience,
  customerScopeOf,
  localClientIds,
  type ClientCredentials,
  type IdentityClientsFile,
} from '../../src/platform/access-tokens.ts';

describe('the local identity provider', () => {
  const dir = mkdtempSync(join(tmpdir(), 'identity-provider-'));
  let server: Server;
  let clients: IdentityClientsFile;
  let tokens: AccessTokens;

  /** A client credentials token request as any client could send it, answered with the token's claims (or the error). */
  const tokenRequest = async (client: ClientCredentials, scope: string) => {
    const response = await fetch(`${clients.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: apiAudience, scope }),
    });
    const answer = (await response.json()) as { access_token?: string; error?: string };
    return { status: response.status, error: answer.error, claims: answer.access_token ? decodeJwt(answer.access_token) : undefined };
  };

  beforeAll(async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const state = await ensureIdentityState(join(dir, 'provider.json'));
    const callback = createLocalIdentityProvider({ issuer: issuer, state: state }).callback();
    server = createServer((request, response) => void callback(request, response));
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    const secret = (clientId: string) => ({ clientId, clientSecret: state.clientSecrets[clientId] ?? '' });
    clients = { issuer, audience: apiAudience, operator: secret(localClientIds.operator), customers: secret(localClientIds.customers) };
    tokens = new AccessTokens(clients);
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(['c-1', 'Ana María 42', '顧客 7/8'])(
    'gives the customers client the customer role and the customer id %j of its scope, never the operator role',
    async (customerId) => {
      const claims = decodeJwt(await tokens.token({ role: 'customer', customerId }));
      expect(claims).toMatchObject({ iss: clients.issuer, aud: apiAudience, roles: ['customer'], customer_id: customerId });
    },
  );

  it('gives the customers client no operator role when it asks for one alongside its customer', async () => {
    const { claims } = await tokenRequest(clients.customers, `operator roles:operator ${customerScopeOf('c-2')}`);
    expect(claims).toMatchObject<JWTPayload>({ roles: ['customer'], customer_id: 'c-2' });
  });

  it('gives the customers client no role when it asks for two customers at once', async () => {
    const { claims } = await tokenRequest(clients.customers, `${customerScopeOf('c-1')} ${customerScopeOf('c-2')}`);
    expect(claims?.roles).toEqual([]);
    expect(claims).not.toHaveProperty('customer_id');
  });

  it('gives the operator client the operator role and no customer, even when it asks for a customer scope', async () => {
    expect(decodeJwt(await tokens.token({ role: 'operator' }))).toMatchObject({ roles: ['operator'] });
    const { claims } = await tokenRequest(clients.operator, customerScopeOf('c-1'));
    expect(claims?.roles).toEqual(['operator']);
    expect(claims).not.toHaveProperty('customer_id');
  });

  it('refuses a client with a wrong secret', async () => {
    const wrong = new AccessTokens({ ...clients, operator: { ...clients.operator, clientSecret: 'not-the-secret' } });
    await expect(wrong.token({ role: 'operator' })).rejects.toThrow(/refused a token \(HTTP 401\): invalid_client/);
    expect(await tokenRequest({ ...clients.customers, clientSecret: 'not-the-secret' }, customerScopeOf('c-1'))).toMatchObject({
      status: 401,
      error: 'invalid_client',
      claims: undefined,
    });
  });
});

describe('ensureIdentityState', () => {
  const dir = mkdtempSync(join(tmpdir(), 'identity-state-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a new state that only its owner may read', async () => {
    const path = join(dir, 'new', 'provider.json');
    const state = await ensureIdentityState(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(state);
    expect(Object.keys(state.clientSecrets).sort()).toEqual([...confidentialClientIds].sort());
    expect(state.signingKey).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', d: expect.any(String) as unknown });
  });

  it('keeps an existing state file as it is, and reads it back', async () => {
    const path = join(dir, 'existing.json');
    const clientSecrets = Object.fromEntries(confidentialClientIds.map((id) => [id, `kept-${id}`]));
    const existing: IdentityState = { signingKey: { kty: 'EC', kid: 'kept' }, clientSecrets };
    const text = `${JSON.stringify(existing)}\n`;
    writeFileSync(path, text, { mode: 0o600 });
    expect(await ensureIdentityState(path)).toEqual(existing);
    expect(await ensureIdentityState(path)).toEqual(existing);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('adds a secret for a client the state file was written without, keeping the rest', async () => {
    const path = join(dir, 'older.json');
    const older: IdentityState = { signingKey: { kty: 'EC', kid: 'kept' }, clientSecrets: { [localClientIds.operator]: 'kept-secret' } };
    writeFileSync(path, `${JSON.stringify(older)}\n`, { mode: 0o600 });
    const state = await ensureIdentityState(path);
    expect(state.signingKey).toEqual(older.signingKey);
    expect(state.clientSecrets[localClientIds.operator]).toBe('kept-secret');
    for (const id of confidentialClientIds.filter((id) => id !== localClientIds.operator)) expect(state.clientSecrets[id]).toMatch(/^.{20,}$/);
    // The console is a public client: a page cannot keep a secret.
    expect(state.clientSecrets[localClientIds.console]).toBeUndefined();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(state);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('gives two processes that start at once the same state', async () => {
    const path = join(dir, 'raced.json');
    const [first, second] = await Promise.all([ensureIdentityState(path), ensureIdentityState(path)]);
    expect(second).toEqual(first);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(first);
  });
});
