import { randomUUID } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** A charge the simulated processor captured. */
export interface Charge {
  id: string;
  reference: string;
  amountCents: number;
  currency: string;
  status: 'captured' | 'refunded';
  createdAt: string;
}

/** A refund of a captured charge. */
export interface Refund {
  id: string;
  chargeId: string;
  reference: string;
  amountCents: number;
  currency: string;
  createdAt: string;
}

/** The answer stored under an Idempotency-Key, replayed for every later call with that key. */
export interface StoredResponse {
  requestHash: string;
  statusCode: number;
  body: unknown;
}

/** One change to the books, as a line of the journal; `at` is its time (ms since the epoch). */
type JournalEntry = (
  | { op: 'attempt'; key: string }
  | { op: 'answer'; key: string; response: StoredResponse }
  | { op: 'capture'; key: string; charge: Charge; response: StoredResponse }
  | { op: 'refund'; key: string; refund: Refund; response: StoredResponse }
  // What a compaction writes: everything still known of one key, as of its last change.
  | { op: 'key'; key: string; attempts: number; response?: StoredResponse; charge?: Charge; refund?: Refund }
) & { at?: number };

/** What the ledger knows of one Idempotency-Key. */
interface KeyState {
  /** Time of the key's last change: it is forgotten `retentionMs` after it. */
  at: number;
  attempts: number;
  response?: StoredResponse;
  /** The charge captured under the key. */
  charge?: Charge;
  /** The refund made under the key. */
  refund?: Refund;
}

const hour = 3_600_000;

/** Options of {@link GatewayLedger}. */
export interface GatewayLedgerOptions {
  /**
   * How long a key (its stored answer, attempt count, and the charge or refund made under it) is
   * kept after its last change: the gateway's idempotency window. A retry under a key older than
   * this is a new request. @default 24 hours
   */
  retentionMs?: number;
  /**
   * The journal is rewritten with only what is kept once it reaches this size and twice its size
   * after the last rewrite (so rewriting costs a constant share of the writes). @default 1 MiB
   */
  compactAtBytes?: number;
  /** The clock (ms since the epoch). @default Date.now */
  now?: () => number;
}

/**
 * The simulated processor's books: charges, refunds, stored answers per Idempotency-Key and the
 * attempt counts that drive the "fail the first N attempts" tokens.
 *
 * With a journal file, every change is appended to it as one JSON line before it is answered, and
 * a new ledger on the same file reads them back, so a simulator killed and restarted still knows
 * every charge and every key, as a real processor would (a capture and the answer stored under
 * its key are one line: a kill between them cannot leave a capture whose retry captures again).
 * The write is not fsynced: it survives the process, not the machine. Without a journal the
 * books live in memory only.
 *
 * Bounded: a key is forgotten `retentionMs` after its last change, with the charge or refund made
 * under it (a charge refunded under a later key stays listed as refunded while its own key is
 * kept). The journal is compacted — rewritten to a temporary file renamed over it, holding one
 * line per kept key — when it has grown (see `compactAtBytes`) and on {@link compact}.
 */
export class GatewayLedger {
  /** Every kept key, in the order of their last change (a change moves its key to the end). */
  private readonly keys = new Map<string, KeyState>();
  /** The kept charges and refunds, in the order they were made. */
  private readonly chargesById = new Map<string, Charge>();
  private readonly refundsById = new Map<string, Refund>();
  private readonly retentionMs: number;
  private readonly compactAtBytes: number;
  private readonly now: () => number;
  /** Size of the journal, and its size after the last rewrite. */
  private journalBytes = 0;
  private compactedBytes = 0;
  /** Lines in the journal; one per kept key after a rewrite. */
  private journalLines = 0;

  constructor(
    private readonly journalPath?: string,
    options: GatewayLedgerOptions = {},
  ) {
    this.retentionMs = options.retentionMs ?? 24 * hour;
    this.compactAtBytes = options.compactAtBytes ?? 1024 * 1024;
    this.now = options.now ?? Date.now;
    if (!journalPath) return;
    mkdirSync(dirname(journalPath), { recursive: true });
    if (!existsSync(journalPath)) return;
    const loadedAt = this.now();
    for (const line of readFileSync(journalPath, 'utf8').split('\n')) {
      // A line cut short by a kill mid-write was never answered: skip it.
      if (line.trim() === '') continue;
      let entry: JournalEntry;
      try {
        entry = JSON.parse(line) as JournalEntry;
      } catch {
        continue;
      }
      // A line of a journal written before lines had a time counts from now: kept a whole retention.
      this.apply(entry, entry.at ?? loadedAt);
      this.journalLines++;
    }
    // Lines of an old journal (no time) came first but count from now: keep the oldest key first.
    const byTime = [...this.keys].sort(([, a], [, b]) => a.at - b.at);
    this.keys.clear();
    for (const [key, state] of byTime) this.keys.set(key, state);
    this.journalBytes = statSync(journalPath).size;
    this.compactedBytes = this.journalBytes;
    this.expire();
  }

  /** The kept charges, oldest first. */
  get charges(): Charge[] {
    this.expire();
    return [...this.chargesById.values()];
  }

  /** The kept refunds, oldest first. */
  get refunds(): Refund[] {
    this.expire();
    return [...this.refundsById.values()];
  }

  /** How many keys are kept. */
  get keyCount(): number {
    this.expire();
    return this.keys.size;
  }

  /** The first kept charge of `reference`. */
  chargeOf(reference: string): Charge | undefined {
    this.expire();
    for (const charge of this.chargesById.values()) if (charge.reference === reference) return charge;
    return undefined;
  }

  /** Counts one more attempt under `key` and returns the count (1 for the first). */
  countAttempt(key: string): number {
    this.record({ op: 'attempt', key });
    return this.keys.get(key)?.attempts ?? 0;
  }

  storedResponse(key: string): StoredResponse | undefined {
    this.expire();
    return this.keys.get(key)?.response;
  }

  /** Stores the answer of a key that moved no money (a decline, a refund of nothing). */
  storeResponse(key: string, response: StoredResponse): void {
    this.record({ op: 'answer', key, response });
  }

  /** Captures a charge and stores the answer under its key, as one change. */
  capture(key: string, requestHash: string, reference: string, amountCents: number, currency: string): Charge {
    const charge: Charge = {
      id: `ch_${randomUUID()}`,
      reference,
      amountCents,
      currency,
      status: 'captured',
      createdAt: new Date(this.now()).toISOString(),
    };
    this.record({ op: 'capture', key, charge, response: { requestHash, statusCode: 201, body: charge } });
    return this.chargesById.get(charge.id)!;
  }

  /** Refunds a captured charge and stores the answer under its key, as one change. */
  refund(key: string, requestHash: string, charge: Charge): Refund {
    const refund: Refund = {
      id: `re_${randomUUID()}`,
      chargeId: charge.id,
      reference: charge.reference,
      amountCents: charge.amountCents,
      currency: charge.currency,
      createdAt: new Date(this.now()).toISOString(),
    };
    this.record({ op: 'refund', key, refund, response: { requestHash, statusCode: 201, body: refund } });
    return refund;
  }

  /**
   * Forgets the keys past the retention and rewrites the journal with what is kept, when it holds
   * anything else (lines of forgotten keys, or several lines of one key). Returns whether it did.
   */
  compact(): boolean {
    this.expire();
    if (!this.journalPath || this.journalLines === this.keys.size) return false;
    const text = [...this.keys].map(([key, state]) => `${JSON.stringify(snapshotOf(key, state))}\n`).join('');
    // Written whole and flushed before it replaces the journal: a kill leaves the old one or the new one.
    const temporary = `${this.journalPath}.compacting`;
    const fd = openSync(temporary, 'w');
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.journalPath);
    this.journalBytes = Buffer.byteLength(text);
    this.compactedBytes = this.journalBytes;
    this.journalLines = this.keys.size;
    return true;
  }

  private record(entry: JournalEntry): void {
    const at = this.now();
    if (this.journalPath) {
      const line = `${JSON.stringify({ ...entry, at })}\n`;
      appendFileSync(this.journalPath, line);
      this.journalBytes += Buffer.byteLength(line);
      this.journalLines++;
    }
    this.apply(entry, at);
    this.expire();
    if (this.journalBytes >= Math.max(this.compactAtBytes, 2 * this.compactedBytes)) this.compact();
  }

  private apply(entry: JournalEntry, at: number): void {
    const state = this.keys.get(entry.key) ?? { at, attempts: 0 };
    // Re-inserted: the map stays in the order of last change, so the oldest key is the first.
    this.keys.delete(entry.key);
    this.keys.set(entry.key, state);
    state.at = at;
    switch (entry.op) {
      case 'attempt':
        state.attempts++;
        return;
      case 'answer':
        state.response = entry.response;
        return;
      case 'capture':
        state.charge = { ...entry.charge };
        this.chargesById.set(state.charge.id, state.charge);
        state.response = entry.response;
        return;
      case 'refund':
        this.refunded(entry.refund);
        state.refund = entry.refund;
        this.refundsById.set(entry.refund.id, entry.refund);
        state.response = entry.response;
        return;
      case 'key':
        state.attempts = entry.attempts;
        if (entry.response) state.response = entry.response;
        if (entry.charge) {
          state.charge = { ...entry.charge };
          this.chargesById.set(state.charge.id, state.charge);
        }
        if (entry.refund) {
          this.refunded(entry.refund);
          state.refund = entry.refund;
          this.refundsById.set(entry.refund.id, entry.refund);
        }
        return;
    }
  }

  private refunded(refund: Refund): void {
    const charge = this.chargesById.get(refund.chargeId);
    if (charge) charge.status = 'refunded';
  }

  /** Forgets every key whose last change is more than the retention ago (the oldest come first). */
  private expire(): void {
    const horizon = this.now() - this.retentionMs;
    for (const [key, state] of this.keys) {
      if (state.at >= horizon) return;
      this.keys.delete(key);
      if (state.charge) this.chargesById.delete(state.charge.id);
      if (state.refund) this.refundsById.delete(state.refund.id);
    }
  }
}

/** The line a compaction writes for a kept key. */
const snapshotOf = (key: string, state: KeyState): JournalEntry => ({
  op: 'key',
  key,
  at: state.at,
  attempts: state.attempts,
  ...(state.response ? { response: state.response } : {}),
  ...(state.charge ? { charge: state.charge } : {}),
  ...(state.refund ? { refund: state.refund } : {}),
});
