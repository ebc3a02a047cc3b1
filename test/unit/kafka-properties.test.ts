import { describe, expect, it } from 'vitest';
import { kafkaServerProperties, newClusterId } from '../../infra/stack/servers/kafka.ts';

const parse = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );

describe('Kafka broker settings', () => {
  const settings = parse(kafkaServerProperties({ dataDir: '/data/kafka', port: 19092, controllerPort: 19093 }));

  it('runs broker and controller in one KRaft node, listening on loopback only', () => {
    expect(settings['process.roles']).toBe('broker,controller');
    expect(settings['controller.quorum.voters']).toBe('1@127.0.0.1:19093');
    expect(settings.listeners).toBe('PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093');
    expect(settings['advertised.listeners']).toBe('PLAINTEXT://127.0.0.1:19092');
  });

  it('never creates a topic by accident and gives internal topics one replica', () => {
    expect(settings['auto.create.topics.enable']).toBe('false');
    expect(settings['offsets.topic.replication.factor']).toBe('1');
    expect(settings['transaction.state.log.replication.factor']).toBe('1');
    expect(settings['log.dirs']).toBe('/data/kafka/kraft-logs');
  });

  it('makes cluster ids of 16 random bytes in base64url', () => {
    const id = newClusterId();
    expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(newClusterId()).not.toBe(id);
  });

  it('never makes a cluster id the storage tool would read as an option', () => {
    // 0xf8 encodes to '-' as the first base64url character.
    const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x01)];
    expect(newClusterId(() => draws.shift()!)).toBe(Buffer.alloc(16, 0x01).toString('base64url'));
    expect(Buffer.alloc(16, 0xf8).toString('base64url').startsWith('-')).toBe(true);
  });
});
