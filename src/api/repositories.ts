import type { CatalogItem } from '../contexts/inventory/inventory-store.ts';
import type { OrderFlows } from '../flows/order-flows.ts';
import type { OrderChanges } from '../projections/order-changes.ts';
import type { ReadModelQueries } from '../projections/read-model-queries.ts';
import type { DeadLetterReplay } from './dead-letter-replays.ts';
import type { IdempotentAnswer } from './idempotency-store.ts';

/** The catalog questions the API asks (the inventory context answers them). */
export interface CatalogQueries {
  /** The SKUs of `skus` the catalog does not have. */
  unknownSkus(skus: readonly string[]): Promise<string[]>;
  /** Every product, by SKU. */
  list(): Promise<CatalogItem[]>;
}

/** The API's own store of Idempotency-Keys (schema `api`), see src/api/idempotency-store.ts. */
export interface IdempotencyKeys {
  claim<T>(key: string, requestHash: string, response: T): Promise<IdempotentAnswer<T>>;
}

/** The API's record of dead-letter replays (schema `api`), see src/api/dead-letter-replays.ts. */
export interface DeadLetterReplays {
  record(groupId: string, letterIds: readonly string[], actor: string): Promise<void>;
  /** By group id, then letter id (`partition:offset`), oldest first. */
  of(groupIds: readonly string[]): Promise<Map<string, Map<string, DeadLetterReplay[]>>>;
}

/** The customers context's erasure of personal data (crypto-shredding), see src/contexts/customers. */
export interface PersonalData {
  erase(customerId: string): Promise<{ keysDeleted: number; erasedAt: Date }>;
}

/**
 * What the routes use, decorated onto the Fastify instance by `buildApiApp` (so that every route
 * plugin sees them, with no module of the API running SQL or importing a flow).
 */
export interface ApiRepositories {
  /** Both flows, through the flows port. */
  flows: OrderFlows;
  /** The read model. */
  readModel: ReadModelQueries;
  /** Its changes as they commit, by order (the live timelines). */
  orderChanges: OrderChanges;
  catalog: CatalogQueries;
  idempotencyKeys: IdempotencyKeys;
  deadLetterReplays: DeadLetterReplays;
  personalData: PersonalData;
}

declare module 'fastify' {
  // Declaration merging: the decorators of buildApiApp, typed on every instance.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- an interface merges; a type alias cannot
  interface FastifyInstance extends ApiRepositories {}
}
