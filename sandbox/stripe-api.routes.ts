// The /v1 subset of Stripe's REST API: form-encoded bodies in bracket notation, Bearer authentication,
// Idempotency-Key handling and Stripe's error shape, so the official SDK cannot tell it from the real thing
// for the calls orderpay makes.
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from '../config/logger';
import { requestFingerprint, type IdempotencyStore, type StoredAnswer } from './idempotency.store';
import { drawInjectedApiError, type SandboxFaults } from './sandbox.faults';
import type { RequestOrigin, SandboxStore } from './sandbox.store';
import {
  expandParamsSchema,
  listParamsSchema,
  parseParams,
  refundCreateParamsSchema,
  sessionCreateParamsSchema,
} from './stripe-params.schema';
import { SandboxApiError, type StripeErrorBody } from './stripe.objects';

export interface ApiCounters {
  apiRequests: number;
  injectedApiErrors: number;
  idempotentReplays: number;
  idempotencyConflicts: number;
}

export interface StripeApiDeps {
  store: SandboxStore;
  idempotency: IdempotencyStore;
  apiKey: string;
  faults: () => SandboxFaults;
  random: () => number;
  counters: ApiCounters;
  logger: Logger;
}

const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

export function createStripeApiRouter(deps: StripeApiDeps): express.Router {
  const { store, idempotency, faults, random, counters, logger } = deps;
  const router = express.Router();

  router.use(authenticate(deps.apiKey));
  router.use(async (_req, res, next) => {
    counters.apiRequests += 1;
    if (await drawInjectedApiError(faults(), random)) {
      counters.injectedApiErrors += 1;
      sendInjectedApiError(res);
      return;
    }
    next();
  });
  router.use(express.urlencoded({ extended: true, limit: '100kb', parameterLimit: 1000 }));

  /**
   * Runs a state-changing handler under Stripe's idempotency rules and stores its answer under the key. The
   * SDK sends a key with every POST (its own random one when the caller gives none).
   */
  function idempotent(handler: (req: Request, origin: RequestOrigin) => unknown): RequestHandler {
    return (req, res) => {
      const key = req.get('Idempotency-Key');
      const params: unknown = req.body ?? {};
      const fingerprint = requestFingerprint(req.method, req.baseUrl + req.path, params);
      const remembers = !faults().forgetIdempotencyKeys;
      if (key !== undefined) {
        if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
          sendError(
            res,
            new SandboxApiError(400, 'invalid_request_error', 'Invalid Idempotency-Key header.', {
              code: 'idempotency_key_invalid',
            }),
          );
          return;
        }
        const found: ReturnType<IdempotencyStore['lookup']> = remembers
          ? idempotency.lookup(key, fingerprint)
          : { kind: 'new' };
        if (found.kind === 'replay') {
          counters.idempotentReplays += 1;
          res.set('Idempotent-Replayed', 'true').set('Idempotency-Key', key);
          res.status(found.answer.status).json(found.answer.body);
          return;
        }
        if (found.kind === 'conflict') {
          counters.idempotencyConflicts += 1;
          sendError(
            res,
            new SandboxApiError(
              400,
              'idempotency_error',
              `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
            ),
          );
          return;
        }
      }
      let answer: StoredAnswer;
      let replayable = true;
      try {
        answer = { status: 200, body: handler(req, key === undefined ? {} : { idempotencyKey: key }) };
      } catch (error) {
        if (!(error instanceof SandboxApiError)) throw error;
        answer = { status: error.status, body: error.toBody() };
        replayable = error.replayable;
      }
      if (key !== undefined && replayable && remembers) idempotency.save(key, fingerprint, answer);
      if (random() < faults().apiErrorAfterCommitRate) {
        counters.injectedApiErrors += 1;
        logger.debug({ path: req.path }, 'answered 500 after the change was made (fault injection)');
        sendInjectedApiError(res);
        return;
      }
      if (key !== undefined) res.set('Idempotency-Key', key);
      res.status(answer.status).json(answer.body);
    };
  }

  router.post(
    '/checkout/sessions',
    idempotent((req) => store.createSession(parseParams(sessionCreateParamsSchema, req.body))),
  );
  router.get('/checkout/sessions/:id', (req, res) => {
    const { expand } = parseParams(expandParamsSchema, req.query);
    res.json(store.retrieveSession(req.params.id, expand));
  });
  router.post(
    '/checkout/sessions/:id/expire',
    idempotent((req, origin) => store.expireSession(String(req.params.id), origin)),
  );
  router.get('/payment_intents', (req, res) => {
    res.json(store.listPaymentIntents(parseParams(listParamsSchema, req.query), req.baseUrl + req.path));
  });
  router.get('/payment_intents/:id', (req, res) => {
    const { expand } = parseParams(expandParamsSchema, req.query);
    res.json(store.retrievePaymentIntent(req.params.id, expand));
  });
  router.post(
    '/refunds',
    idempotent((req, origin) =>
      store.createRefund(parseParams(refundCreateParamsSchema, req.body), origin, { pending: faults().refundsPending }),
    ),
  );
  router.get('/refunds', (req, res) => {
    res.json(store.listRefunds(parseParams(listParamsSchema, req.query), req.baseUrl + req.path));
  });
  router.get('/refunds/:id', (req, res) => {
    res.json(store.retrieveRefund(req.params.id));
  });
  router.get('/events/:id', (req, res) => {
    res.json(store.retrieveEvent(req.params.id));
  });

  router.use((req, res) => {
    sendError(
      res,
      new SandboxApiError(
        404,
        'invalid_request_error',
        `Unrecognized request URL (${req.method}: ${req.originalUrl}).`,
      ),
    );
  });
  router.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof SandboxApiError) {
      sendError(res, error);
      return;
    }
    if (isBodyParserError(error)) {
      sendError(res, new SandboxApiError(400, 'invalid_request_error', 'The request body could not be parsed.'));
      return;
    }
    logger.error({ err: error }, 'sandbox API handler failed');
    const body: StripeErrorBody = {
      error: { type: 'api_error', message: 'An unexpected error occurred in the sandbox.' },
    };
    res.status(500).json(body);
  });

  return router;
}

/** Bearer key as the SDK sends it; the key is compared in constant time and never echoed back. */
function authenticate(apiKey: string): RequestHandler {
  const expected = createHash('sha256').update(apiKey).digest();
  return (req, res, next) => {
    const header = req.get('Authorization') ?? '';
    const match = /^Bearer (.+)$/.exec(header);
    if (!match?.[1]) {
      sendError(
        res,
        new SandboxApiError(
          401,
          'invalid_request_error',
          'You did not provide an API key. Provide it in the Authorization header as a Bearer token.',
          { code: 'api_key_missing' },
        ),
      );
      return;
    }
    const given = createHash('sha256').update(match[1]).digest();
    if (!timingSafeEqual(given, expected)) {
      sendError(
        res,
        new SandboxApiError(401, 'invalid_request_error', 'Invalid API Key provided.', { code: 'api_key_invalid' }),
      );
      return;
    }
    next();
  };
}

function sendError(res: Response, error: SandboxApiError): void {
  res.status(error.status).json(error.toBody());
}

function sendInjectedApiError(res: Response): void {
  const body: StripeErrorBody = {
    error: { type: 'api_error', message: 'Sandbox fault injection: the gateway failed to process this request.' },
  };
  res.status(500).json(body);
}

function isBodyParserError(error: unknown): boolean {
  return (
    error instanceof Error &&
    'type' in error &&
    typeof (error as { type: unknown }).type === 'string' &&
    'status' in error
  );
}
