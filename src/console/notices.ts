import { ApiError } from './api.ts';
import { h } from './dom.ts';

/** Where errors and notices appear: the page's alert region, under the navigation. */
const errors = () => document.getElementById('errors')!;

/**
 * Shows an error in words (the API's message, or what failed), until dismissed. An error with a
 * `key` (a stream that keeps failing, the backlog's refresh) replaces the one shown before it
 * under the same key instead of piling up; {@link clearError} takes it away once it works again.
 */
export function showError(err: unknown, key?: string, action?: HTMLElement): void {
  const text = err instanceof ApiError || err instanceof Error ? err.message : String(err);
  if (err instanceof ApiError && err.code === 'SIGNED_OUT') return; // the session banner says it
  const dismiss = h('button', { type: 'button', class: 'secondary', 'aria-label': 'Dismiss this error' }, 'Dismiss');
  const item = h('p', { class: 'error', ...(key ? { 'data-key': key } : {}) }, text, ' ', action ?? null, ' ', dismiss);
  dismiss.addEventListener('click', () => item.remove());
  const shown = key ? [...errors().children].find((e) => e.getAttribute('data-key') === key) : undefined;
  if (shown) shown.replaceWith(item);
  else errors().appendChild(item);
}

/** Takes away the error shown under `key`, if any. */
export function clearError(key: string): void {
  for (const e of [...errors().children]) if (e.getAttribute('data-key') === key) e.remove();
}

/** Says what an action did: in a live region for screen readers, and for a few seconds on screen. */
export function announce(text: string): void {
  let status = document.getElementById('announcements');
  if (!status) {
    status = h('p', { id: 'announcements', class: 'visually-hidden', role: 'status' });
    document.body.appendChild(status);
  }
  status.textContent = text;
  const toast = h('p', { class: 'toast' }, text);
  errors().after(toast);
  setTimeout(() => toast.remove(), 4000);
}
