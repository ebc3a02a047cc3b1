import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
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

/** One change to the books, as a line of the journal. */
type JournalEntry =
  | { op: 'attempt'; key: string }
  | { op: 'answer'; key: string; response: StoredResponse }
  | { op: 'capture'; key: string; charge: Charge; response: StoredResponse }
  | { op: 'refund'; key: string; refund: Refund; response: StoredResponse };

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
 */
export class GatewayLedger {
  readonly charges: Charge[] = [];
  readonly refunds: Refund[] = [];
  private readonly responses = new Map<string, StoredResponse>();
  private readonly attempts = new Map<string, number>();

  constructor(private readonly journalPath?: string) {
    if (!journalPath) return;
    mkdirSync(dirname(journalPath), { recursive: true });
    if (!existsSync(journalPath)) return;
    for (const line of readFileSync(journalPath, 'utf8').split('\n')) {
      // A line cut short by a kill mid-write was never answered: skip it.
      if (line.trim() === '') continue;
      try {
        this.apply(JSON.parse(line) as JournalEntry);
      } catch {
        continue;
      }
    }
  }

  /** Counts one more attempt under `key` and returns the count (1 for the first). */
  countAttempt(key: string): number {
    this.record({ op: 'attempt', key });
    return this.attempts.get(key) ?? 0;
  }

  storedResponse(key: string): StoredResponse | undefined {
    return this.responses.get(key);
  }

  /** Stores the answer of a key that moved no money (a decline, a refund of nothing). */
  storeResponse(key: string, response: StoredResponse): void {
    this.record({ op: 'answer', key, response });
  }

  /** Captures a charge and stores the answer under its key, as one change. */
  capture(key: string, requestHash: string, reference: string, amountCents: number, currency: string): Charge {
    const charge: Charge = { id: `ch_${randomUUID()}`, reference, amountCents, currency, status: 'captured', createdAt: new Date().toISOString() };
    this.record({ op: 'capture', key, charge, response: { requestHash, statusCode: 201, body: charge } });
    return this.charges[this.charges.length - 1]!;
  }

  /** Refunds a captured charge and stores the answer under its key, as one change. */
  refund(key: string, requestHash: string, charge: Charge): Refund {
    const refund: Refund = {
      id: `re_${randomUUID()}`,
      chargeId: charge.id,
      reference: charge.reference,
      amountCents: charge.amountCents,
      currency: charge.currency,
      createdAt: new Date().toISOString(),
    };
    this.record({ op: 'refund', key, refund, response: { requestHash, statusCode: 201, body: refund } });
    return refund;
  }

  private record(entry: JournalEntry): void {
    if (this.journalPath) appendFileSync(this.journalPath, `${JSON.stringify(entry)}\n`);
    this.apply(entry);
  }

  private apply(entry: JournalEntry): void {
    switch (entry.op) {
      case 'attempt':
        this.attempts.set(entry.key, (this.attempts.get(entry.key) ?? 0) + 1);
        return;
      case 'answer':
        this.responses.set(entry.key, entry.response);
        return;
      case 'capture':
        this.charges.push({ ...entry.charge });
        this.responses.set(entry.key, entry.response);
        return;
      case 'refund': {
        const charge = this.charges.find((c) => c.id === entry.refund.chargeId);
        if (charge) charge.status = 'refunded';
        this.refunds.push(entry.refund);
        this.responses.set(entry.key, entry.response);
        return;
      }
    }
  }
}
