import { followStream } from './api.ts';
import type { ConsoleConfig } from './auth.ts';
import { duration, h, plural, replace } from './dom.ts';
import { clearError, showError } from './notices.ts';
import { handOffs, summarize, type TimelineEvent, type TimelineSummary } from './timeline.ts';

/** What `GET /orders/:id/stream` sends with each change. */
export interface OrderSnapshot {
  order: { orderId: string; flow: string; status: string; reason: string | null; links: { temporalUi?: string } };
  events: TimelineEvent[];
}

/** One order followed live. */
interface Followed {
  orderId: string;
  flow: string;
  snapshot: OrderSnapshot | null;
  summary: TimelineSummary | null;
  column: HTMLElement;
  /** What the API said when the read model could not be read (cleared by the next snapshot). */
  problem: string | null;
}
type Summed = Followed & { summary: TimelineSummary };

const finalStatuses = new Set(['confirmed', 'cancelled']);

/**
 * The side-by-side view: a live timeline per order (one per flow when the same order was placed in
 * both), and, once there are two, their difference in time and in hand-offs, drawn to scale.
 */
export class WatchPanel {
  readonly element = h('section', { class: 'watch', 'aria-labelledby': 'watch-title' });
  private followed: Followed[] = [];
  private aborts: AbortController[] = [];
  private ticker: ReturnType<typeof setInterval> | undefined;
  private readonly comparison = h('div', { class: 'comparison', 'aria-live': 'polite' });
  private readonly columns = h('div', { class: 'columns' });

  constructor(private readonly config: ConsoleConfig) {
    replace(this.element, h('h2', { id: 'watch-title' }, 'Watch'), h('p', { class: 'muted' }, 'Place an order, or watch one from the order list.'));
  }

  /** Follows these orders, replacing the ones followed before. */
  watch(orders: { orderId: string; flow: string }[]): void {
    for (const abort of this.aborts) abort.abort();
    this.aborts = [];
    for (const f of this.followed) clearError(`stream-${f.orderId}`);
    clearInterval(this.ticker);
    // A running order's time goes on while nothing happens: the bars say so every second.
    this.ticker = setInterval(() => {
      if (this.followed.some((f) => f.summary && f.summary.end === null)) this.renderComparison();
    }, 1000);
    this.followed = orders.map((o) => ({
      ...o,
      snapshot: null,
      summary: null,
      problem: null,
      column: h('article', { class: `column flow-${o.flow}`, 'data-flow': o.flow, 'data-order-id': o.orderId }),
    }));
    replace(this.element, h('h2', { id: 'watch-title' }, orders.length > 1 ? 'The same order in both flows' : 'Watch'), this.comparison, this.columns);
    replace(
      this.columns,
      this.followed.map((f) => f.column),
    );
    replace(this.comparison);
    for (const followed of this.followed) {
      this.render(followed);
      this.follow(followed);
    }
  }

  /**
   * Follows the order's stream until the order has ended (the API ends the stream then, freeing
   * the connection); a stream that drops is opened again after 2 s.
   */
  private follow(followed: Followed): void {
    const abort = new AbortController();
    this.aborts.push(abort);
    const run = async () => {
      while (!abort.signal.aborted) {
        try {
          await followStream(
            `/orders/${encodeURIComponent(followed.orderId)}/stream`,
            (name, data) => {
              clearError(`stream-${followed.orderId}`);
              if (name === 'unavailable') {
                followed.problem = (data as { message: string }).message;
                this.render(followed);
                return;
              }
              if (name !== 'order') return;
              followed.problem = null;
              followed.snapshot = data as OrderSnapshot;
              followed.summary = summarize(followed.snapshot.events);
              this.render(followed);
              this.renderComparison();
            },
            abort.signal,
          );
        } catch (err) {
          if (abort.signal.aborted) return;
          // One notice per order, replaced while it keeps failing, gone once the stream is back.
          showError(
            new Error(
              `The live timeline of the ${followed.flow} order ${followed.orderId} stopped: ${err instanceof Error ? err.message : String(err)}. Trying again every 2 s.`,
            ),
            `stream-${followed.orderId}`,
          );
        }
        if (followed.snapshot && finalStatuses.has(followed.snapshot.order.status)) return;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    };
    void run();
  }

  private render(followed: Followed): void {
    const { snapshot, summary } = followed;
    const status = snapshot?.order.status ?? 'waiting for the read model';
    const link = (href: string, text: string) => h('a', { href, target: '_blank', rel: 'noopener' }, text);
    const links = [
      snapshot?.order.links.temporalUi ? link(snapshot.order.links.temporalUi, 'Workflow in the Temporal Web UI') : null,
      this.config.zipkinUrl
        ? link(`${this.config.zipkinUrl}/?annotationQuery=${encodeURIComponent(`messaging.kafka.message.key=${followed.orderId}`)}`, 'Trace in Zipkin')
        : null,
      this.config.mailUrl ? link(`${this.config.mailUrl}?orderId=${encodeURIComponent(followed.orderId)}`, 'Email in the SMTP sink') : null,
    ].filter(Boolean);
    replace(
      followed.column,
      h(
        'header',
        {},
        h('h3', {}, followed.flow),
        h('p', { class: 'order-id' }, h('span', { class: 'visually-hidden' }, 'order '), followed.orderId),
        h(
          'p',
          {},
          h('span', { class: `status status-${status.replace(/[^a-z_]/g, '')}`, 'data-testid': `status-${followed.flow}` }, status),
          snapshot?.order.reason ? ` (${snapshot.order.reason})` : '',
          summary?.toEnd !== null && summary?.toEnd !== undefined ? ` in ${duration(summary.toEnd)}` : '',
        ),
        followed.problem ? h('p', { class: 'warning', role: 'status' }, followed.problem) : null,
        links.length ? h('p', { class: 'links' }, links) : null,
      ),
      summary
        ? h(
            'ol',
            { class: 'timeline', 'aria-label': `${followed.flow} timeline` },
            summary.steps.map((step) =>
              h(
                'li',
                { class: `step kind-${step.kind}` },
                h('span', { class: 'at' }, `+${duration(step.at)}`),
                h('span', { class: 'type' }, step.type),
                h('span', { class: 'by' }, `by ${step.producer}`),
                step.causedBy ? h('span', { class: 'cause' }, `after ${step.causedBy}`) : null,
                step.kind === 'compensation' ? h('span', { class: 'tag' }, 'compensation') : null,
                step.took >= 1000 ? h('span', { class: 'tag slow' }, `waited ${duration(step.took)}: retries or a review`) : null,
                step.detail ? h('span', { class: 'detail' }, step.detail) : null,
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'Waiting for its first event…'),
    );
  }

  /** Time to the end and hand-offs of each followed order, as bars to one scale. */
  private renderComparison(): void {
    const ready = this.followed.filter((f): f is Summed => f.summary !== null);
    if (this.followed.length < 2 || ready.length < 2) return;
    // A running order's time is the time since it was placed, not the time of its latest event.
    const timeOf = (s: TimelineSummary) => s.toEnd ?? Math.max(0, Date.now() - s.placedAt);
    const hops = (f: Summed) => handOffs(f.flow, f.summary);
    const longest = Math.max(1, ...ready.map((f) => timeOf(f.summary)));
    const mostHops = Math.max(1, ...ready.map(hops));
    const row = (f: Followed, value: number, max: number, text: string) =>
      h(
        'div',
        { class: 'bar-row' },
        h('span', { class: 'bar-label' }, f.flow),
        h('span', { class: `bar flow-${f.flow}`, style: `width: ${Math.max(2, (value / max) * 100)}%` }),
        h('span', { class: 'bar-value' }, text),
      );
    let verdict = 'Still running.';
    const [a, b] = [...ready].sort((x, y) => timeOf(x.summary) - timeOf(y.summary));
    if (a && b && a.summary.end !== null && b.summary.end !== null) {
      verdict =
        a.summary.end === b.summary.end
          ? `${a.flow} reached ${a.summary.end} ${duration(timeOf(b.summary) - timeOf(a.summary))} sooner than ${b.flow}.`
          : `${a.flow} ended ${a.summary.end} in ${duration(timeOf(a.summary))}; ${b.flow} ended ${b.summary.end} in ${duration(timeOf(b.summary))}.`;
    }
    replace(
      this.comparison,
      h('h3', {}, 'Time to the end'),
      ready.map((f) => {
        const t = timeOf(f.summary);
        return row(f, t, longest, f.summary.end === null ? `${duration(t)} so far` : `${duration(t)} (${f.summary.end})`);
      }),
      h('h3', {}, 'Hand-offs between processes'),
      ready.map((f) => {
        const n = hops(f);
        const carrier = f.flow === 'orchestrated' ? plural(n, 'Temporal task') : plural(n, 'Kafka message');
        return row(f, n, mostHops, `${carrier}, ${plural(f.summary.events, 'event')}`);
      }),
      h(
        'p',
        { class: 'muted' },
        'Both flows take the same steps, each caused by the one before. In the choreographed flow a step is one Kafka message from one service to the next (outbox, relay, topic, consumer). In the orchestrated flow it is two tasks through the Temporal server: the activity task that runs the step, and the workflow task that takes its result and schedules the next.',
      ),
      h('p', { class: 'verdict', 'data-testid': 'verdict' }, verdict),
    );
  }
}
