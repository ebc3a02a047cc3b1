import { api } from './api.ts';
import { field, h, replace } from './dom.ts';

interface DeadLetter {
  group: string;
  id: string;
  key: string | null;
  originalTopic: string;
  originalPartition: number;
  originalOffset: string;
  error: string;
  attempts: number;
  failedAt: string;
  headers: Record<string, string>;
  value: unknown;
  replays: { at: string; by: string }[];
}

const groups = ['', 'orders', 'inventory', 'payments', 'notifications', 'projector'];

/** The dead-letter topics of the consumer groups (`GET /dead-letters`): each message with its headers decoded, and a replay button. */
export function deadLettersPanel(onError: (err: unknown) => void, announce: (text: string) => void) {
  const group = h(
    'select',
    { name: 'group' },
    groups.map((g) => h('option', { value: g }, g || 'every group')),
  );
  const list = h('div', { class: 'letters' });
  const replay = async (letter: DeadLetter, button: HTMLButtonElement) => {
    button.disabled = true;
    try {
      const answer = await api<{ replayed: string[]; unknown: string[] }>('POST', `/dead-letters/${encodeURIComponent(letter.group)}/replay`, {
        body: { ids: [letter.id] },
      });
      announce(
        answer.replayed.includes(letter.id)
          ? `Dead letter ${letter.group} ${letter.id} replayed to ${letter.originalTopic}`
          : `Dead letter ${letter.group} ${letter.id} is no longer in its topic`,
      );
      await load();
    } catch (err) {
      onError(err);
    } finally {
      button.disabled = false;
    }
  };
  const card = (letter: DeadLetter) => {
    const button = h('button', { type: 'button', 'aria-label': `Replay dead letter ${letter.group} ${letter.id}` }, 'Replay');
    button.addEventListener('click', () => void replay(letter, button));
    return h(
      'article',
      { class: 'letter', 'data-key': letter.key ?? '' },
      h('h3', {}, `${letter.group} · ${letter.id}`),
      h(
        'dl',
        {},
        h('dt', {}, 'Order (key)'),
        h('dd', {}, letter.key ?? '(none)'),
        h('dt', {}, 'From'),
        h('dd', {}, `${letter.originalTopic} partition ${letter.originalPartition} offset ${letter.originalOffset}`),
        h('dt', {}, 'Error'),
        h('dd', { class: 'error-text' }, letter.error),
        h('dt', {}, 'Attempts'),
        h('dd', {}, String(letter.attempts)),
        h('dt', {}, 'Failed at'),
        h('dd', {}, letter.failedAt),
        h('dt', {}, 'Replayed'),
        h('dd', { class: 'replays' }, letter.replays.length ? letter.replays.map((r) => `${r.at} by ${r.by}`).join('; ') : 'never'),
      ),
      h(
        'details',
        {},
        h('summary', {}, 'Headers and message'),
        h(
          'table',
          { class: 'headers' },
          h('caption', { class: 'visually-hidden' }, 'Message headers'),
          h(
            'tbody',
            {},
            Object.entries(letter.headers).map(([name, value]) => h('tr', {}, h('th', { scope: 'row' }, name), h('td', {}, value))),
          ),
        ),
        h('pre', {}, typeof letter.value === 'string' ? letter.value : JSON.stringify(letter.value, null, 2)),
      ),
      button,
    );
  };
  // Only the latest read is drawn: an earlier one that answers later would replace it (and close what the operator opened).
  let latest = 0;
  const load = async () => {
    const mine = ++latest;
    list.setAttribute('aria-busy', 'true');
    try {
      const query = group.value ? `?group=${encodeURIComponent(group.value)}` : '';
      const { data } = await api<{ data: DeadLetter[] }>('GET', `/dead-letters${query}`);
      if (mine === latest) replace(list, data.length ? data.map(card) : h('p', { class: 'muted' }, 'No dead letters.'));
    } catch (err) {
      onError(err);
    } finally {
      if (mine === latest) list.setAttribute('aria-busy', 'false');
    }
  };
  const filters = h('form', { class: 'filters', 'aria-label': 'Dead-letter filter' }, field('Consumer group', group), h('button', { type: 'submit' }, 'Show'));
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    void load();
  });
  const element = h(
    'section',
    { class: 'dead-letters', 'aria-labelledby': 'dlq-title' },
    h('h2', { id: 'dlq-title' }, 'Dead letters'),
    h(
      'p',
      { class: 'muted' },
      'Messages a consumer group gave up on. Fix the cause, then replay: the group gets the message again, and applies it at most once.',
    ),
    filters,
    list,
  );
  return { element, load };
}
