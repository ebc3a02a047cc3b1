import type pg from 'pg';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { oldestOpenOrderChangeAgeSeconds } from '../contexts/orders/stalled-orders.ts';

/**
 * `choreography_open_order_oldest_change_age_seconds`, computed when Prometheus scrapes: how long
 * ago the least recently changed choreographed order that waits on the system last changed (0
 * when there is none). A healthy flow keeps it at seconds; an order whose event was dead-lettered
 * (or a stopped group) makes it grow, which ChoreographedOrderStalled (infra/prometheus/alerts.yml)
 * watches. A failed read leaves the gauge empty for that scrape and is logged.
 */
export function registerStalledOrderMetrics(registry: Registry, pool: pg.Pool, log: Logger): void {
  new Gauge({
    name: 'choreography_open_order_oldest_change_age_seconds',
    help: 'Seconds since the least recently changed choreographed order waiting on the system (not final, not in review) last changed',
    registers: [registry],
    async collect() {
      try {
        this.set(await oldestOpenOrderChangeAgeSeconds(pool));
      } catch (err) {
        log.warn({ err }, 'open orders could not be read');
      }
    },
  });
}
