// POST /codec/decode and /codec/encode: Temporal's codec server protocol, so operators read encrypted histories in
// the Temporal Web UI (and `temporal --codec-endpoint`). Both take and return `{"payloads":[{metadata, data}]}` in
// protobuf JSON (bytes as base64). The Web UI calls from the browser, so the routes answer CORS for the configured
// UI origins. They decrypt customer data, so with CODEC_AUTH_TOKEN set every call needs `Authorization: Bearer
// <token>`; without it (development only: production requires the token) they answer loopback callers only.
import type { Client } from '@temporalio/client';
import type { Payload, PayloadCodec } from '@temporalio/common';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { ApiConfig } from '../../config/env';
import { PayloadDecryptionError } from '../../config/payload-codec';
import { fieldProblems } from '../http/parse';
import { rejectOtherMethods } from '../http/error-handler';
import { ApiError, validationFailed } from '../http/errors';

/** A Web UI decodes a whole history page at once: far more than the 16 kB of the API's own request bodies. */
const CODEC_BODY_LIMIT = '8mb';
const PREFLIGHT_MAX_AGE_SECONDS = 600;

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
export const codecPayloadSchema = z.object({
  metadata: z.record(z.string(), base64).optional(),
  data: base64.optional(),
});
export const codecBodySchema = z.object({ payloads: z.array(codecPayloadSchema) });
type CodecBody = z.infer<typeof codecBodySchema>;

export interface CodecDeps {
  config: Pick<ApiConfig, 'CODEC_AUTH_TOKEN' | 'CODEC_CORS_ORIGINS'>;
  /** The routes use the codecs of the API's own Temporal client, so they read exactly what the API writes. */
  temporal: Client;
}

/** The client's codecs as one: encode in their order, decode in reverse (the SDK's rule). None: payloads as they are. */
function clientCodec(temporal: Client): PayloadCodec {
  // Read per call: building the app must not touch the client (tests build it around stand-ins).
  const codecs = () => temporal.options.loadedDataConverter.payloadCodecs;
  return {
    async encode(payloads) {
      for (const codec of codecs()) payloads = await codec.encode(payloads);
      return payloads;
    },
    async decode(payloads) {
      for (const codec of [...codecs()].reverse()) payloads = await codec.decode(payloads);
      return payloads;
    },
  };
}

const codecUnauthorized = () =>
  new ApiError(401, 'unauthorized', 'the codec endpoint needs its bearer token', undefined, {
    'WWW-Authenticate': 'Bearer realm="orderpay-codec"',
  });
const codecLocalOnly = () =>
  new ApiError(403, 'forbidden', 'without CODEC_AUTH_TOKEN the codec endpoint answers this machine only');
const undecryptable = (reason: string) => new ApiError(422, 'payload_undecryptable', reason);

export function codecRoutes(deps: CodecDeps): Router {
  const router = Router();
  const allowedOrigins = new Set(deps.config.CODEC_CORS_ORIGINS);
  const codec = clientCodec(deps.temporal);
  const expected = deps.config.CODEC_AUTH_TOKEN ? digest(deps.config.CODEC_AUTH_TOKEN) : undefined;

  const cors = (req: Request, res: Response, next: NextFunction): void => {
    const origin = req.get('origin');
    res.vary('Origin');
    if (origin && allowedOrigins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      // The UI's "include cross-origin credentials" setting sends cookies; allowed for the listed origins only.
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_SECONDS));
    }
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next();
  };

  const guard = (req: Request, _res: Response, next: NextFunction): void => {
    if (expected) {
      const offered = bearerToken(req.get('authorization'));
      next(offered !== undefined && timingSafeEqual(digest(offered), expected) ? undefined : codecUnauthorized());
      return;
    }
    next(isLoopback(req.socket.remoteAddress) ? undefined : codecLocalOnly());
  };

  const body = express.json({ limit: CODEC_BODY_LIMIT, strict: true, type: 'application/json' });

  for (const direction of ['encode', 'decode'] as const) {
    router
      .route(`/codec/${direction}`)
      .options(cors)
      .post(cors, guard, body, async (req, res) => {
        const parsed = codecBodySchema.safeParse(req.body);
        if (!parsed.success) throw validationFailed(fieldProblems(parsed.error));
        const payloads = fromJson(parsed.data);
        let converted: Payload[];
        try {
          converted = await codec[direction](payloads);
        } catch (error) {
          if (error instanceof PayloadDecryptionError) throw undecryptable(error.message);
          throw error;
        }
        res.status(200).json(toJson(converted));
      })
      .all(rejectOtherMethods(['POST', 'OPTIONS']));
  }
  return router;
}

function fromJson(body: CodecBody): Payload[] {
  return body.payloads.map((payload) => ({
    metadata: Object.fromEntries(
      Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, new Uint8Array(Buffer.from(value, 'base64'))]),
    ),
    data: new Uint8Array(Buffer.from(payload.data ?? '', 'base64')),
  }));
}

function toJson(payloads: Payload[]): CodecBody {
  return {
    payloads: payloads.map((payload) => ({
      metadata: Object.fromEntries(
        Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
      ),
      data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
    })),
  };
}

function isLoopback(address: string | undefined): boolean {
  return (
    address === '::1' ||
    address === '127.0.0.1' ||
    address?.startsWith('::ffff:127.') === true ||
    address?.startsWith('127.') === true
  );
}

function bearerToken(header: string | undefined): string | undefined {
  const match = header ? /^Bearer[ ]+([^\s]+)\s*$/i.exec(header) : null;
  return match?.[1];
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
