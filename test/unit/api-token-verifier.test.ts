import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../infra/stack/paths.ts';
import { jwksTokenVerifier, type JwksVerifierOptions, type Principal } from '../../src/api/auth.ts';
import { HttpProblem } from '../../src/api/error-handler.ts';

const issuer = 'https://id.example.com';
const audience = 'urn:order-saga:api';
const kid = 'unit-1';

type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

describe('jwksTokenVerifier with a local key set', () => {
  let signingKey: Key;
  let keys: JwksVerifierOptions['keys'];
  /** A token signed by the key set's key, with `claims` over a valid operator token's. */
  const token = (claims: JWTPayload = {}, key: Key | Uint8Array = signingKey, header: { alg: string; kid?: string } = { alg: 'ES256', kid }) =>
    new SignJWT({ sub: 'caller-1', iss: issuer, aud: audience, exp: Math.floor(Date.now() / 1000) + 300, roles: ['operator'], ...claims })
      .setProtectedHeader(header)
      .sign(key);
  const verifier = (options: Partial<JwksVerifierOptions> = {}) => jwksTokenVerifier({ issuer, audience, keys, ...options });
  /** The principal as plain data, for comparison. */
  const plain = (p: Principal) => ({ subject: p.subject, roles: [...p.roles].sort(), customerId: p.customerId });
  const refusal = async (jwt: string, options: Partial<JwksVerifierOptions> = {}) => {
    const err = await verifier(options)
      .verify(jwt)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(HttpProblem);
    const { statusCode, code, message } = err as HttpProblem;
    return { statusCode, code, message };
  };

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    signingKey = pair.privateKey;
    keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256' }] });
  });

  it('accepts a valid token and says who it is for', async () => {
    expect(plain(await verifier().verify(await token()))).toEqual({ subject: 'caller-1', roles: ['operator'], customerId: undefined });
  });

  it.each([
    ['an array', ['customer', 'operator']],
    ['a space-separated string', 'customer operator'],
  ])('reads the roles claim as %s', async (_form, roles) => {
    expect(plain(await verifier().verify(await token({ roles, customer_id: 'c-1' })))).toEqual({
      subject: 'caller-1',
      roles: ['customer', 'operator'],
      customerId: 'c-1',
    });
  });

  it('drops roles it does not know, and grants none when the claim is missing or not strings', async () => {
    expect(plain(await verifier().verify(await token({ roles: ['admin', 'operator', 7] })))).toMatchObject({ roles: ['operator'] });
    expect(plain(await verifier().verify(await token({ roles: undefined })))).toMatchObject({ roles: [] });
    expect(plain(await verifier().verify(await token({ roles: { operator: true } })))).toMatchObject({ roles: [] });
  });

  it.each([
    ['with the customer role', 'c-1', { roles: ['customer'], customer_id: 'c-1' }],
    ['without the customer role', 'none', { roles: ['operator'], customer_id: 'c-1' }],
    ['with no role at all', 'none', { roles: [], customer_id: 'c-1' }],
    ['that is empty', 'none', { roles: ['customer'], customer_id: '' }],
    ['that is not a string', 'none', { roles: ['customer'], customer_id: 42 }],
  ])('reads a customer claim %s as customer: %s', async (_case, customerId, claims) => {
    expect((await verifier().verify(await token(claims))).customerId).toBe(customerId === 'none' ? undefined : customerId);
  });

  it('reads roles and customer from the claims it is configured with, and ignores the default ones', async () => {
    const configured = { rolesClaim: 'https://shop.example.com/roles', customerClaim: 'shop_customer' };
    const jwt = await token({ roles: ['operator'], customer_id: 'ignored', 'https://shop.example.com/roles': 'customer', shop_customer: 'c-9' });
    expect(plain(await verifier(configured).verify(jwt))).toEqual({ subject: 'caller-1', roles: ['customer'], customerId: 'c-9' });
  });

  it('accepts a token expired less than the 5 s of clock skew ago', async () => {
    await expect(verifier().verify(await token({ exp: Math.floor(Date.now() / 1000) - 2 }))).resolves.toMatchObject({ subject: 'caller-1' });
  });

  it.each<[string, () => string | Promise<string>, string]>([
    ['expired beyond the clock skew', () => token({ exp: Math.floor(Date.now() / 1000) - 60 }), 'the token has expired'],
    ['for another audience', () => token({ aud: 'urn:another:api' }), `the token's aud claim is not accepted: check_failed`],
    ['from another issuer', () => token({ iss: 'https://evil.example.com' }), `the token's iss claim is not accepted: check_failed`],
    ['without a subject', () => token({ sub: undefined }), 'the token has no subject (sub)'],
    // RFC 9068 §4: an access token must have an expiry for the resource server to check; one without would be good forever.
    ['without an expiry', () => token({ exp: undefined }), "the token's exp claim is not accepted: missing"],
    ['signed by another key under the same key id', async () => token({}, (await generateKeyPair('ES256')).privateKey), 'the token signature does not verify'],
    [
      'signed by a key the issuer does not have',
      async () => token({}, (await generateKeyPair('ES256')).privateKey, { alg: 'ES256', kid: 'other' }),
      `the token is not signed by a key of ${issuer}`,
    ],
    [
      'signed with HS256',
      () => token({}, new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!'), { alg: 'HS256', kid }),
      'the token is signed with an algorithm that is not accepted',
    ],
    [
      'unsecured (alg: none)',
      () => unsecured({ sub: 'caller-1', iss: issuer, aud: audience, roles: ['operator'] }),
      'the token is signed with an algorithm that is not accepted',
    ],
    ['not a JWT', () => 'not.a.jwt', 'the token is not a valid JWT'],
  ])('refuses a token %s with 401 UNAUTHENTICATED saying why', async (_case, make, message) => {
    const answer = await refusal(await make());
    expect(answer).toMatchObject({ statusCode: 401, code: 'UNAUTHENTICATED' });
    expect(answer.message).toMatch(message);
  });

  it('answers 503 AUTH_UNAVAILABLE when the key set cannot be had, since the token may be fine', async () => {
    const unreachable = () => Promise.reject(new TypeError('fetch failed'));
    expect(await refusal(await token(), { keys: unreachable })).toEqual({
      statusCode: 503,
      code: 'AUTH_UNAVAILABLE',
      message: `the keys of the identity provider ${issuer} could not be fetched; try again later`,
    });
  });
});

describe('the access control codes in docs/errors.md', () => {
  it('documents each code the verifier and the access check answer, with its HTTP status', () => {
    const text = readFileSync(join(projectRoot, 'docs', 'errors.md'), 'utf8');
    const rows = Object.fromEntries([...text.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m): [string, number] => [m[1] ?? '', Number(m[2])]));
    expect(rows).toEqual({ UNAUTHENTICATED: 401, FORBIDDEN: 403, AUTH_UNAVAILABLE: 503 });
  });
});

/** An unsecured JWT (RFC 7519 §6): `alg: none`, and an empty signature. */
function unsecured(claims: JWTPayload): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ exp: Math.floor(Date.now() / 1000) + 300, ...claims })}.`;
}
