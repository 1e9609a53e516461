// An order's payment attempts and their rules: which attempt is open, which gateway outcome concerns which attempt,
// whether a decline was seen before, and when the order has used all its attempts. No Temporal imports: OrderDecisions
// owns one of these, and unit tests drive it directly (test/orders/payment-attempts.unit.test.ts).
import type {
  GatewayName,
  PaymentAttemptState,
  PaymentAttemptStatus,
  PaymentFailure,
} from '../../contracts/order.contract';
import { intentStaysOpenAfterDecline, openedAttempt } from '../../domain/payment-attempts';

/** How an attempt ends unpaid, and the failure reason recorded with each. */
export const ATTEMPT_END_REASONS = {
  declined: 'payment_declined',
  cancelled: 'cancelled_at_gateway',
  expired: 'order_closed',
  superseded: 'superseded',
} as const satisfies Partial<Record<PaymentAttemptStatus, string>>;

export type AttemptEnd = keyof typeof ATTEMPT_END_REASONS;

/** The intent a step talks to the gateway about: an attempt's, at that attempt's gateway. */
export interface IntentAtGateway {
  intentId: string;
  gateway: GatewayName;
}

export function intentOf(attempt: PaymentAttemptState): IntentAtGateway {
  return { intentId: attempt.intentId, gateway: attempt.gateway };
}

export class PaymentAttempts {
  constructor(
    /** The order's attempts, oldest first: the same array the order's state holds (the query shows it). */
    private readonly list: PaymentAttemptState[],
    readonly maxAttempts: number,
    readonly allowedGateways: readonly GatewayName[],
    /** Gateway IDs of declined tries already recorded (Stripe's failed charges), carried across continue-as-new. */
    readonly declinedFailureRefs: string[],
  ) {}

  latest(): PaymentAttemptState | undefined {
    return this.list.at(-1);
  }

  /** The open attempt: only ever the latest one. */
  open(): PaymentAttemptState | undefined {
    const latest = this.latest();
    return latest?.status === 'open' ? latest : undefined;
  }

  /**
   * The intent a payer could still pay: the open attempt's, or a declined Stripe session's, which stays payable at
   * Stripe after the decline even when the order will not open another attempt on it.
   */
  payableIntent(): IntentAtGateway | undefined {
    const latest = this.latest();
    if (!latest) return undefined;
    const payable =
      latest.status === 'open' || (latest.status === 'declined' && intentStaysOpenAfterDecline(latest.gateway));
    return payable ? { intentId: latest.intentId, gateway: latest.gateway } : undefined;
  }

  /** The latest attempt on this intent (a Stripe session may serve several); the latest attempt when unnamed. */
  concerned(intentId: string | undefined): PaymentAttemptState | undefined {
    if (intentId === undefined) return this.latest();
    for (let index = this.list.length - 1; index >= 0; index -= 1) {
      const attempt = this.list[index];
      if (attempt?.intentId === intentId) return attempt;
    }
    return undefined;
  }

  /** An intent of one of this order's attempts other than the latest one (a payer may come back to an old tab). */
  isEarlierIntent(intentId: string | undefined): intentId is string {
    if (intentId === undefined || intentId === this.latest()?.intentId) return false;
    return this.list.some((attempt) => attempt.intentId === intentId);
  }

  count(): number {
    return this.list.length;
  }

  /** Every attempt the order may use has been used. */
  exhausted(): boolean {
    return this.list.length >= this.maxAttempts;
  }

  /** After a declined try: whether the next attempt opens on the same intent (Stripe's page stays open). */
  reopensAfterDecline(attempt: PaymentAttemptState, failure: PaymentFailure | undefined): boolean {
    return !this.exhausted() && intentStaysOpenAfterDecline(attempt.gateway) && !failure?.intentClosed;
  }

  /**
   * A decline that was recorded already. With the gateway's ID of the declined try, that ID decides. Without one,
   * only a signed event is a new decline on an attempt reopened on its predecessor's intent: a status lookup of that
   * intent still shows the decline the previous attempt ended with.
   */
  isKnownDecline(attempt: PaymentAttemptState, failure: PaymentFailure | undefined, fromEvent: boolean): boolean {
    if (failure?.ref !== undefined) return this.declinedFailureRefs.includes(failure.ref);
    const previous = this.list[attempt.number - 2];
    return !fromEvent && previous?.intentId === attempt.intentId;
  }

  /** The attempt was opened on its predecessor's intent after that one's decline (Stripe's page stayed open). */
  reopenedAfterDecline(attempt: PaymentAttemptState): boolean {
    const previous = this.list[attempt.number - 2];
    return previous?.status === 'declined' && previous.intentId === attempt.intentId;
  }

  begin(gateway: GatewayName, intent: { intentId: string; paymentUrl: string }, at: string): PaymentAttemptState {
    const attempt = openedAttempt(this.list.length + 1, gateway, intent, at);
    this.list.push(attempt);
    return attempt;
  }

  end(attempt: PaymentAttemptState, end: AttemptEnd, at: string, failure?: PaymentFailure): PaymentAttemptState {
    if (failure?.ref !== undefined) this.declinedFailureRefs.push(failure.ref);
    return this.replace(attempt, {
      status: end,
      failureReason: ATTEMPT_END_REASONS[end],
      declineCode: end === 'declined' ? (failure?.declineCode ?? failure?.code ?? null) : null,
      endedAt: at,
    });
  }

  paid(attempt: PaymentAttemptState, at: string): PaymentAttemptState {
    return this.replace(attempt, { status: 'paid', failureReason: null, declineCode: null, endedAt: at });
  }

  private replace(attempt: PaymentAttemptState, change: Partial<PaymentAttemptState>): PaymentAttemptState {
    const index = this.list.indexOf(attempt);
    const updated = { ...attempt, ...change };
    if (index >= 0) this.list[index] = updated;
    return updated;
  }
}
