/**
 * Process entry point: the payment gateway simulator (`npm run gateway`), standing in for an
 * external card processor. GATEWAY_PORT (default 3100); GATEWAY_LEDGER_PATH, when set, is the
 * journal that keeps its books across restarts (`npm start` sets it); GATEWAY_LEDGER_RETENTION_MS
 * bounds what it keeps; stops on SIGINT/SIGTERM.
 */
import { Type } from 'typebox';
import { buildGatewayApp } from '../gateway/gateway-app.ts';
import { GatewayLedger } from '../gateway/ledger.ts';
import { LogEnv, loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { runProcess } from '../platform/process-lifecycle.ts';

const hour = 3_600_000;

runProcess(async ({ onStop, useLogger }) => {
  const config = loadConfig(
    Type.Object({
      ...LogEnv,
      GATEWAY_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3100 }),
      GATEWAY_HOST: Type.String({ default: '127.0.0.1' }),
      GATEWAY_LEDGER_PATH: Type.Optional(Type.String({ minLength: 1 })),
      GATEWAY_LEDGER_RETENTION_MS: Type.Integer({
        minimum: 1000,
        default: 24 * hour,
        description:
          "the gateway's idempotency window: a key's stored answer, attempt count and the charge or refund made under it are forgotten this long after the key's last change; must exceed how long callers retry a charge (the orchestrated flow's 24 h, the choreography's CONSUMER_RETRY_WINDOW_MS)",
      }),
      GATEWAY_LEDGER_COMPACT_INTERVAL_MS: Type.Integer({
        minimum: 1000,
        default: hour,
        description: 'how often the journal is rewritten without what is past the retention (it is also rewritten whenever it has doubled, from 1 MiB)',
      }),
    }),
  );
  const log = createLogger('payment-gateway', config.LOG_LEVEL);
  const ledger = new GatewayLedger(config.GATEWAY_LEDGER_PATH, { retentionMs: config.GATEWAY_LEDGER_RETENTION_MS });
  const compaction = setInterval(() => {
    try {
      ledger.compact();
    } catch (err) {
      log.warn({ err }, 'compacting the ledger journal failed; the next interval tries again');
    }
  }, config.GATEWAY_LEDGER_COMPACT_INTERVAL_MS);
  compaction.unref();
  onStop('ledger compaction', () => clearInterval(compaction));
  const { app } = buildGatewayApp({ logger: log, ledger });
  useLogger(app.log);
  onStop('http server', () => app.close());
  await app.listen({ port: config.GATEWAY_PORT, host: config.GATEWAY_HOST });
});
