// The sandbox's Khalti mode: state, API routes and hosted page, bundled so sandbox.app.ts mounts it in a few lines.
import type { Logger } from '../config/logger';
import { createKhaltiApiRouter, type KhaltiApiCounters } from './khalti-api.routes';
import { createKhaltiPageRouter, type KhaltiReturnStats } from './khalti-page.routes';
import {
  createKhaltiStore,
  type KhaltiPaymentRecord,
  type KhaltiStoreSnapshot,
  type KhaltiStoreStats,
} from './khalti.store';
import type { SandboxFaults } from './sandbox.faults';
import type express from 'express';

/** Khalti's links expire; the sandbox's expire this long after initiate unless configured otherwise. */
export const DEFAULT_KHALTI_EXPIRY_MS = 60 * 60_000;

export interface KhaltiSandboxOptions {
  publicUrl: string;
  /** The key clients must send as `Authorization: Key <secretKey>`. */
  secretKey: string;
  expiryMs: number;
  now: () => number;
  random: () => number;
  faults: () => SandboxFaults;
  logger: Logger;
}

export interface KhaltiSandboxStats extends KhaltiStoreStats {
  api: KhaltiApiCounters;
  returns: KhaltiReturnStats;
}

export interface KhaltiSandbox {
  /** Mounted at /api: /api/v2/epayment/… and /api/merchant-transaction/…. */
  apiRouter: express.Router;
  /** Mounted at /khalti-pay. */
  pageRouter: express.Router;
  stats(): KhaltiSandboxStats;
  payments(orderId?: string): KhaltiPaymentRecord[];
  snapshot(): KhaltiStoreSnapshot;
  restore(snapshot: KhaltiStoreSnapshot): void;
  reset(): void;
  close(): void;
}

export function createKhaltiSandbox(options: KhaltiSandboxOptions): KhaltiSandbox {
  const { now, random, faults, logger } = options;
  const store = createKhaltiStore({ now, expiryMs: options.expiryMs });
  const counters: KhaltiApiCounters = { requests: 0, injectedErrors: 0 };
  const returns: KhaltiReturnStats = emptyReturnStats();
  const apiRouter = createKhaltiApiRouter({
    store,
    secretKey: options.secretKey,
    publicUrl: options.publicUrl,
    faults,
    random,
    counters,
    logger,
  });
  const page = createKhaltiPageRouter({ store, faults, random, logger, stats: returns });
  return {
    apiRouter,
    pageRouter: page.router,
    stats: () => ({ ...store.stats(), api: { ...counters }, returns: { ...returns } }),
    payments: (orderId) => store.paymentsForOrder(orderId),
    snapshot: () => store.snapshot(),
    restore: (snapshot) => store.restore(snapshot),
    reset() {
      store.reset();
      Object.assign(counters, { requests: 0, injectedErrors: 0 });
      Object.assign(returns, emptyReturnStats());
    },
    close: () => page.close(),
  };
}

function emptyReturnStats(): KhaltiReturnStats {
  return { returned: 0, dropped: 0, duplicated: 0, duplicatesAnswered: 0 };
}
