import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { afterAll, describe, expect, it } from 'vitest';
import { ensurePayloadKeysFile } from '../../infra/stack/payload-keys.ts';
import { ConfigError } from '../../src/platform/config.ts';
import { AesGcmPayloadCodec, PayloadDecryptionError, PayloadKeyUnknownError, payloadCodecOf, type PayloadKey } from '../../src/platform/payload-codec.ts';

const key = (id: string): PayloadKey => ({ id, key: randomBytes(32) });
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('utf8');
const order = { orderId: 'o-1', email: 'alice@example.com', paymentToken: 'tok_approve' };
const plain = (): Payload => defaultPayloadConverter.toPayload(order);

const dir = mkdtempSync(join(tmpdir(), 'order-saga-payload-codec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('AES-256-GCM payload codec', () => {
  it('encrypts a payload so that neither its data nor its metadata is readable, and decrypts it back', async () => {
    const codec = new AesGcmPayloadCodec([key('k1')]);
    const [encrypted] = await codec.encode([plain()]);
    expect(text(encrypted?.metadata?.encoding)).toBe('binary/encrypted');
    expect(text(encrypted?.metadata?.['encryption-key-id'])).toBe('k1');
    expect(Buffer.from(encrypted!.data!).toString('latin1')).not.toContain('alice@example.com');
    expect(Object.keys(encrypted!.metadata!).sort()).toEqual(['encoding', 'encryption-key-id']);
    const [decrypted] = await codec.decode([encrypted!]);
    expect(defaultPayloadConverter.fromPayload(decrypted!)).toEqual(order);
    expect(text(decrypted?.metadata?.encoding)).toBe('json/plain');
  });

  it('uses a fresh IV per payload, so the same value never gives the same ciphertext', async () => {
    const codec = new AesGcmPayloadCodec([key('k1')]);
    const [a, b] = await codec.encode([plain(), plain()]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('after rotation encrypts with the newest key and still decrypts payloads of the older one', async () => {
    const old = key('2026-01');
    const [before] = await new AesGcmPayloadCodec([old]).encode([plain()]);
    const rotated = new AesGcmPayloadCodec([old, key('2026-02')]);
    const [after] = await rotated.encode([plain()]);
    expect(text(after?.metadata?.['encryption-key-id'])).toBe('2026-02');
    expect(rotated.currentKeyId).toBe('2026-02');
    const decoded = await rotated.decode([before!, after!]);
    expect(decoded.map((payload) => defaultPayloadConverter.fromPayload(payload))).toEqual([order, order]);
  });

  it('fails on a payload of a key it does not have, naming the key id', async () => {
    const [encrypted] = await new AesGcmPayloadCodec([key('retired-key')]).encode([plain()]);
    const error = await new AesGcmPayloadCodec([key('k2')]).decode([encrypted!]).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(PayloadKeyUnknownError);
    expect((error as PayloadKeyUnknownError).code).toBe('PAYLOAD_KEY_UNKNOWN');
    expect((error as Error).message).toContain('"retired-key"');
  });

  it('refuses a payload whose ciphertext was altered (the auth tag does not match)', async () => {
    const codec = new AesGcmPayloadCodec([key('k1')]);
    const [encrypted] = await codec.encode([plain()]);
    const data = Buffer.from(encrypted!.data!);
    data[20] = data[20]! ^ 0x01;
    const error = await codec.decode([{ ...encrypted, data: new Uint8Array(data) }]).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(PayloadDecryptionError);
    expect((error as PayloadDecryptionError).code).toBe('PAYLOAD_UNDECRYPTABLE');
  });

  it('passes a payload without encryption metadata through unchanged (histories from before the codec)', async () => {
    const codec = new AesGcmPayloadCodec([key('k1')]);
    const before = plain();
    const [decoded] = await codec.decode([before]);
    expect(decoded).toBe(before);
  });
});

describe('payload keys from configuration', () => {
  const base64 = (bytes: number) => randomBytes(bytes).toString('base64');

  it('makes no codec when no key is configured, so payloads stay plain', () => {
    expect(payloadCodecOf({})).toBeUndefined();
  });

  it('reads a comma-separated key ring, newest last', () => {
    expect(payloadCodecOf({ TEMPORAL_PAYLOAD_KEYS: `old:${base64(32)},new:${base64(32)}` })?.currentKeyId).toBe('new');
  });

  it('rejects a key that is not 32 bytes with a config error naming it', () => {
    const error = (() => {
      try {
        return payloadCodecOf({ TEMPORAL_PAYLOAD_KEYS: `short:${base64(16)}` });
      } catch (err) {
        return err;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('key "short" must be 32 bytes');
  });

  it("reads the stack's generated key file, which is written once and only its owner may read", () => {
    const path = join(dir, 'secrets', 'keys.json');
    ensurePayloadKeysFile(path);
    const first = readFileSync(path, 'utf8');
    ensurePayloadKeysFile(path);
    expect(readFileSync(path, 'utf8')).toBe(first);
    expect(statSync(path).mode & 0o077).toBe(0);
    expect(payloadCodecOf({ TEMPORAL_PAYLOAD_KEYS_FILE: path })?.currentKeyId).toMatch(/^stack-/);
  });

  it('rejects a key file holding a key of the wrong length', () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, JSON.stringify([{ id: 'k', key: base64(31) }]));
    expect(() => payloadCodecOf({ TEMPORAL_PAYLOAD_KEYS_FILE: path })).toThrow(ConfigError);
  });
});
