// The sandbox's Khalti (KPG-2) state: one payment per pidx, from Initiated to Completed, User canceled, Expired,
// Pending or (Partially) Refunded. Every state change goes through here, so the HTTP layers stay thin and the rules
// that mirror Khalti (what can be paid, when a link expires, what can be refunded) live in one place.
import { randomInt } from 'node:crypto';
import type { KhaltiStatus } from './khalti.protocol';

export interface KhaltiPaymentRecord {
  pidx: string;
  status: KhaltiStatus;
  /** Paisa. */
  amount: number;
  purchaseOrderId: string;
  purchaseOrderName: string;
  returnUrl: string;
  websiteUrl: string;
  customerInfo: Record<string, string>;
  /** Epoch milliseconds. */
  createdAt: number;
  expiresAt: number;
  /** Set when the payer pays. */
  transactionId: string | null;
  /** The payer's wallet, masked as Khalti shows it; set when the payer pays. */
  mobile: string | null;
  refundedAmount: number;
  refunds: { amount: number; at: number }[];
}

export interface KhaltiInitiateInput {
  amount: number;
  purchaseOrderId: string;
  purchaseOrderName: string;
  returnUrl: string;
  websiteUrl: string;
  customerInfo: Record<string, string>;
}

export type KhaltiPageOutcome =
  | { kind: 'paid' | 'pending' | 'canceled' | 'abandoned'; payment: KhaltiPaymentRecord }
  /** Already paid, cancelled or expired: the page must refuse. */
  | { kind: 'closed'; payment: KhaltiPaymentRecord };

export type KhaltiRefundOutcome =
  | { kind: 'refunded'; payment: KhaltiPaymentRecord; amount: number }
  | { kind: 'not_found' }
  | { kind: 'not_refundable'; payment: KhaltiPaymentRecord }
  | { kind: 'already_refunded'; payment: KhaltiPaymentRecord }
  | { kind: 'amount_too_large'; payment: KhaltiPaymentRecord; remaining: number };

export interface KhaltiStoreStats {
  initiated: number;
  initiatedByOrderId: Record<string, number>;
  paid: number;
  canceled: number;
  expired: number;
  refunds: number;
  refundedAmount: number;
  lookups: number;
}

export interface KhaltiStoreSnapshot {
  payments: [string, KhaltiPaymentRecord][];
  stats: Omit<KhaltiStoreStats, 'initiatedByOrderId'>;
  initiatedByOrderId: [string, number][];
}

export type KhaltiStore = ReturnType<typeof createKhaltiStore>;

/** Statuses a payer can still act on. Pending is money on its way: the payer (or the bank) can still finish it. */
const OPEN_STATUSES: readonly KhaltiStatus[] = ['Initiated', 'Pending'];

export function createKhaltiStore(options: { now: () => number; expiryMs: number }) {
  const { now, expiryMs } = options;
  const payments = new Map<string, KhaltiPaymentRecord>();
  const byTransactionId = new Map<string, string>();
  let stats = emptyStats();
  // A Map, not an object: order IDs come from callers and `__proto__` is a valid one.
  let initiatedByOrderId = new Map<string, number>();

  function initiate(input: KhaltiInitiateInput): KhaltiPaymentRecord {
    const createdAt = now();
    const payment: KhaltiPaymentRecord = {
      pidx: khaltiStyleId(),
      status: 'Initiated',
      ...input,
      createdAt,
      expiresAt: createdAt + expiryMs,
      transactionId: null,
      mobile: null,
      refundedAmount: 0,
      refunds: [],
    };
    payments.set(payment.pidx, payment);
    stats.initiated += 1;
    initiatedByOrderId.set(input.purchaseOrderId, (initiatedByOrderId.get(input.purchaseOrderId) ?? 0) + 1);
    return payment;
  }

  /** Looks a payment up, expiring it first when its link has run out unpaid (Khalti does so on its own). */
  function find(pidx: string): KhaltiPaymentRecord | undefined {
    const payment = payments.get(pidx);
    if (payment && payment.status === 'Initiated' && payment.expiresAt <= now()) {
      payment.status = 'Expired';
      stats.expired += 1;
    }
    return payment;
  }

  function lookup(pidx: string): KhaltiPaymentRecord | undefined {
    stats.lookups += 1;
    return find(pidx);
  }

  function act(pidx: string, kind: 'paid' | 'pending' | 'canceled'): KhaltiPageOutcome | undefined {
    const payment = find(pidx);
    if (!payment) return undefined;
    if (!OPEN_STATUSES.includes(payment.status)) return { kind: 'closed', payment };
    if (kind === 'paid') {
      payment.status = 'Completed';
      payment.transactionId = khaltiStyleId();
      payment.mobile = '98XXXXX904';
      byTransactionId.set(payment.transactionId, payment.pidx);
      stats.paid += 1;
    } else if (kind === 'pending') {
      payment.status = 'Pending';
    } else {
      payment.status = 'User canceled';
      stats.canceled += 1;
    }
    return { kind, payment };
  }

  function abandon(pidx: string): KhaltiPageOutcome | undefined {
    const payment = find(pidx);
    // Leaving never fails and changes nothing at Khalti; the link stays payable until it expires.
    return payment ? { kind: 'abandoned', payment } : undefined;
  }

  /** A refund without an amount returns whatever is left; with one, that much (paisa). */
  function refund(transactionId: string, amount: number | undefined): KhaltiRefundOutcome {
    const pidx = byTransactionId.get(transactionId);
    const payment = pidx === undefined ? undefined : find(pidx);
    if (!payment) return { kind: 'not_found' };
    if (payment.status === 'Refunded') return { kind: 'already_refunded', payment };
    if (payment.status !== 'Completed' && payment.status !== 'Partially Refunded') {
      return { kind: 'not_refundable', payment };
    }
    const remaining = payment.amount - payment.refundedAmount;
    const refunded = amount ?? remaining;
    if (refunded > remaining) return { kind: 'amount_too_large', payment, remaining };
    payment.refundedAmount += refunded;
    payment.refunds.push({ amount: refunded, at: now() });
    payment.status = payment.refundedAmount === payment.amount ? 'Refunded' : 'Partially Refunded';
    stats.refunds += 1;
    stats.refundedAmount += refunded;
    return { kind: 'refunded', payment, amount: refunded };
  }

  function paymentsForOrder(orderId: string | undefined): KhaltiPaymentRecord[] {
    return [...payments.keys()]
      .map((pidx) => find(pidx))
      .filter((payment): payment is KhaltiPaymentRecord => payment !== undefined)
      .filter((payment) => orderId === undefined || payment.purchaseOrderId === orderId);
  }

  return {
    initiate,
    lookup,
    find,
    pay: (pidx: string) => act(pidx, 'paid'),
    leavePending: (pidx: string) => act(pidx, 'pending'),
    cancel: (pidx: string) => act(pidx, 'canceled'),
    abandon,
    refund,
    paymentsForOrder,
    stats: (): KhaltiStoreStats => ({ ...stats, initiatedByOrderId: Object.fromEntries(initiatedByOrderId) }),
    reset() {
      payments.clear();
      byTransactionId.clear();
      stats = emptyStats();
      initiatedByOrderId = new Map();
    },
    snapshot: (): KhaltiStoreSnapshot => ({
      payments: [...payments],
      stats: { ...stats },
      initiatedByOrderId: [...initiatedByOrderId],
    }),
    restore(snapshot: KhaltiStoreSnapshot) {
      payments.clear();
      byTransactionId.clear();
      for (const [pidx, payment] of snapshot.payments) {
        payments.set(pidx, payment);
        if (payment.transactionId) byTransactionId.set(payment.transactionId, pidx);
      }
      stats = { ...emptyStats(), ...snapshot.stats };
      initiatedByOrderId = new Map(snapshot.initiatedByOrderId);
    },
  };
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** 22 alphanumeric characters, the shape of Khalti's pidx and transaction IDs. */
function khaltiStyleId(): string {
  let id = '';
  for (let i = 0; i < 22; i += 1) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

function emptyStats(): Omit<KhaltiStoreStats, 'initiatedByOrderId'> {
  return { initiated: 0, paid: 0, canceled: 0, expired: 0, refunds: 0, refundedAmount: 0, lookups: 0 };
}
