/**
 * Process entry point: the payment gateway simulator (`npm run gateway`), standing in for an
 * external card processor. GATEWAY_PORT (default 3100); stops on SIGINT/SIGTERM.
 */
import { Type } from 'typebox';
import { buildGatewayApp } from '../gateway/gateway-app.ts';
import { loadConfig } from '../platform/config.ts';

const config = loadConfig(Type.Object({ GATEWAY_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3100 }), GATEWAY_HOST: Type.String({ default: '127.0.0.1' }) }));
const { app } = buildGatewayApp({ logger: true });
await app.listen({ port: config.GATEWAY_PORT, host: config.GATEWAY_HOST });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void app.close().then(() => process.exit(0)));
}
