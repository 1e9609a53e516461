import type { ZodOpenApiOperationObject, ZodOpenApiPathsObject } from 'zod-openapi';
import { codecBodySchema } from '../../admin/codec.routes';
import { error, json } from '../responses';

const operation = (direction: 'encode' | 'decode'): ZodOpenApiOperationObject => ({
  tags: ['codec'],
  summary:
    direction === 'decode'
      ? "Temporal codec server: decrypt payloads for the Web UI or CLI (payloads without orderpay's encoding pass through)"
      : 'Temporal codec server: encrypt payloads the Web UI or CLI sends (signals, starts)',
  description:
    'Protobuf JSON payloads (bytes as base64). `Authorization: Bearer <CODEC_AUTH_TOKEN>` when that is set; ' +
    'without it only callers on this machine are answered. CORS for the origins in `CODEC_CORS_ORIGINS`.',
  requestBody: { content: { 'application/json': { schema: codecBodySchema } } },
  responses: {
    '200': json('The payloads, converted', codecBodySchema),
    '400': error('`validation_failed`, `malformed_json`'),
    '401': error('`unauthorized`: CODEC_AUTH_TOKEN is set and the bearer token is missing or wrong'),
    '403': error('`forbidden`: no CODEC_AUTH_TOKEN and the caller is not on this machine'),
    '413': error('`payload_too_large`'),
    '422': error(
      '`payload_undecryptable`: a key ID not in TEMPORAL_CODEC_KEYS, or a payload that fails authentication',
    ),
  },
});

const preflight: ZodOpenApiOperationObject = {
  tags: ['codec'],
  summary: "CORS preflight of the Web UI's browser",
  description:
    'Allows the origins in `CODEC_CORS_ORIGINS`, with credentials and the headers Content-Type, X-Namespace and Authorization.',
  responses: { '204': { description: 'Preflight answered (CORS headers only for an allowed Origin)' } },
};

export const codecPaths: ZodOpenApiPathsObject = {
  '/codec/decode': { post: operation('decode'), options: preflight },
  '/codec/encode': { post: operation('encode'), options: preflight },
};
