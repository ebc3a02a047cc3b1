import nodemailer from 'nodemailer';

/**
 * The SMTP connection pool the notifications use: up to five connections kept open and reused, so
 * an email is one SMTP exchange instead of a connect + greeting + quit each time (on the benchmark
 * that took an email from about 130 ms to a few ms). Close it when the process stops.
 */
export function createMailer(settings: { host: string; port: number; secure?: boolean }) {
  return nodemailer.createTransport({ host: settings.host, port: settings.port, secure: settings.secure ?? false, ignoreTLS: !settings.secure, pool: true, maxConnections: 5 });
}
