import type { EventEnvelope, EventType } from '../../../src/domain/events.ts';
import { schemaIdHeader } from '../../../src/messaging/event-schemas.ts';
import { registerEventContracts, type EventContracts } from '../../../src/messaging/schema-registry.ts';
import type { TestServers } from '../../setup/servers.ts';

const registered = new Map<string, Promise<EventContracts>>();

/**
 * The catalog's contracts registered in the suite's schema registry, as a process registers them
 * at start; once per test file (each file has its own module cache).
 */
export function testContracts(servers: Pick<TestServers, 'schemaRegistryUrl'>): Promise<EventContracts> {
  let contracts = registered.get(servers.schemaRegistryUrl);
  if (!contracts) {
    contracts = registerEventContracts({ url: servers.schemaRegistryUrl });
    registered.set(servers.schemaRegistryUrl, contracts);
  }
  return contracts;
}

/** The header a producer of the project sends with `event`: the registry id of its schema. */
export const schemaHeaders = (contracts: EventContracts, event: { type: EventType; schemaVersion: number }): Record<string, string> => ({
  [schemaIdHeader]: String(contracts.schemaIdOf(event.type, event.schemaVersion)),
});

/**
 * Problems with the schema ids of `events` as read back from their topics: each must carry the
 * registry id of its type's schema in its version, and match the schema that id names. Empty
 * when all is well.
 */
export async function schemaIdProblems(
  contracts: EventContracts,
  events: readonly (EventEnvelope & { topic: string; offset: string; partition: number; headers: Record<string, string> })[],
): Promise<string[]> {
  const problems: string[] = [];
  for (const { topic, partition, offset, headers, ...event } of events) {
    const where = `${topic}/${partition}@${offset} (${event.type} v${event.schemaVersion})`;
    const id = headers[schemaIdHeader];
    if (id !== String(contracts.schemaIdOf(event.type, event.schemaVersion))) {
      problems.push(`${where}: schema id ${id ?? 'missing'}`);
      continue;
    }
    await contracts.checkWriterSchema(Number(id), event).catch((err: unknown) => problems.push(`${where}: ${(err as Error).message}`));
  }
  return problems;
}
