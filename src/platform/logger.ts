import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { pino, type Logger } from 'pino';

/** Paths redacted from every log line: payment tokens and email addresses never reach the logs. */
export const redactedPaths = ['paymentToken', '*.paymentToken', 'email', '*.email', 'request.paymentToken', 'request.email', 'to', '*.to'];

/** The JSON logger of a process, named for its service. */
export function createLogger(service: string, level = 'info'): Logger {
  return pino({ name: service, level, base: { service, pid: process.pid }, redact: { paths: redactedPaths, censor: '[redacted]' } });
}

const pinoLevel: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The Temporal SDK's logger interface over a pino logger, for `Runtime.install({ logger })`: the
 * worker's own lines, the replay-aware workflow logger and the activity context logger then all
 * write the same JSON, with the SDK's attributes (workflowId, activityType, attempt, ...) as fields.
 */
export function temporalLogger(log: Logger): TemporalLogger {
  const write = (level: LogLevel, message: string, meta?: LogMetadata) => {
    // The task token is binary and says nothing to a person reading the logs.
    const { taskToken: _taskToken, ...fields } = meta ?? {};
    log[pinoLevel[level]](fields, message);
  };
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}
