import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import type { Static, TObject } from 'typebox';
import type { TemporalEnv } from './config.ts';

type TemporalSettings = Static<TObject<typeof TemporalEnv>>;

/**
 * Connection options for a Temporal frontend: plain for the dev server; TLS, mTLS or an API key
 * for a real cluster. Usable for both `Connection.connect` (client) and `NativeConnection.connect` (worker).
 */
export function temporalConnectionOptions(settings: TemporalSettings): { address: string; tls?: TLSConfig | boolean; apiKey?: string } {
  const mtls = settings.TEMPORAL_TLS_CERT_PATH && settings.TEMPORAL_TLS_KEY_PATH;
  const useTls = settings.TEMPORAL_TLS || Boolean(mtls) || Boolean(settings.TEMPORAL_API_KEY);
  const tls: TLSConfig | undefined = useTls
    ? {
        ...(settings.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: settings.TEMPORAL_TLS_SERVER_NAME } : {}),
        ...(settings.TEMPORAL_TLS_CA_PATH ? { serverRootCACertificate: readFileSync(settings.TEMPORAL_TLS_CA_PATH) } : {}),
        ...(mtls ? { clientCertPair: { crt: readFileSync(settings.TEMPORAL_TLS_CERT_PATH!), key: readFileSync(settings.TEMPORAL_TLS_KEY_PATH!) } } : {}),
      }
    : undefined;
  return {
    address: settings.TEMPORAL_ADDRESS,
    ...(tls ? { tls } : {}),
    ...(settings.TEMPORAL_API_KEY ? { apiKey: settings.TEMPORAL_API_KEY } : {}),
  };
}
