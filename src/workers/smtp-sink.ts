/**
 * Process entry point: the development SMTP sink (`npm run smtp-sink`). Accepts mail on
 * SMTP_SINK_PORT (default 2525) and lists it at http://127.0.0.1:SMTP_SINK_HTTP_PORT/messages
 * (default 8025), keeping the last SMTP_SINK_MAX_MESSAGES (default 1000). Stops on SIGINT/SIGTERM.
 */
import { Type } from 'typebox';
import { loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { runProcess } from '../platform/process-lifecycle.ts';
import { startSmtpSink } from '../smtp-sink/smtp-sink.ts';

runProcess(async ({ onStop, useLogger }) => {
  const config = loadConfig(
    Type.Object({
      SMTP_SINK_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 2525 }),
      SMTP_SINK_HTTP_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8025 }),
      SMTP_SINK_MAX_MESSAGES: Type.Integer({ minimum: 1, default: 1000, description: 'messages kept in memory; the oldest is dropped when one more arrives' }),
    }),
  );
  const log = createLogger('smtp-sink');
  useLogger(log);
  const sink = await startSmtpSink({ smtpPort: config.SMTP_SINK_PORT, httpPort: config.SMTP_SINK_HTTP_PORT }, { maxMessages: config.SMTP_SINK_MAX_MESSAGES });
  onStop('smtp sink', () => sink.close());
  log.info({ smtpPort: sink.smtpPort, messages: `${sink.httpUrl}/messages` }, 'smtp sink listening');
});
