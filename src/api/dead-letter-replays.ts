import type { Queryable } from '../platform/database.ts';

/** One replay of a dead letter: when, and who sent it again. */
export interface DeadLetterReplay {
  at: Date;
  by: string;
}

/** Records that `actor` replayed the dead letters `letterIds` of the consumer group `groupId`, in one statement. */
export async function recordDeadLetterReplays(db: Queryable, groupId: string, letterIds: readonly string[], actor: string): Promise<void> {
  if (letterIds.length === 0) return;
  await db.query('insert into api.dead_letter_replays (group_id, letter_id, replayed_by) select $1, unnest($2::text[]), $3', [groupId, letterIds, actor]);
}

/**
 * The replays of the dead letters of the consumer groups `groupIds`, oldest first, by group id and
 * then letter id (`partition:offset`).
 */
export async function deadLetterReplays(db: Queryable, groupIds: readonly string[]): Promise<Map<string, Map<string, DeadLetterReplay[]>>> {
  const { rows } = await db.query<{ group_id: string; letter_id: string; replayed_at: Date; replayed_by: string }>(
    'select group_id, letter_id, replayed_at, replayed_by from api.dead_letter_replays where group_id = any($1) order by replayed_at, id',
    [groupIds],
  );
  const byGroup = new Map<string, Map<string, DeadLetterReplay[]>>();
  for (const row of rows) {
    const letters = byGroup.get(row.group_id) ?? new Map<string, DeadLetterReplay[]>();
    byGroup.set(row.group_id, letters);
    letters.set(row.letter_id, [...(letters.get(row.letter_id) ?? []), { at: row.replayed_at, by: row.replayed_by }]);
  }
  return byGroup;
}
