// HTTP idempotency, for every route that takes an Idempotency-Key: the first answer to a key is stored with the hash
// of the request it answered; the same request under that key gets the same answer back (Idempotent-Replayed), and a
// different request under it is a 409 that changes nothing. The API's one "is this the same request?" check lives
// here too, for the other records that carry a request hash (the order row).
import type { Request } from 'express';
import { z } from 'zod';
import { describeError, type Logger } from '../../config/logger';
import { findIdempotencyRecord, saveIdempotencyRecord, type IdempotencyRecord } from '../../db/orders/idempotency.repo';
import type { Pool } from '../../db/pool';
import { idempotencyConflict, validationFailed } from './errors';
import { parseOrThrow } from './parse';

/** RFC-draft Idempotency-Key: visible ASCII, bounded so it fits the primary key comfortably. */
export const idempotencyKeySchema = z
  .string()
  .regex(/^[\x20-\x7E]{1,255}$/, 'must be 1 to 255 printable ASCII characters')
  .refine((key) => key.trim().length > 0, 'must not be blank');

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';

/** The request's key: the header when sent; otherwise the route's natural key, or a 400 where the route has none. */
export function idempotencyKeyOf(req: Request, absent: { naturalKey: string } | { requiredBecause: string }): string {
  const offered = req.get(IDEMPOTENCY_KEY_HEADER);
  if (offered !== undefined) return parseOrThrow(idempotencyKeySchema, offered, IDEMPOTENCY_KEY_HEADER);
  if ('naturalKey' in absent) return absent.naturalKey;
  throw validationFailed([{ field: IDEMPOTENCY_KEY_HEADER, message: `is required: ${absent.requiredBecause}` }]);
}

/** The one check that a request is the one a record was made for; anything else under its key or ID is a 409. */
export function sameRequestOrConflict(recordedRequestHash: string, requestHash: string): void {
  if (recordedRequestHash !== requestHash) throw idempotencyConflict();
}

export interface HttpAnswer {
  status: number;
  body: unknown;
}

export interface IdempotentAnswer extends HttpAnswer {
  /** True when the answer repeats one given before (the Idempotent-Replayed header). */
  replayed: boolean;
}

export interface FreshAnswer extends IdempotentAnswer {
  /** Whether a repeat of this request must get this answer back; answers read from records need not be stored. */
  remember: boolean;
}

export interface IdempotentRequest {
  /** The route, so one key may serve different routes independently. */
  scope: string;
  key: string;
  requestHash: string;
  orderId: string;
}

/**
 * Answers a request at most once per key: replays the stored answer, refuses a different request, or runs `answer`
 * and stores what it says. Losing the record is harmless (the same request reaches the same workflow, which answers
 * the same), so a failed write is logged and the caller still gets its answer. A route that read the key's record
 * together with its own rows passes it as `readRecord` (undefined inside: no record).
 */
export async function answerIdempotently(
  { pool, logger }: { pool: Pool; logger: Logger },
  request: IdempotentRequest,
  answer: () => Promise<FreshAnswer>,
  readRecord?: { record: IdempotencyRecord | undefined },
): Promise<IdempotentAnswer> {
  const stored = readRecord ? readRecord.record : await findIdempotencyRecord(pool, request.scope, request.key);
  if (stored) {
    sameRequestOrConflict(stored.requestHash, request.requestHash);
    // What the first request created was not created by this one.
    const status = stored.responseStatus === 201 ? 200 : stored.responseStatus;
    return { status, body: stored.responseBody, replayed: true };
  }
  const fresh = await answer();
  if (fresh.remember) {
    try {
      await saveIdempotencyRecord(pool, {
        scope: request.scope,
        idempotencyKey: request.key,
        requestHash: request.requestHash,
        orderId: request.orderId,
        responseStatus: fresh.status,
        responseBody: fresh.body,
      });
    } catch (error) {
      logger.warn({ orderId: request.orderId, err: describeError(error) }, 'idempotency record not stored');
    }
  }
  return { status: fresh.status, body: fresh.body, replayed: fresh.replayed };
}
