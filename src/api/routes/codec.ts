import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { Type } from 'typebox';
import { PayloadDecryptionError, PayloadKeyUnknownError } from '../../platform/payload-codec.ts';
import { HttpProblem } from '../error-handler.ts';
import { Problem } from '../schemas.ts';

/** Options of {@link codecRoutes}. */
export interface CodecRoutesOptions {
  /** The codec of the workers and clients (the same key ring). */
  codec: PayloadCodec;
  /** Origin of the Temporal Web UI (e.g. `http://localhost:8233`): the one origin the browser may call from. */
  uiOrigin: string;
  /**
   * Who may call it: operators (a bearer token with the operator role, which a Web UI with its own
   * login passes along), or anyone who reaches the API (`'public'`): the dev profile's Temporal dev
   * server has no login, so its UI has no token to pass, and the API there listens on loopback only
   * (src/workers/api.ts refuses `'public'` on any other address).
   * @default ['operator']
   */
  access?: 'public' | ['operator'];
}

const tags = ['operations'];

// Proto3 JSON of temporal.api.common.v1.Payload: bytes (metadata values, data) are base64.
const JsonPayload = Type.Object({
  metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
  data: Type.Optional(Type.String()),
});
const Payloads = Type.Object({ payloads: Type.Array(JsonPayload) });
type JsonPayload = { metadata?: Record<string, string>; data?: string };

const fromJson = ({ metadata, data }: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
  data: new Uint8Array(Buffer.from(data ?? '', 'base64')),
});
const toJson = ({ metadata, data }: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(data ?? new Uint8Array()).toString('base64'),
});

// Temporal caps a payload at 2 MiB; the Web UI sends several per request.
const bodyLimit = 8 * 1024 * 1024;

/**
 * The Temporal codec server protocol (`POST /codec/decode`, `POST /codec/encode`, body and answer
 * `{ payloads: [...] }`), so that the Temporal Web UI shows decoded payloads. The UI calls it from
 * the browser, so it answers CORS for the UI's origin only (with the headers it sends).
 *
 * Whoever can call it can read every payload: it is for operators (see `access`), and the API
 * registers it only when `TEMPORAL_CODEC_ENDPOINT_ENABLED=true`.
 */
export const codecRoutes: FastifyPluginCallbackTypebox<CodecRoutesOptions> = (app, options, done) => {
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.origin !== options.uiOrigin) return;
    reply.header('access-control-allow-origin', options.uiOrigin);
    reply.header('access-control-allow-methods', 'POST, OPTIONS');
    // What the Web UI sends: with a login, its user's access token (Authorization) and ID token (Authorization-Extras).
    reply.header('access-control-allow-headers', 'Content-Type, X-Namespace, Authorization, Authorization-Extras');
    reply.header('access-control-allow-credentials', 'true');
    reply.header('vary', 'Origin');
  });
  for (const [operation, summary] of [
    ['decode', 'Decodes (decrypts) Temporal payloads for the Web UI'],
    ['encode', 'Encodes (encrypts) Temporal payloads for the Web UI'],
  ] as const) {
    app.options(`/codec/${operation}`, { schema: { hide: true }, config: { access: 'public' } }, (_request, reply) => reply.status(204).send());
    app.post(
      `/codec/${operation}`,
      { bodyLimit, config: { access: options.access ?? ['operator'] }, schema: { summary, tags, body: Payloads, response: { 200: Payloads, 400: Problem } } },
      async (request) => {
        try {
          const payloads = request.body.payloads.map(fromJson);
          const result = operation === 'decode' ? await options.codec.decode(payloads) : await options.codec.encode(payloads);
          return { payloads: result.map(toJson) };
        } catch (err) {
          if (err instanceof PayloadKeyUnknownError || err instanceof PayloadDecryptionError) throw new HttpProblem(400, err.code, err.message);
          throw err;
        }
      },
    );
  }
  done();
};
