import { pino, type Logger } from 'pino';

/** Paths redacted from every log line: payment tokens and email addresses never reach the logs. */
export const redactedPaths = ['paymentToken', '*.paymentToken', 'email', '*.email', 'request.paymentToken', 'request.email', 'to', '*.to'];

/** The JSON logger of a process, named for its service. */
export function createLogger(service: string, level = 'info'): Logger {
  return pino({ name: service, level, base: { service, pid: process.pid }, redact: { paths: redactedPaths, censor: '[redacted]' } });
}
