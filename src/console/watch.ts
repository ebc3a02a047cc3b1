import { followStream } from './api.ts';
import type { ConsoleConfig } from './auth.ts';
import { duration, h, replace } from './dom.ts';
import { summarize, type TimelineEvent, type TimelineSummary } from './timeline.ts';

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
}

const finalStatuses = new Set(['confirmed', 'cancelled']);

/**
 * The side-by-side view: a live timeline per order (one per flow when the same order was placed in
 * both), and, once there are two, their difference in time and in hand-offs, drawn to scale.
 */
export class WatchPanel {
  readonly element = h('section', { class: 'watch', 'aria-labelledby': 'watch-title' });
  private followed: Followed[] = [];
  private aborts: AbortController[] = [];
  private readonly comparison = h('div', { class: 'comparison', 'aria-live': 'polite' });
  private readonly columns = h('div', { class: 'columns' });

  constructor(
    private readonly config: ConsoleConfig,
    private readonly onError: (err: unknown) => void,
  ) {
    replace(this.element, h('h2', { id: 'watch-title' }, 'Watch'), h('p', { class: 'muted' }, 'Place an order, or watch one from the order list.'));
  }

  /** Follows these orders, replacing the ones followed before. */
  watch(orders: { orderId: string; flow: string }[]): void {
    for (const abort of this.aborts) abort.abort();
    this.aborts = [];
    this.followed = orders.map((o) => ({
      ...o,
      snapshot: null,
      summary: null,
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

  /** Follows the order's stream until it ends; a dropped stream is opened again after 2 s, until the order is final. */
  private follow(followed: Followed): void {
    const abort = new AbortController();
    this.aborts.push(abort);
    const run = async () => {
      while (!abort.signal.aborted) {
        try {
          await followStream(
            `/orders/${encodeURIComponent(followed.orderId)}/stream`,
            (name, data) => {
              if (name !== 'order') return;
              followed.snapshot = data as OrderSnapshot;
              followed.summary = summarize(followed.snapshot.events);
              this.render(followed);
              this.renderComparison();
            },
            abort.signal,
          );
        } catch (err) {
          if (abort.signal.aborted) return;
          this.onError(err);
        }
        if (followed.snapshot && finalStatuses.has(followed.snapshot.order.status) && followed.summary?.end) return;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    };
    void run();
  }

  private render(followed: Followed): void {
    const { snapshot, summary } = followed;
    const status = snapshot?.order.status ?? 'waiting for the read model';
    const links = [
      snapshot?.order.links.temporalUi
        ? h('a', { href: snapshot.order.links.temporalUi, target: '_blank', rel: 'noopener' }, 'Workflow in the Temporal Web UI')
        : null,
      this.config.zipkinUrl
        ? h(
            'a',
            {
              href: `${this.config.zipkinUrl}/?annotationQuery=${encodeURIComponent(`messaging.kafka.message.key=${followed.orderId}`)}`,
              target: '_blank',
              rel: 'noopener',
            },
            'Trace in Zipkin',
          )
        : null,
      this.config.mailUrl
        ? h(
            'a',
            { href: `${this.config.mailUrl}?orderId=${encodeURIComponent(followed.orderId)}`, target: '_blank', rel: 'noopener' },
            'Email in the SMTP sink',
          )
        : null,
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
    const ready = this.followed.filter((f) => f.summary);
    if (this.followed.length < 2 || ready.length < 2) return;
    const longest = Math.max(1, ...ready.map((f) => f.summary?.toEnd ?? f.summary?.steps.at(-1)?.at ?? 0));
    const mostHops = Math.max(1, ...ready.map((f) => f.summary?.hops ?? 0));
    const row = (f: Followed, value: number, max: number, text: string) =>
      h(
        'div',
        { class: 'bar-row' },
        h('span', { class: 'bar-label' }, f.flow),
        h('span', { class: `bar flow-${f.flow}`, style: `width: ${Math.max(2, (value / max) * 100)}%` }),
        h('span', { class: 'bar-value' }, text),
      );
    const ended = ready.filter((f) => f.summary?.toEnd !== null);
    let verdict = 'Both are still running.';
    if (ended.length === ready.length) {
      const [a, b] = [...ended].sort((x, y) => (x.summary?.toEnd ?? 0) - (y.summary?.toEnd ?? 0));
      if (a?.summary && b?.summary)
        verdict = `${a.flow} reached ${a.summary.end} ${duration((b.summary.toEnd ?? 0) - (a.summary.toEnd ?? 0))} sooner than ${b.flow}, with ${a.summary.events} events and ${a.summary.hops} hand-offs against ${b.summary.events} and ${b.summary.hops}.`;
    }
    replace(
      this.comparison,
      h('h3', {}, 'Time to the end'),
      ready.map((f) => {
        const s = f.summary!;
        const t = s.toEnd ?? s.steps.at(-1)?.at ?? 0;
        return row(f, t, longest, s.toEnd === null ? `${duration(t)} so far` : `${duration(t)} (${s.end})`);
      }),
      h('h3', {}, 'Hand-offs on the way to the end'),
      ready.map((f) => row(f, f.summary!.hops, mostHops, `${f.summary!.hops} hand-offs, ${f.summary!.events} events`)),
      h(
        'p',
        { class: 'muted' },
        'A hand-off is a step caused by the one before it. In the choreographed flow each is a Kafka message from one service to the next (outbox, relay, topic, consumer); in the orchestrated flow each is a round trip through the Temporal server (the workflow schedules an activity, the result wakes the workflow).',
      ),
      h('p', { class: 'verdict', 'data-testid': 'verdict' }, verdict),
    );
  }
}
