// The sandbox's eSewa transactions: what the signed form created, what the payer did on the hosted page, and what
// the status API reports. Keyed by transaction_uuid (the sandbox serves one merchant).
import { randomBytes } from 'node:crypto';
import type { EsewaStatus } from './esewa.protocol';

export interface EsewaTransaction {
  transactionUuid: string;
  productCode: string;
  /** As the form sent them (rupee strings); the status API matches total_amount by value. */
  amount: string;
  totalAmount: string;
  totalPaisa: number;
  successUrl: string;
  failureUrl: string;
  status: EsewaStatus;
  /** eSewa's reference of a completed payment (ref_id in the status API, transaction_code in the callback). */
  transactionCode: string | null;
  createdAt: number;
  updatedAt: number;
}

export type EsewaSnapshot = [string, EsewaTransaction][];

export type NewEsewaTransaction = Omit<EsewaTransaction, 'status' | 'transactionCode' | 'createdAt' | 'updatedAt'>;

export interface EsewaStore {
  /** A new transaction (PENDING), or the existing one for the UUID. */
  submit(transaction: NewEsewaTransaction): { created: boolean; transaction: EsewaTransaction };
  get(transactionUuid: string): EsewaTransaction | undefined;
  /** PENDING → COMPLETE with a transaction code; undefined when the transaction is not PENDING. */
  pay(transactionUuid: string): EsewaTransaction | undefined;
  /** PENDING → CANCELED (the payer cancelled or the payment failed). */
  fail(transactionUuid: string): EsewaTransaction | undefined;
  /** Forces a status, as eSewa's operations would (AMBIGUOUS, FULL_REFUND…); for tests and demos. */
  setStatus(transactionUuid: string, status: EsewaStatus): EsewaTransaction | undefined;
  list(): EsewaTransaction[];
  snapshot(): EsewaSnapshot;
  restore(snapshot: EsewaSnapshot): void;
  reset(): void;
}

export function createEsewaStore(options: { now: () => number; onChange: () => void }): EsewaStore {
  const transactions = new Map<string, EsewaTransaction>();
  const { now, onChange } = options;

  function move(transactionUuid: string, from: EsewaStatus[], to: EsewaStatus): EsewaTransaction | undefined {
    const transaction = transactions.get(transactionUuid);
    if (!transaction || !from.includes(transaction.status)) return undefined;
    transaction.status = to;
    if (to === 'COMPLETE' && !transaction.transactionCode) {
      transaction.transactionCode = `000${randomBytes(3).toString('hex').toUpperCase()}`;
    }
    transaction.updatedAt = now();
    onChange();
    return transaction;
  }

  return {
    submit(fresh) {
      const existing = transactions.get(fresh.transactionUuid);
      if (existing) return { created: false, transaction: existing };
      const at = now();
      const transaction: EsewaTransaction = {
        ...fresh,
        status: 'PENDING',
        transactionCode: null,
        createdAt: at,
        updatedAt: at,
      };
      transactions.set(fresh.transactionUuid, transaction);
      onChange();
      return { created: true, transaction };
    },
    get: (transactionUuid) => transactions.get(transactionUuid),
    pay: (transactionUuid) => move(transactionUuid, ['PENDING'], 'COMPLETE'),
    fail: (transactionUuid) => move(transactionUuid, ['PENDING'], 'CANCELED'),
    setStatus(transactionUuid, status) {
      const transaction = transactions.get(transactionUuid);
      return transaction ? move(transactionUuid, [transaction.status], status) : undefined;
    },
    list: () => [...transactions.values()],
    snapshot: () => [...transactions.entries()].map(([key, value]) => [key, { ...value }]),
    restore(snapshot) {
      transactions.clear();
      for (const [key, value] of snapshot) transactions.set(key, { ...value });
    },
    reset() {
      transactions.clear();
    },
  };
}
