/**
 * Process entry point: the local OpenID Connect provider (`npm run identity-provider`), on
 * IDENTITY_HOST:IDENTITY_PORT (default 127.0.0.1:3200). It keeps its signing key and client secrets
 * in IDENTITY_STATE_FILE (made the first time) and writes what the token tools need to
 * IDENTITY_CLIENTS_FILE. With IDENTITY_WEB_UI_REDIRECT_URI (the cluster profile) it also has a login
 * page for the Temporal Web UI, where any password signs in and the login `operator` is an operator.
 * For local use only: production points the API at a real identity
 * provider (README "Authentication"). Stops on SIGINT/SIGTERM.
 */
import { createServer } from 'node:http';
import { once } from 'node:events';
import { Type } from 'typebox';
import { createLocalIdentityProvider, ensureIdentityState, writeClientsFile } from '../identity/local-identity-provider.ts';
import { loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { runProcess } from '../platform/process-lifecycle.ts';

runProcess(async ({ onStop, useLogger }) => {
  const config = loadConfig(
    Type.Object({
      IDENTITY_HOST: Type.String({ default: '127.0.0.1' }),
      IDENTITY_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3200 }),
      IDENTITY_ISSUER: Type.String({ default: '', description: 'the issuer URL; default http://127.0.0.1:IDENTITY_PORT' }),
      IDENTITY_STATE_FILE: Type.String({ default: '.data/secrets/identity-provider.json', description: 'signing key and client secrets (made once)' }),
      IDENTITY_CLIENTS_FILE: Type.String({
        default: '.data/secrets/identity-clients.json',
        description: 'what npm run token, the demo and the benchmark read',
      }),
      IDENTITY_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 60, default: 3600 }),
      IDENTITY_WEB_UI_REDIRECT_URI: Type.String({
        default: '',
        description: "the Temporal Web UI's sign-in callback (ui-server's /auth/sso/callback); when set, a login page and the Web UI's client",
      }),
      IDENTITY_CONSOLE_REDIRECT_URIS: Type.String({
        default: '',
        description: "the web console's sign-in callbacks (the API's `/`, comma-separated); when set, a login page and the console's client",
      }),
    }),
  );
  const log = createLogger('identity-provider');
  useLogger(log);
  const issuer = config.IDENTITY_ISSUER || `http://127.0.0.1:${config.IDENTITY_PORT}`;
  const state = await ensureIdentityState(config.IDENTITY_STATE_FILE);
  const provider = createLocalIdentityProvider({
    issuer,
    state,
    tokenTtlSeconds: config.IDENTITY_TOKEN_TTL_SECONDS,
    ...(config.IDENTITY_WEB_UI_REDIRECT_URI ? { webUiRedirectUri: config.IDENTITY_WEB_UI_REDIRECT_URI } : {}),
    consoleRedirectUris: config.IDENTITY_CONSOLE_REDIRECT_URIS.split(',')
      .map((uri) => uri.trim())
      .filter(Boolean),
  });
  provider.on('server_error', (_ctx, err) => log.error({ err }, 'identity provider error'));
  // oidc-provider's Koa handler answers every request itself (its promise never rejects).
  const handler = provider.callback();
  const server = createServer((request, response) => void handler(request, response));
  server.listen(config.IDENTITY_PORT, config.IDENTITY_HOST);
  await once(server, 'listening');
  writeClientsFile(config.IDENTITY_CLIENTS_FILE, issuer, state);
  onStop('identity provider', () => new Promise<void>((resolve) => server.close(() => resolve())));
  log.info({ issuer, clientsFile: config.IDENTITY_CLIENTS_FILE }, 'identity provider started');
});
