// One zod schema per process over the environment, parsed once at start. A bad value stops the process
// with a message naming the variable; nothing reads process.env anywhere else.
import { z } from 'zod';
import { parseDurationMs } from '../domain/duration';
import {
  DEFAULT_ORDER_TASK_QUEUE,
  GATEWAY_NAMES,
  MAX_ORDER_TTL_MS,
  type GatewayName,
} from '../contracts/order.contract';
import {
  FOREIGN_PAYMENT_ACTIONS,
  LATE_SUCCESS_ACTIONS,
  UNKNOWN_PAYMENT_ACTIONS,
  type ForeignPaymentAction,
  type LateSuccessAction,
  type UnknownPaymentAction,
} from '../contracts/reconciliation.contract';
import {
  ESEWA_UAT_FORM_URL,
  ESEWA_UAT_PRODUCT_CODE,
  ESEWA_UAT_SECRET_KEY,
  ESEWA_UAT_STATUS_URL,
} from '../gateways/esewa/esewa.protocol';
import { DEFAULT_MAX_PAYMENT_ATTEMPTS } from '../domain/payment-attempts';
import { type CodecKey, parseCodecKeys } from './payload-codec';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** A duration field ("30s", "15m", "1h30m") parsed to milliseconds. */
export const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDurationMs(text);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: `expected a duration like 30s, 15m or 1h, got "${text}"` });
        return z.NEVER;
      }
      return ms;
    });

/** A duration that may also be 0 (written `0`, `0s`…), for settings where 0 turns something off. */
export const durationOrZero = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = text.trim() === '0' ? 0 : parseDurationMs(text);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected a duration like 5s or 500ms, or 0, got "${text}"` });
        return z.NEVER;
      }
      return ms;
    });

export const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);
const url = (fallback: string) => z.url().default(fallback);
/** The non-blank, trimmed items of a comma-separated value. */
function splitCommaList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** Comma-separated list, so secrets can be rotated: every listed secret is accepted. */
const secretList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform(splitCommaList)
    .pipe(z.array(z.string()).min(1, 'at least one secret is required'));

/** An optional secret: unset or blank means "not configured", never an empty secret that anything would match. */
const optionalSecret = () =>
  z
    .string()
    .optional()
    .transform((text) => (text && text.trim().length > 0 ? text.trim() : undefined))
    .pipe(z.string().min(16, 'must be at least 16 characters').optional());

/**
 * MERCHANT_WEBHOOK_SECRET: comma-separated Standard Webhooks secrets (`whsec_` + base64 of 24 to 64 bytes); every
 * one signs each delivery, so a merchant can move to a new secret before the old one is removed. Unset: none.
 */
const webhookSigningSecrets = () =>
  z
    .string()
    .optional()
    .transform((text) => splitCommaList(text ?? ''))
    .pipe(
      z.array(
        z.string().refine(
          (secret) => {
            if (!secret.startsWith('whsec_')) return false;
            const body = secret.slice('whsec_'.length);
            const bytes = Buffer.from(body, 'base64');
            return /^[A-Za-z0-9+/]+={0,2}$/.test(body) && bytes.length >= 24 && bytes.length <= 64;
          },
          { message: 'each secret must be whsec_ followed by the base64 of 24 to 64 random bytes' },
        ),
      ),
    );

/**
 * A per-gateway choice: a default, then optional `gateway=value` overrides, e.g. `refund,khalti=accept`.
 * Parsed to a function so every gateway, including ones added later, gets an answer.
 */
const perGatewayChoice = <const T extends readonly [string, ...string[]]>(choices: T, fallback: T[number]) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const parts = splitCommaList(text);
      let defaultChoice: T[number] = fallback;
      const overrides = new Map<string, T[number]>();
      for (const part of parts) {
        const [left, right] = part.includes('=') ? part.split('=', 2) : [undefined, part];
        const value = (right ?? '').trim();
        if (!(choices as readonly string[]).includes(value)) {
          ctx.addIssue({ code: 'custom', message: `"${value}" is not one of ${choices.join(', ')}` });
          return z.NEVER;
        }
        if (left === undefined) defaultChoice = value;
        else if ((GATEWAY_NAMES as readonly string[]).includes(left.trim())) overrides.set(left.trim(), value);
        else {
          ctx.addIssue({ code: 'custom', message: `unknown gateway "${left.trim()}"` });
          return z.NEVER;
        }
      }
      return (gateway: GatewayName): T[number] => overrides.get(gateway) ?? defaultChoice;
    });

/** One gateway's status-poll cadence, overriding the order policy's defaults for that gateway. */
export interface GatewayPollCadence {
  initialIntervalMs: number;
  maxIntervalMs: number;
  gracePollIntervalMs?: number;
}

/**
 * Stripe signs and retries its webhooks for days, and a payer's return asks for a lookup at once: a poll every 15
 * minutes (the seeds' design) is the backstop for both being lost. eSewa and Khalti have no reliable webhooks.
 */
export const DEFAULT_GATEWAY_POLL_CADENCE = 'stripe=15m/15m/15m';

/**
 * `gateway=<first poll>/<longest wait>[/<grace poll>]`, comma-separated, e.g. `stripe=15m/15m/15m`: gateways left
 * out keep POLL_INITIAL_INTERVAL, POLL_MAX_INTERVAL and GRACE_POLL_INTERVAL. Empty: every gateway keeps them.
 */
const gatewayPollCadence = () =>
  z
    .string()
    .default(DEFAULT_GATEWAY_POLL_CADENCE)
    .transform((text, ctx) => {
      const cadences: Partial<Record<GatewayName, GatewayPollCadence>> = {};
      for (const part of splitCommaList(text)) {
        const match = /^([a-z]+)=([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(part);
        const gateway = match?.[1];
        if (!match || !gateway || !(GATEWAY_NAMES as readonly string[]).includes(gateway)) {
          ctx.addIssue({
            code: 'custom',
            message: `expected gateway=<first poll>/<longest wait>[/<grace poll>], got "${part}"`,
          });
          return z.NEVER;
        }
        const [initialIntervalMs, maxIntervalMs, gracePollIntervalMs] = [match[2], match[3], match[4]].map((item) =>
          item === undefined ? undefined : parseDurationMs(item.trim()),
        );
        if (!initialIntervalMs || !maxIntervalMs || (match[4] !== undefined && !gracePollIntervalMs)) {
          ctx.addIssue({ code: 'custom', message: `expected durations like 30s, 15m or 1h in "${part}"` });
          return z.NEVER;
        }
        cadences[gateway as GatewayName] = {
          initialIntervalMs,
          maxIntervalMs,
          ...(gracePollIntervalMs ? { gracePollIntervalMs } : {}),
        };
      }
      return cadences;
    });

/** Comma-separated gateway names; empty means none. */
const gatewayList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform(splitCommaList)
    .pipe(z.array(z.enum(GATEWAY_NAMES)));

/**
 * Which payment methods Stripe Checkout offers: `false` (default) → cards only, paid or declined while the payer is on
 * the page; `true` → the methods enabled in the Stripe Dashboard, delayed ones (bank debits, vouchers) included; a
 * list of Stripe payment method types (`us_bank_account,sepa_debit`) → cards plus those. Parsed to the
 * `payment_method_types` to send, or 'dashboard' to send none.
 */
const stripePaymentMethods = () =>
  z
    .string()
    .default('false')
    .transform((text, ctx): readonly string[] | 'dashboard' => {
      const value = text.trim().toLowerCase();
      if (value === 'false' || value === '') return ['card'];
      if (value === 'true') return 'dashboard';
      const types = splitCommaList(value);
      const bad = types.find((type) => !/^[a-z][a-z0-9_]{1,40}$/.test(type));
      if (bad !== undefined) {
        ctx.addIssue({ code: 'custom', message: `expected true, false or Stripe payment method types, got "${bad}"` });
        return z.NEVER;
      }
      return [...new Set(['card', ...types])];
    });

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/orderpay';
export const DEFAULT_SANDBOX_URL = 'http://127.0.0.1:12111';
/** The sandbox's well-known test credentials; real deployments set their own. */
export const SANDBOX_STRIPE_SECRET_KEY = 'sk_test_orderpay_sandbox';
export const SANDBOX_STRIPE_WEBHOOK_SECRET = 'whsec_orderpay_sandbox';
export const SANDBOX_KHALTI_SECRET_KEY = 'live_secret_key_orderpay_sandbox';
/** Khalti's own sandbox (KPG-2); production is https://khalti.com/api/v2/. */
export const DEFAULT_KHALTI_BASE_URL = 'https://dev.khalti.com/api/v2/';

/** eSewa ePay v2; the defaults are eSewa's UAT environment and its public test merchant (EPAYTEST). */
const esewaMerchantFields = {
  ESEWA_PRODUCT_CODE: z.string().min(1).default(ESEWA_UAT_PRODUCT_CODE),
  ESEWA_SECRET_KEY: z.string().min(1).default(ESEWA_UAT_SECRET_KEY),
};

/** `production` refuses every sandbox/UAT default (see productionProblems); `development` keeps them. */
export const ORDERPAY_ENVS = ['development', 'production'] as const;
const orderpayEnv = z.enum(ORDERPAY_ENVS).default('development');

/** `<id>:<base64 32 bytes>,…`, the encrypting key first; unset means payloads are stored unencrypted (development). */
const codecKeys = z
  .string()
  .optional()
  .transform((text, ctx): CodecKey[] | undefined => {
    if (!text || text.trim().length === 0) return undefined;
    try {
      return parseCodecKeys(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : 'invalid key list' });
      return z.NEVER;
    }
  });

/** Comma-separated browser origins (scheme://host[:port]). */
const originList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform(splitCommaList)
    .pipe(z.array(z.url().transform((text) => new URL(text).origin)));

const temporalFields = {
  ORDERPAY_ENV: orderpayEnv,
  /** Payload encryption keys of every Temporal client and worker (config/payload-codec.ts). */
  TEMPORAL_CODEC_KEYS: codecKeys,
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default(DEFAULT_ORDER_TASK_QUEUE),
};
const commonFields = {
  DATABASE_URL: z.string().min(1).default(DEFAULT_DATABASE_URL),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ...temporalFields,
};

/** `production` issues `op_live_` keys and insists on real secrets; anything else issues `op_test_` keys. */
export const orderpayEnvField = orderpayEnv;

/** The development HMAC key for payer client secrets; production refuses to start with it (or without a key). */
export const DEVELOPMENT_CLIENT_SECRET_KEY = 'orderpay-development-client-secret-key-not-for-production';

export const apiConfigSchema = z
  .object({
    ...commonFields,
    /** Registered at start (every merchant scope) unless already known: scripts, CI and containers get a known key. */
    ORDERPAY_BOOTSTRAP_API_KEY: z
      .string()
      .optional()
      .transform((text) => (text && text.trim().length > 0 ? text.trim() : undefined))
      .pipe(
        z
          .string()
          .regex(
            /^op_(?:live|test)_[A-Za-z0-9_-]{24,200}$/,
            'must be op_live_ or op_test_ and 24+ letters, digits, _ or -',
          )
          .optional(),
      ),
    /** The HMAC key payer client secrets are derived from (never stored); at least 32 characters. */
    ORDERPAY_CLIENT_SECRET_KEY: z
      .string()
      .optional()
      .transform((text) => (text && text.trim().length > 0 ? text.trim() : undefined))
      .pipe(z.string().min(32, 'must be at least 32 characters').optional()),
    PORT: port(3000),
    /** The address payers and gateways reach the API on; used for return and callback URLs. */
    PUBLIC_BASE_URL: url('http://localhost:3000'),
    /** At most 7 days: every hour an order waits adds polls to its workflow's history. */
    ORDER_TTL: duration('15m').refine((ms) => ms <= MAX_ORDER_TTL_MS, { message: 'ORDER_TTL is at most 7d' }),
    ORDER_GRACE_PERIOD: duration('1h'),
    /** While a closed unpaid order waits out its grace window, how often the gateway is asked for a late payment. */
    GRACE_POLL_INTERVAL: duration('5m'),
    /** Events after which an order's workflow run continues as new (Temporal refuses histories past 51,200). */
    ORDER_HISTORY_LIMIT: z.coerce.number().int().min(500).max(40_000).default(5_000),
    /** Payment attempts an order may use before it fails with reason too_many_attempts (the policy's maxAttempts). */
    ORDER_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(DEFAULT_MAX_PAYMENT_ATTEMPTS),
    POLL_INITIAL_INTERVAL: duration('30s'),
    POLL_BACKOFF_COEFFICIENT: z.coerce.number().min(1).max(10).default(2),
    POLL_MAX_INTERVAL: duration('5m'),
    /** Per-gateway overrides of the three poll settings above: a gateway with reliable signed webhooks polls less. */
    GATEWAY_POLL_CADENCE: gatewayPollCadence(),
    /** How long POST /orders waits for the gateway intent before answering 503 (the order carries on). */
    CHECKOUT_TIMEOUT: duration('10s'),
    STRIPE_WEBHOOK_SECRETS: secretList(SANDBOX_STRIPE_WEBHOOK_SECRET),
    STRIPE_WEBHOOK_TOLERANCE: duration('300s'),
    /**
     * Webhooks are answered once stored and delivered to their orders afterwards: this many deliveries in flight per
     * API process, and at most WEBHOOK_DELIVERY_QUEUE_LIMIT waiting; past that, rows wait for the sweeper.
     */
    WEBHOOK_DELIVERY_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
    WEBHOOK_DELIVERY_QUEUE_LIMIT: z.coerce.number().int().min(1).max(100_000).default(5_000),
    /**
     * While more than WEBHOOK_INTAKE_BUSY_PER_SECOND signed webhooks arrived in the last second (0: never), only
     * WEBHOOK_DELIVERY_BUSY_CONCURRENCY deliveries are in flight: during a burst the answers to the gateway come
     * before the signals to the orders.
     */
    WEBHOOK_INTAKE_BUSY_PER_SECOND: z.coerce.number().int().min(0).max(100_000).default(50),
    WEBHOOK_DELIVERY_BUSY_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(1),
    /** How often each API process looks for stored webhooks still waiting for delivery, and how many it reads. */
    WEBHOOK_SWEEP_INTERVAL: duration('5s'),
    WEBHOOK_SWEEP_BATCH: z.coerce.number().int().min(1).max(10_000).default(200),
    /** The longest wait before retrying a webhook whose deliveries keep failing (Temporal down); each wait doubles. */
    WEBHOOK_RETRY_MAX_INTERVAL: duration('5m'),
    /**
     * How long an API process trusts a merchant key it checked without looking it up again (0: every request looks
     * it up). A key revoked elsewhere (another API process, the keys CLI) works here for at most this long.
     */
    API_KEY_CACHE_TTL: durationOrZero('5s').refine((ms) => ms <= 60_000, {
      message: 'API_KEY_CACHE_TTL is at most 60s: it is how long a revoked key may still work',
    }),
    /** A bootstrap admin credential, accepted as a key with the `admin` scope; admin API keys work without it. */
    ADMIN_API_TOKEN: optionalSecret(),
    /** Largest request head (request line and headers) in bytes; larger ones get 431 headers_too_large. */
    HTTP_MAX_HEADER_BYTES: z.coerce.number().int().min(4_096).max(1_048_576).default(16_384),
    /** The window of every public-route rate limit; the limits below count requests within it. */
    RATE_LIMIT_WINDOW: duration('1m'),
    /** Requests per client IP per window on wallet callbacks, the pay page and GET /orders/:id/status. */
    RATE_LIMIT_PER_IP: z.coerce.number().int().positive().default(300),
    /** Requests per order per window on the same routes. */
    RATE_LIMIT_PER_ORDER: z.coerce.number().int().positive().default(120),
    /** Webhooks that fail verification, per client IP per window, before that IP's webhooks get 429. */
    RATE_LIMIT_WEBHOOK_FAILURES_PER_IP: z.coerce.number().int().positive().default(100),
    /**
     * New payment attempts (POST /pay/:orderId/attempts) per order per RATE_LIMIT_ATTEMPTS_WINDOW: slows card testing
     * on one order well below ORDER_MAX_ATTEMPTS, which only caps the total.
     */
    RATE_LIMIT_ATTEMPTS_PER_ORDER: z.coerce.number().int().positive().default(3),
    RATE_LIMIT_ATTEMPTS_WINDOW: duration('5m'),
    /** GET /pay/:orderId posts the signed form here; the secret signs it and verifies the success callbacks. */
    ESEWA_FORM_URL: url(ESEWA_UAT_FORM_URL),
    ...esewaMerchantFields,
    /** eSewa asks merchants to use the status API only when no answer came within five minutes. */
    ESEWA_FIRST_STATUS_CHECK: duration('5m'),
    /** The API's Prometheus endpoint (GET /metrics), on its own port so it is never public with the API; 0: free port. */
    API_METRICS_PORT: port(9463),
    /** The interface the metrics port binds; unset: every interface, like the worker's. */
    API_METRICS_HOST: z
      .string()
      .optional()
      .transform((text) => (text && text.trim().length > 0 ? text.trim() : undefined)),
    /** Bearer token the Temporal Web UI (or a proxy in front of it) sends to POST /codec/*; unset: loopback only. */
    CODEC_AUTH_TOKEN: optionalSecret(),
    /** Origins of the Temporal Web UI allowed to call /codec/* from the browser. */
    CODEC_CORS_ORIGINS: originList('http://localhost:8233,http://127.0.0.1:8233'),
  })
  .superRefine((config, ctx) => {
    if (config.WEBHOOK_DELIVERY_BUSY_CONCURRENCY > config.WEBHOOK_DELIVERY_CONCURRENCY) {
      ctx.addIssue({
        code: 'custom',
        path: ['WEBHOOK_DELIVERY_BUSY_CONCURRENCY'],
        message: 'is at most WEBHOOK_DELIVERY_CONCURRENCY (it is the number in flight during a burst)',
      });
    }
    reportProductionProblems(ctx, productionProblems('api', config));
  });
export type ApiConfig = z.infer<typeof apiConfigSchema>;

export const workerConfigSchema = z
  .object({
    ...commonFields,
    PUBLIC_BASE_URL: url('http://localhost:3000'),
    STRIPE_API_BASE: url(DEFAULT_SANDBOX_URL),
    STRIPE_SECRET_KEY: z.string().min(1).default(SANDBOX_STRIPE_SECRET_KEY),
    /** Delayed payment methods (bank debits) settle days later, possibly after the order's grace window: off by default. */
    STRIPE_DELAYED_PAYMENT_METHODS: stripePaymentMethods(),
    ESEWA_STATUS_URL: url(ESEWA_UAT_STATUS_URL),
    ESEWA_PRODUCT_CODE: esewaMerchantFields.ESEWA_PRODUCT_CODE,
    /** Khalti's ePayment API base, ending in /api/v2/; refunds go to /api/merchant-transaction/ on the same host. */
    KHALTI_BASE_URL: url(DEFAULT_KHALTI_BASE_URL),
    KHALTI_SECRET_KEY: z.string().min(1).default(SANDBOX_KHALTI_SECRET_KEY),
    /** Per-call timeout for gateway HTTP requests; Temporal retries the activity. */
    GATEWAY_TIMEOUT: duration('10s'),
    /** How long a refund may stay pending at the gateway before refundPayment hands it back to the workflow. */
    REFUND_PENDING_LIMIT: duration('72h'),
    WORKER_SHUTDOWN_GRACE: duration('10s'),
    /**
     * The prebuilt workflow bundle this worker runs; unset: the build's own (dist/workflow-bundle.js). A rolling
     * upgrade runs workers of the new build beside the old (test/e2e/rolling-upgrade.test.ts).
     */
    WORKER_WORKFLOW_BUNDLE: z
      .string()
      .optional()
      .transform((text) => (text && text.trim().length > 0 ? text.trim() : undefined)),
    /**
     * How long a workflow task waits on this worker's sticky queue before the server hands it to any worker. A
     * SIGKILLed worker's orders stall this long (the SDK's default is 10s); see docs/configuration.md for the sizing.
     */
    WORKER_STICKY_TIMEOUT: duration('3s'),
    /**
     * Order workflows kept in memory between tasks; 0 turns the cache (and sticky queues) off. Sized for orders that
     * mostly wait (about 0.24 MiB each, bench P4): an evicted order replays its short history on its next task.
     */
    WORKER_MAX_CACHED_WORKFLOWS: z.coerce
      .number()
      .int()
      .min(0)
      .max(100_000)
      .refine((size) => size !== 1, 'must be 0 (no cache) or at least 2')
      .default(250),
    /** Workflow tasks and activities one worker runs at once. */
    WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().min(2).max(1_000).default(40),
    WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).max(1_000).default(100),
    /** orderpay's own worker metrics (GET /metrics); 0 picks a free port. */
    WORKER_METRICS_PORT: port(9464),
    /** The Temporal SDK's Prometheus exporter (worker, workflow and activity task metrics); 0 picks a free port. */
    TEMPORAL_SDK_METRICS_PORT: port(9465),
    /** Gateways reconciled on a schedule from their settlement API (the others from uploaded reports). */
    RECONCILIATION_GATEWAYS: gatewayList('stripe'),
    /** How often the schedule runs, and how far back each run reaches (plus the overlap). */
    RECONCILIATION_INTERVAL: duration('1d'),
    RECONCILIATION_OVERLAP: duration('1h'),
    /** A payment that succeeded for an order we closed unpaid: refund it, or accept it as paid. */
    RECONCILIATION_LATE_SUCCESS_ACTION: perGatewayChoice(LATE_SUCCESS_ACTIONS, 'refund' satisfies LateSuccessAction),
    /** A payment that names no order of ours: refund it, or only record it for review. */
    RECONCILIATION_UNKNOWN_PAYMENT_ACTION: perGatewayChoice(
      UNKNOWN_PAYMENT_ACTIONS,
      'refund' satisfies UnknownPaymentAction,
    ),
    /** A payment orderpay did not create (no order ID of ours): flag it for review, or refund it. */
    RECONCILIATION_FOREIGN_PAYMENT_ACTION: perGatewayChoice(
      FOREIGN_PAYMENT_ACTIONS,
      'flag' satisfies ForeignPaymentAction,
    ),
    /** Closed unpaid orders created this long before a window's end are still asked about (a payment may follow). */
    RECONCILIATION_UNPAID_LOOKBACK: duration('7d'),
    /** A refund of ours written this close to a window's end is checked against the next window's data. */
    RECONCILIATION_EDGE_TOLERANCE: duration('15m'),
    /** Reconciliation activity timeouts: a whole window's collect and compare, one batch, and the heartbeat. */
    RECONCILIATION_BULK_TIMEOUT: duration('30m'),
    RECONCILIATION_BATCH_TIMEOUT: duration('5m'),
    RECONCILIATION_HEARTBEAT_TIMEOUT: duration('30s'),
    /** Gateway status lookups in flight at once, and the attempts before a failing one becomes lookup_failed. */
    RECONCILIATION_LOOKUP_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
    RECONCILIATION_LOOKUP_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
    /** The merchant's endpoint for signed order and refund events; unset: only endpoints added through the admin API. */
    MERCHANT_WEBHOOK_URL: z
      .string()
      .optional()
      .transform((text) => (text && text.trim().length > 0 ? text.trim() : undefined))
      .pipe(z.url({ protocol: /^https?$/ }).optional()),
    /** Its signing secrets, comma-separated for rotation (every one signs); required with MERCHANT_WEBHOOK_URL. */
    MERCHANT_WEBHOOK_SECRET: webhookSigningSecrets(),
    /** Whether events to MERCHANT_WEBHOOK_URL carry the order's customer (name, email, phone): personal data. */
    MERCHANT_WEBHOOK_INCLUDE_CUSTOMER: z
      .enum(['true', 'false'])
      .default('false')
      .transform((text) => text === 'true'),
    /** A delivery succeeds on a 2xx within this long; anything else is retried. */
    MERCHANT_WEBHOOK_TIMEOUT: duration('10s'),
    /** Retries of a delivery: first wait, longest wait (doubling between), and how long before it is given up. */
    MERCHANT_WEBHOOK_RETRY_INITIAL: duration('10s'),
    MERCHANT_WEBHOOK_RETRY_MAX_INTERVAL: duration('1h'),
    MERCHANT_WEBHOOK_RETRY_FOR: duration('72h'),
    /** How often the sweeper starts deliveries that were recorded but never started (a lost notification). */
    MERCHANT_EVENT_SWEEP_INTERVAL: duration('1m'),
  })
  .superRefine((config, ctx) => {
    if (config.MERCHANT_WEBHOOK_URL !== undefined && config.MERCHANT_WEBHOOK_SECRET.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['MERCHANT_WEBHOOK_SECRET'],
        message: 'is required with MERCHANT_WEBHOOK_URL (events are always signed)',
      });
    }
    reportProductionProblems(ctx, productionProblems('worker', config));
  });
export type WorkerConfig = z.infer<typeof workerConfigSchema>;

export const sandboxConfigSchema = z
  .object({
    ORDERPAY_ENV: orderpayEnv,
    LOG_LEVEL: commonFields.LOG_LEVEL,
    SANDBOX_PORT: port(12111),
    /** Loopback by default; 0.0.0.0 in a container, so the hosted page and API are reachable from outside it. */
    SANDBOX_HOST: z.string().min(1).default('127.0.0.1'),
    /**
     * Keeps sessions, payments, refunds, idempotency keys and undelivered webhooks across restarts; unset (or empty)
     * keeps them in memory only.
     */
    SANDBOX_STATE_FILE: z
      .string()
      .optional()
      .transform((text) => (text && text.trim().length > 0 ? text.trim() : undefined)),
    /** The address payers' browsers reach the sandbox's hosted pages on. */
    SANDBOX_PUBLIC_URL: url(DEFAULT_SANDBOX_URL),
    SANDBOX_API_KEY: z.string().min(1).default(SANDBOX_STRIPE_SECRET_KEY),
    SANDBOX_WEBHOOK_URL: url('http://127.0.0.1:3000/webhooks/stripe'),
    SANDBOX_WEBHOOK_SECRET: z.string().min(1).default(SANDBOX_STRIPE_WEBHOOK_SECRET),
    /** The eSewa merchant the sandbox's eSewa mode knows: the same as eSewa UAT's by default. */
    SANDBOX_ESEWA_PRODUCT_CODE: z.string().min(1).default(ESEWA_UAT_PRODUCT_CODE),
    SANDBOX_ESEWA_SECRET_KEY: z.string().min(1).default(ESEWA_UAT_SECRET_KEY),
    /** Khalti mode: the key clients send as `Authorization: Key <key>`. */
    SANDBOX_KHALTI_SECRET_KEY: z.string().min(1).default(SANDBOX_KHALTI_SECRET_KEY),
    /** Khalti mode: how long a payment link stays payable. */
    SANDBOX_KHALTI_EXPIRY: duration('60m'),
  })
  .superRefine((config, ctx) => {
    if (config.ORDERPAY_ENV === 'production') {
      ctx.addIssue({
        code: 'custom',
        path: ['ORDERPAY_ENV'],
        message: 'the sandbox fakes every gateway and never runs with ORDERPAY_ENV=production',
      });
    }
  });
export type SandboxConfig = z.infer<typeof sandboxConfigSchema>;

// ---- Live mode: ORDERPAY_ENV=production refuses test credentials, sandbox/UAT endpoints and missing keys. ----

/** Credentials that only ever work against the local sandbox or a gateway's public test environment. */
const TEST_CREDENTIALS: ReadonlySet<string> = new Set([
  SANDBOX_STRIPE_SECRET_KEY,
  SANDBOX_STRIPE_WEBHOOK_SECRET,
  SANDBOX_KHALTI_SECRET_KEY,
  ESEWA_UAT_SECRET_KEY,
  ESEWA_UAT_PRODUCT_CODE,
]);
/** The gateways' test environments: eSewa UAT (rc-epay, rc, uat) and Khalti's sandbox (dev, and the older a.). */
const TEST_GATEWAY_HOSTS: ReadonlySet<string> = new Set([
  'rc-epay.esewa.com.np',
  'rc.esewa.com.np',
  'uat.esewa.com.np',
  'dev.khalti.com',
  'a.khalti.com',
]);

/** Why a gateway URL cannot be a live one, or undefined when it can. */
function testEndpointReason(text: string): string | undefined {
  const { hostname, port: urlPort } = new URL(text);
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    /^127\./.test(host) ||
    host === '::1' ||
    host === '0.0.0.0'
  ) {
    return 'points at this machine (the local sandbox)';
  }
  if (urlPort === '12111') return 'points at the sandbox port 12111';
  if (TEST_GATEWAY_HOSTS.has(host)) return `points at the gateway's test environment (${host})`;
  return undefined;
}

/** Why a secret cannot be a live one: unset, or a published sandbox/UAT value (the value itself is never named). */
function testSecretReason(value: string | undefined): string | undefined {
  if (value === undefined || value.trim().length === 0) return 'is not set';
  if (TEST_CREDENTIALS.has(value)) return 'is a sandbox/UAT default';
  if (value.startsWith('sk_test_') || value.startsWith('rk_test_')) return 'is a Stripe test-mode key';
  return undefined;
}

export interface ProductionProblem {
  variable: string;
  reason: string;
}

/**
 * Who may administer orderpay in production: ADMIN_API_TOKEN, or an API key with the `admin` scope in the database.
 * Configuration can only refuse a token that is a known default; whether an admin key exists when the token is unset
 * is asked of the database when the API starts (api/main.ts, ADMIN_ACCESS_MISSING).
 */
export function adminAccessProblems(config: { ADMIN_API_TOKEN?: string | undefined }): ProductionProblem[] {
  if (config.ADMIN_API_TOKEN === undefined) return [];
  const reason = testSecretReason(config.ADMIN_API_TOKEN);
  return reason ? [{ variable: 'ADMIN_API_TOKEN', reason }] : [];
}

/** What the API says, and exits with, when production has neither an admin token nor an admin key. */
export const ADMIN_ACCESS_MISSING: ProductionProblem = {
  variable: 'ADMIN_API_TOKEN',
  reason: 'is not set and no active API key has the admin scope (npm run keys -- create --scopes admin)',
};

/**
 * Everything that stops a process from running live, as variable names and reasons (never values). Empty outside
 * production: development keeps the sandbox defaults. Every gateway is enabled in every process (each order chooses
 * its own), so every gateway's settings count.
 */
export function productionProblems(role: 'api' | 'worker', config: Record<string, unknown>): ProductionProblem[] {
  if (config.ORDERPAY_ENV !== 'production') return [];
  const problems: ProductionProblem[] = [];
  const secret = (variable: string) => {
    const reason = testSecretReason(config[variable] as string | undefined);
    if (reason) problems.push({ variable, reason });
  };
  const endpoint = (variable: string) => {
    const reason = testEndpointReason(String(config[variable]));
    if (reason) problems.push({ variable, reason });
  };
  if (!Array.isArray(config.TEMPORAL_CODEC_KEYS) || config.TEMPORAL_CODEC_KEYS.length === 0) {
    problems.push({ variable: 'TEMPORAL_CODEC_KEYS', reason: 'is not set (payloads in Temporal must be encrypted)' });
  }
  if (role === 'api') {
    const webhookSecrets = config.STRIPE_WEBHOOK_SECRETS as string[];
    const reasons = webhookSecrets.map(testSecretReason).filter((reason) => reason !== undefined);
    if (reasons[0]) problems.push({ variable: 'STRIPE_WEBHOOK_SECRETS', reason: reasons[0] });
    problems.push(...adminAccessProblems(config as { ADMIN_API_TOKEN?: string }));
    if (config.ORDERPAY_CLIENT_SECRET_KEY === undefined) {
      problems.push({ variable: 'ORDERPAY_CLIENT_SECRET_KEY', reason: 'is not set (payer client secrets need it)' });
    }
    endpoint('ESEWA_FORM_URL');
    secret('ESEWA_PRODUCT_CODE');
    secret('ESEWA_SECRET_KEY');
    if (config.CODEC_AUTH_TOKEN === undefined) {
      problems.push({ variable: 'CODEC_AUTH_TOKEN', reason: 'is not set (the codec endpoint decrypts payloads)' });
    }
  } else {
    endpoint('STRIPE_API_BASE');
    secret('STRIPE_SECRET_KEY');
    endpoint('ESEWA_STATUS_URL');
    secret('ESEWA_PRODUCT_CODE');
    endpoint('KHALTI_BASE_URL');
    secret('KHALTI_SECRET_KEY');
    const merchantUrl = config.MERCHANT_WEBHOOK_URL;
    if (typeof merchantUrl === 'string') {
      const reason = new URL(merchantUrl).protocol === 'https:' ? testEndpointReason(merchantUrl) : 'is not https';
      if (reason) problems.push({ variable: 'MERCHANT_WEBHOOK_URL', reason });
    }
    if (typeof config.MERCHANT_WEBHOOK_RETRY_FOR === 'number' && config.MERCHANT_WEBHOOK_RETRY_FOR < 72 * 3_600_000) {
      problems.push({ variable: 'MERCHANT_WEBHOOK_RETRY_FOR', reason: 'is shorter than 72h (merchants expect days)' });
    }
  }
  return problems;
}

function reportProductionProblems(ctx: z.RefinementCtx, problems: readonly ProductionProblem[]): void {
  for (const { variable, reason } of problems) {
    ctx.addIssue({ code: 'custom', path: [variable], message: `${reason}; ORDERPAY_ENV=production refuses it` });
  }
}

/** Parses the environment with a process's schema, or throws a ConfigError naming every bad variable. */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
}
