/**
 * Process entry point: the payment gateway simulator (`npm run gateway`), standing in for an
 * external card processor. GATEWAY_PORT (default 3100); GATEWAY_LEDGER_PATH, when set, is the
 * journal that keeps its books across restarts (`npm start` sets it); stops on SIGINT/SIGTERM.
 */
import { Type } from 'typebox';
import { buildGatewayApp } from '../gateway/gateway-app.ts';
import { GatewayLedger } from '../gateway/ledger.ts';
import { LogEnv, loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { runProcess } from '../platform/process-lifecycle.ts';

runProcess(async ({ onStop, useLogger }) => {
  const config = loadConfig(
    Type.Object({
      ...LogEnv,
      GATEWAY_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3100 }),
      GATEWAY_HOST: Type.String({ default: '127.0.0.1' }),
      GATEWAY_LEDGER_PATH: Type.Optional(Type.String({ minLength: 1 })),
    }),
  );
  const { app } = buildGatewayApp({ logger: createLogger('payment-gateway', config.LOG_LEVEL), ledger: new GatewayLedger(config.GATEWAY_LEDGER_PATH) });
  useLogger(app.log);
  onStop('http server', () => app.close());
  await app.listen({ port: config.GATEWAY_PORT, host: config.GATEWAY_HOST });
});
