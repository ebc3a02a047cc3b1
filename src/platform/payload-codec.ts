import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { METADATA_ENCODING_KEY, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { ConfigError } from './config.ts';

/** `encoding` metadata of a payload this codec encrypted. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata key naming the key that encrypted a payload. */
export const KEY_ID_METADATA_KEY = 'encryption-key-id';

const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
// 96-bit IV, random per payload: the size GCM is specified for (NIST SP 800-38D).
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** One AES-256 key of the ring, with the id written into the metadata of the payloads it encrypts. */
export interface PayloadKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

/** Thrown when a payload names a key id that is not in the key ring (a key removed too early, or another deployment's payload). */
export class PayloadKeyUnknownError extends Error {
  override readonly name = 'PayloadKeyUnknownError';
  readonly code = 'PAYLOAD_KEY_UNKNOWN';
  constructor(readonly keyId: string) {
    super(`payload encrypted with key "${keyId}", which is not in the key ring (TEMPORAL_PAYLOAD_KEYS / TEMPORAL_PAYLOAD_KEYS_FILE)`);
  }
}

/** Thrown when an encrypted payload fails authentication (tampered, truncated, or encrypted under another key with the same id). */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
  readonly code = 'PAYLOAD_UNDECRYPTABLE';
  constructor(
    readonly keyId: string,
    options?: { cause?: unknown },
  ) {
    super(`payload encrypted with key "${keyId}" does not decrypt: its ciphertext or auth tag was altered`, options);
  }
}

const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
const textOf = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/**
 * The inner payload as bytes. JSON rather than the Payload protobuf so that src/ needs no
 * dependency on @temporalio/proto; metadata values and data are bytes, hence base64.
 */
function serialize(payload: Payload): Buffer {
  const metadata = Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  return Buffer.from(JSON.stringify({ metadata, data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') }), 'utf8');
}

function deserialize(bytes: Buffer): Payload {
  const inner = JSON.parse(bytes.toString('utf8')) as { metadata: Record<string, string>; data: string };
  return {
    metadata: Object.fromEntries(Object.entries(inner.metadata).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
    data: new Uint8Array(Buffer.from(inner.data, 'base64')),
  };
}

/**
 * A Temporal {@link PayloadCodec} that encrypts every payload with AES-256-GCM.
 *
 * - The encrypted payload's data is `IV (12 bytes) | ciphertext | auth tag (16 bytes)` of the whole
 *   original payload (metadata and data); its metadata is `encoding: binary/encrypted` and
 *   `encryption-key-id: <id>`, so the server and the Web UI see nothing but the key id.
 * - Rotation: `keys` is a ring, newest last. New payloads use the newest key; a payload of any key
 *   in the ring still decodes, so old keys stay until no history needs them.
 * - A payload without `binary/encrypted` encoding passes through unchanged: histories written
 *   before the codec existed stay readable.
 * - Decoding fails with {@link PayloadKeyUnknownError} (naming the key id) or
 *   {@link PayloadDecryptionError} (auth tag check failed).
 *
 * Use it on every client and worker of the same workflows: `dataConverter: { payloadCodecs: [codec] }`.
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly byId: ReadonlyMap<string, Buffer>;
  private readonly current: PayloadKey;

  /** @param keys the key ring, newest last; at least one, each 32 bytes, ids unique. */
  constructor(keys: readonly PayloadKey[]) {
    const current = keys.at(-1);
    if (!current) throw new Error('a payload codec needs at least one key');
    for (const { id, key } of keys) if (key.length !== KEY_BYTES) throw new Error(`payload key "${id}" has ${key.length} bytes; AES-256 needs ${KEY_BYTES}`);
    this.byId = new Map(keys.map(({ id, key }) => [id, key]));
    if (this.byId.size !== keys.length) throw new Error('payload key ids must be unique');
    this.current = current;
  }

  /** The id new payloads are encrypted with (the newest key). */
  get currentKeyId(): string {
    return this.current.id;
  }

  // A throw inside the executor rejects the promise, rather than throwing at the call.
  encode(payloads: Payload[]): Promise<Payload[]> {
    return new Promise((resolve) => resolve(payloads.map((payload) => this.encrypt(payload))));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return new Promise((resolve) => resolve(payloads.map((payload) => this.decrypt(payload))));
  }

  private encrypt(payload: Payload): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.current.key, iv);
    const ciphertext = Buffer.concat([cipher.update(serialize(payload)), cipher.final()]);
    return {
      metadata: { [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA_KEY]: utf8(this.current.id) },
      data: new Uint8Array(Buffer.concat([iv, ciphertext, cipher.getAuthTag()])),
    };
  }

  private decrypt(payload: Payload): Payload {
    if (textOf(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const keyId = textOf(payload.metadata?.[KEY_ID_METADATA_KEY]) ?? '';
    const key = this.byId.get(keyId);
    if (!key) throw new PayloadKeyUnknownError(keyId);
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(keyId);
    try {
      const decipher = createDecipheriv(ALGORITHM, key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      return deserialize(Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]));
    } catch (err) {
      throw new PayloadDecryptionError(keyId, { cause: err });
    }
  }
}

/**
 * Parses a key ring written as `id:base64,id:base64,...` (newest last), the form of
 * `TEMPORAL_PAYLOAD_KEYS`, or as the JSON array `[{ "id": "...", "key": "<base64>" }, ...]` of a
 * `TEMPORAL_PAYLOAD_KEYS_FILE`.
 * @throws ConfigError naming each malformed entry and each key that is not 32 bytes.
 */
export function parsePayloadKeys(text: string, source: string): PayloadKey[] {
  const trimmed = text.trim();
  let entries: { id: string; key: string }[];
  if (trimmed.startsWith('[')) {
    try {
      entries = JSON.parse(trimmed) as { id: string; key: string }[];
    } catch (err) {
      throw new ConfigError(`${source} is not valid JSON: ${(err as Error).message}`);
    }
  } else {
    entries = trimmed
      .split(',')
      .filter((entry) => entry.trim() !== '')
      .map((entry) => {
        const at = entry.indexOf(':');
        return at < 0 ? { id: entry.trim(), key: '' } : { id: entry.slice(0, at).trim(), key: entry.slice(at + 1).trim() };
      });
  }
  const problems: string[] = [];
  const keys = (Array.isArray(entries) ? entries : []).map(({ id, key }) => {
    const bytes = Buffer.from(typeof key === 'string' ? key : '', 'base64');
    if (typeof id !== 'string' || id === '') problems.push(`${source}: a key has no id`);
    else if (bytes.length !== KEY_BYTES) problems.push(`${source}: key "${id}" must be ${KEY_BYTES} bytes in base64, got ${bytes.length}`);
    return { id, key: bytes };
  });
  if (keys.length === 0) problems.push(`${source} holds no key`);
  if (new Set(keys.map(({ id }) => id)).size !== keys.length) problems.push(`${source}: key ids must be unique`);
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  return keys;
}

/** The settings {@link payloadCodecOf} reads (part of `TemporalEnv`). */
export interface PayloadKeySettings {
  TEMPORAL_PAYLOAD_KEYS?: string;
  TEMPORAL_PAYLOAD_KEYS_FILE?: string;
}

/**
 * The payload codec the settings configure, or undefined when no key is configured (payloads
 * stay plain). Keys come from `TEMPORAL_PAYLOAD_KEYS` or the file `TEMPORAL_PAYLOAD_KEYS_FILE`,
 * never from the repository.
 * @throws ConfigError when both are set, the file cannot be read, or a key is malformed.
 */
export function payloadCodecOf(settings: PayloadKeySettings): AesGcmPayloadCodec | undefined {
  const keys = keyRingOf('TEMPORAL_PAYLOAD_KEYS', settings.TEMPORAL_PAYLOAD_KEYS, settings.TEMPORAL_PAYLOAD_KEYS_FILE);
  return keys && new AesGcmPayloadCodec(keys);
}

/**
 * A key ring configured by a variable `<name>` (`id:base64,...`) or a file `<name>_FILE`
 * (`[{ "id", "key" }]`), newest last; undefined when neither is set. The payload codec's keys and
 * the payment vault's are read this way.
 * @throws ConfigError when both are set, the file cannot be read, or a key is malformed.
 */
export function keyRingOf(name: string, inline: string | undefined, file: string | undefined): PayloadKey[] | undefined {
  if (inline && file) throw new ConfigError(`set ${name} or ${name}_FILE, not both`);
  if (inline) return parsePayloadKeys(inline, name);
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${name}_FILE ${file} cannot be read: ${(err as Error).message}`);
  }
  return parsePayloadKeys(text, `${name}_FILE ${file}`);
}

/** `{ payloadCodecs: [codec] }` for a Temporal client or worker, or `{}` without a codec. */
export function dataConverterOf(codec: PayloadCodec | undefined): DataConverter {
  return codec ? { payloadCodecs: [codec] } : {};
}

/** A new random key ring entry (`id` + 32 random bytes), e.g. for the stack's generated key file. */
export function generatePayloadKey(id: string): { id: string; key: string } {
  return { id, key: randomBytes(KEY_BYTES).toString('base64') };
}
