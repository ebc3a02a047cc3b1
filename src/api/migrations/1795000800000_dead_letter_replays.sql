-- Up Migration
-- Every replay of a dead letter through the API (POST /dead-letters/:group/replay): which letter,
-- when, and who sent it again. A letter may be replayed more than once (the consumers are
-- idempotent), and each replay is a row: GET /dead-letters lists them with the letter.
create table api.dead_letter_replays (
  id           bigint generated always as identity primary key,
  group_id     text not null,
  letter_id    text not null,
  replayed_at  timestamptz not null default now(),
  replayed_by  text not null
);
create index dead_letter_replays_letter on api.dead_letter_replays (group_id, letter_id);

-- Down Migration
drop table api.dead_letter_replays;
