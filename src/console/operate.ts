import { api } from './api.ts';
import { field, h, plural, replace } from './dom.ts';

interface OrderLine {
  orderId: string;
  flow: string;
  status: string;
  customerId: string | null;
}

interface Backlog {
  scrapedAt: string;
  groups: { group: string; lag: number | null; deadLetters: number | null }[];
  outbox: { rows: number; oldestAgeSeconds: number } | null;
  sources: { name: string; url: string; ok: boolean; error?: string }[];
}

const statuses = ['', 'pending', 'reserved', 'awaiting_review', 'paid', 'confirmed', 'cancelled'];
const finalStatuses = new Set(['confirmed', 'cancelled']);

/** Consumer lag, dead letters and the outbox backlog, from the processes' metrics (`GET /operations/backlog`), every 5 s while shown. */
/** `onError` is told of each failed read, and called with null after a read that worked. */
export function backlogPanel(onError: (err: unknown) => void): { element: HTMLElement; refresh(): Promise<void> } {
  const body = h('div', { class: 'backlog-body' }, h('p', { class: 'muted' }, 'Reading the metrics…'));
  const element = h('section', { class: 'backlog', 'aria-labelledby': 'backlog-title' }, h('h2', { id: 'backlog-title' }, 'At a glance'), body);
  const refresh = async () => {
    try {
      const backlog = await api<Backlog>('GET', '/operations/backlog');
      onError(null);
      const failed = backlog.sources.filter((s) => !s.ok);
      replace(
        body,
        h(
          'dl',
          { class: 'tiles' },
          backlog.groups.map((g) => [
            h(
              'div',
              { class: `tile${(g.lag ?? 0) > 0 ? ' busy' : ''}${(g.deadLetters ?? 0) > 0 ? ' alarm' : ''}` },
              h('dt', {}, g.group),
              h('dd', {}, `lag ${g.lag ?? 'unknown'}`),
              h('dd', {}, g.deadLetters === null ? 'dead letters unknown' : plural(g.deadLetters, 'dead letter')),
            ),
          ]),
          backlog.outbox
            ? h(
                'div',
                { class: `tile${backlog.outbox.rows > 0 ? ' busy' : ''}` },
                h('dt', {}, 'outbox'),
                h('dd', {}, `${backlog.outbox.rows} unsent`),
                h('dd', {}, `oldest ${backlog.outbox.oldestAgeSeconds.toFixed(1)} s`),
              )
            : null,
        ),
        failed.length
          ? h('p', { class: 'warning' }, `No metrics from ${failed.map((s) => `${s.name} (${s.url}: ${s.error ?? 'no answer'})`).join(', ')}`)
          : null,
        h('p', { class: 'muted' }, `Read at ${new Date(backlog.scrapedAt).toLocaleTimeString()}`),
      );
    } catch (err) {
      onError(err);
    }
  };
  return { element, refresh };
}

/**
 * The operator's order list: filters by status, flow and customer, a page at a time, with
 * approve/reject for orders in review, cancel for orders not ended, and a link to watch one.
 */
export function ordersPanel(watch: (order: { orderId: string; flow: string }) => void, onError: (err: unknown) => void, announce: (text: string) => void) {
  const status = h(
    'select',
    { name: 'status' },
    statuses.map((s) => h('option', { value: s }, s || 'any')),
  );
  const flow = h(
    'select',
    { name: 'flow' },
    ['', 'orchestrated', 'choreographed'].map((f) => h('option', { value: f }, f || 'any')),
  );
  const customer = h('input', { name: 'customer', type: 'search', maxlength: 100 });
  const rows = h('tbody', {});
  const heading = h('h2', { id: 'orders-title', tabindex: -1 }, 'Orders');
  const more = h('button', { type: 'button', hidden: true }, 'More orders');
  let cursor: string | null = null;

  const command = async (order: OrderLine, verb: 'approve' | 'reject' | 'cancel') => {
    try {
      await api('POST', `/orders/${encodeURIComponent(order.orderId)}/${verb}`);
      announce(`${verb} sent for order ${order.orderId}`);
      // The list is drawn again: the keyboard stays on the order acted on (or on the list's heading).
      setTimeout(() => void load(false).then(() => refocus(order.orderId)), 800);
    } catch (err) {
      onError(err);
    }
  };
  const refocus = (orderId: string) => {
    const row = [...rows.querySelectorAll('tr')].find((tr) => tr.getAttribute('data-order-id') === orderId);
    (row?.querySelector('button') ?? heading).focus();
  };
  const line = (order: OrderLine) =>
    h(
      'tr',
      { 'data-order-id': order.orderId },
      // data-label: what a cell is, shown before it where the table is drawn as cards (narrow screens).
      h('td', { class: 'order-id', 'data-label': 'Order' }, order.orderId),
      h('td', { 'data-label': 'Flow' }, order.flow),
      h('td', { 'data-label': 'Status' }, h('span', { class: `status status-${order.status}` }, order.status)),
      h('td', { 'data-label': 'Customer' }, order.customerId ?? ''),
      h(
        'td',
        { class: 'actions', 'data-label': 'Actions' },
        h('button', { type: 'button', onclick: () => watch(order), 'aria-label': `Watch order ${order.orderId}` }, 'Watch'),
        order.status === 'awaiting_review'
          ? [
              h('button', { type: 'button', onclick: () => void command(order, 'approve'), 'aria-label': `Approve order ${order.orderId}` }, 'Approve'),
              h('button', { type: 'button', onclick: () => void command(order, 'reject'), 'aria-label': `Reject order ${order.orderId}` }, 'Reject'),
            ]
          : null,
        finalStatuses.has(order.status)
          ? null
          : h(
              'button',
              { type: 'button', class: 'secondary', onclick: () => void command(order, 'cancel'), 'aria-label': `Cancel order ${order.orderId}` },
              'Cancel',
            ),
      ),
    );
  // Only the latest read is drawn: an earlier one that answers later (another filter) would replace it.
  let latest = 0;
  const load = async (append: boolean) => {
    const mine = ++latest;
    rows.setAttribute('aria-busy', 'true');
    const query = new URLSearchParams({ limit: '20' });
    if (status.value) query.set('status', status.value);
    if (flow.value) query.set('flow', flow.value);
    if (customer.value.trim()) query.set('customerId', customer.value.trim());
    if (append && cursor) query.set('cursor', cursor);
    try {
      const page = await api<{ data: OrderLine[]; nextCursor: string | null }>('GET', `/orders?${query.toString()}`);
      if (mine !== latest) return;
      if (!append) rows.replaceChildren();
      for (const order of page.data) rows.appendChild(line(order));
      if (!append && page.data.length === 0) rows.appendChild(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No order matches.')));
      cursor = page.nextCursor;
      more.hidden = cursor === null;
    } catch (err) {
      onError(err);
    } finally {
      if (mine === latest) rows.setAttribute('aria-busy', 'false');
    }
  };
  more.addEventListener('click', () => void load(true));
  const filters = h(
    'form',
    { class: 'filters', 'aria-label': 'Order filters' },
    field('Status', status),
    field('Flow', flow),
    field('Customer', customer),
    h('button', { type: 'submit' }, 'Show'),
  );
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    void load(false);
  });
  const element = h(
    'section',
    { class: 'orders', 'aria-labelledby': 'orders-title' },
    heading,
    filters,
    h(
      'div',
      { class: 'table-scroll' },
      h(
        'table',
        {},
        h('caption', { class: 'visually-hidden' }, 'Orders, newest id first'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Order', 'Flow', 'Status', 'Customer', 'Actions'].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        rows,
      ),
    ),
    more,
  );
  return { element, load: () => load(false) };
}
