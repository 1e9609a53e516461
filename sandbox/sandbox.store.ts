// The sandbox's in-memory gateway: checkout sessions, payment intents, charges, refunds and the events their
// changes produce. Every state change goes through here, so the HTTP layers stay thin and the rules that
// mirror Stripe (what can be paid, expired or refunded, and which events follow) live in one place.
import type { ListParams, RefundCreateParams, SessionCreateParams } from './stripe-params.schema';
import {
  type ChargeObject,
  type CheckoutSessionObject,
  type EventDataObject,
  type EventObject,
  type Metadata,
  type DeclineReason,
  type PaymentErrorObject,
  type PaymentIntentObject,
  type RefundObject,
  DECLINE_REASONS,
  DEFAULT_DECLINE_REASON,
  DELAYED_PAYMENT_METHOD_TYPES,
  invalidParameter,
  newObjectId,
  resourceMissing,
  SANDBOX_API_VERSION,
  SANDBOX_DASHBOARD_PAYMENT_METHOD_TYPES,
  SandboxApiError,
} from './stripe.objects';

/**
 * The settlement CSV header as docs/reconciliation.md documents it ("Settlement CSV"), written out rather than imported from the
 * parser (gateways/settlement-csv.ts), so the parser is tested against the documented format.
 */
export const SETTLEMENT_REPORT_HEADER =
  'kind,transaction_id,payment_id,order_id,status,amount_minor,currency,occurred_at';

/** Stripe accepts an expires_at between 30 minutes and 24 hours after creation. */
const MIN_EXPIRY_SECONDS = 30 * 60;
const MAX_EXPIRY_SECONDS = 24 * 60 * 60;

export interface SandboxStoreOptions {
  /** Base of the hosted payment page URLs handed out in session.url. */
  publicUrl: string;
  now: () => number;
  /** Called synchronously for every event, in the order they happen. */
  emit: (event: EventObject) => void;
}

/** What the API request that caused a change said about itself; Stripe copies it into the event. */
export interface RequestOrigin {
  idempotencyKey?: string;
}

interface SessionRecord {
  session: CheckoutSessionObject;
  /** Line items are not part of the session object unless expanded; the page shows the product name. */
  productName: string;
  paymentIntentMetadata: Metadata;
}

export type PageActionOutcome =
  | { kind: 'paid' | 'declined' | 'abandoned' | 'processing'; session: CheckoutSessionObject }
  /** The payer asked for a delayed method the session does not offer. */
  | { kind: 'method_not_allowed'; session: CheckoutSessionObject }
  /** The session is expired or already paid: the page must refuse. */
  | { kind: 'closed'; session: CheckoutSessionObject };

export interface SandboxStoreStats {
  sessionsCreated: number;
  sessionsByOrderId: Record<string, number>;
  sessionsExpired: number;
  paymentsCaptured: number;
  paymentsDeclined: number;
  refundsCreated: number;
  refundedAmountMinor: number;
}

export interface HostedSessionView {
  session: CheckoutSessionObject;
  productName: string;
  declineMessage: string | null;
}

/** `expand[]` replaces an ID with the object it names. */
export type ExpandedPaymentIntent = Omit<PaymentIntentObject, 'latest_charge'> & {
  latest_charge: string | ChargeObject | null;
};
export type ExpandedSession = Omit<CheckoutSessionObject, 'payment_intent'> & {
  payment_intent: string | ExpandedPaymentIntent | null;
};

export type SandboxStore = ReturnType<typeof createSandboxStore>;

/** Everything the store holds, as plain JSON, so the sandbox can survive a restart (SANDBOX_STATE_FILE). */
export interface SandboxStoreSnapshot {
  sessions: [string, SessionRecord][];
  paymentIntents: [string, PaymentIntentObject][];
  charges: [string, ChargeObject][];
  refunds: [string, RefundObject][];
  events: [string, EventObject][];
  stats: Omit<SandboxStoreStats, 'sessionsByOrderId'>;
  sessionsByOrderId: [string, number][];
}

export function createSandboxStore(options: SandboxStoreOptions) {
  const publicUrl = options.publicUrl.replace(/\/+$/, '');
  const sessions = new Map<string, SessionRecord>();
  const paymentIntents = new Map<string, PaymentIntentObject>();
  const charges = new Map<string, ChargeObject>();
  const refunds = new Map<string, RefundObject>();
  const events = new Map<string, EventObject>();
  let stats = emptyStats();
  // A Map, not an object: order IDs come from callers and `__proto__` is a valid one.
  let sessionsByOrderId = new Map<string, number>();

  const nowSeconds = () => Math.floor(options.now() / 1000);

  function emit(type: string, object: EventDataObject, origin: RequestOrigin = {}): void {
    const event: EventObject = {
      id: newObjectId('evt'),
      object: 'event',
      api_version: SANDBOX_API_VERSION,
      created: nowSeconds(),
      // A snapshot: later changes to the object must not rewrite what the event said.
      data: { object: structuredClone(object) },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: origin.idempotencyKey ?? null },
      type,
    };
    events.set(event.id, event);
    options.emit(event);
  }

  function createSession(params: SessionCreateParams): CheckoutSessionObject {
    const created = nowSeconds();
    const currencies = new Set(params.line_items.map((item) => item.price_data.currency));
    const [currency] = currencies;
    if (currency === undefined || currencies.size > 1) {
      throw invalidParameter('line_items', 'All line items must use the same currency.');
    }
    const amountTotal = params.line_items.reduce((sum, item) => sum + item.quantity * item.price_data.unit_amount, 0);
    if (!Number.isSafeInteger(amountTotal) || amountTotal <= 0) {
      throw invalidParameter('line_items', 'The Checkout Session total must be a positive integer amount.');
    }
    const expiresAt = params.expires_at ?? created + MAX_EXPIRY_SECONDS;
    if (expiresAt < created + MIN_EXPIRY_SECONDS || expiresAt > created + MAX_EXPIRY_SECONDS) {
      throw invalidParameter(
        'expires_at',
        'The `expires_at` timestamp must be between 30 minutes and 24 hours after Checkout Session creation.',
      );
    }
    const id = newObjectId('cs_test');
    const session: CheckoutSessionObject = {
      id,
      object: 'checkout.session',
      amount_subtotal: amountTotal,
      amount_total: amountTotal,
      cancel_url: params.cancel_url ?? null,
      client_reference_id: params.client_reference_id ?? null,
      created,
      currency,
      customer_email: params.customer_email ?? null,
      expires_at: expiresAt,
      livemode: false,
      metadata: params.metadata ?? {},
      mode: 'payment',
      payment_intent: null,
      payment_method_types: [...(params.allowed_payment_method_types ?? SANDBOX_DASHBOARD_PAYMENT_METHOD_TYPES)],
      payment_status: 'unpaid',
      status: 'open',
      success_url: params.success_url,
      url: `${publicUrl}/pay/${id}`,
    };
    sessions.set(id, {
      session,
      productName: params.line_items.map((item) => item.price_data.product_data.name).join(', '),
      paymentIntentMetadata: params.payment_intent_data?.metadata ?? {},
    });
    stats.sessionsCreated += 1;
    const orderId = orderIdOf(session);
    if (orderId !== undefined) sessionsByOrderId.set(orderId, (sessionsByOrderId.get(orderId) ?? 0) + 1);
    return session;
  }

  /** Looks a session up, expiring it first if its expires_at has passed (Stripe expires them on its own). */
  function findSession(id: string): SessionRecord | undefined {
    const record = sessions.get(id);
    if (record && record.session.status === 'open' && record.session.expires_at <= nowSeconds()) {
      closeSession(record);
    }
    return record;
  }

  function requireSession(id: string): SessionRecord {
    const record = findSession(id);
    if (!record) throw resourceMissing('checkout.session', id);
    return record;
  }

  function closeSession(record: SessionRecord, origin: RequestOrigin = {}): void {
    const { session } = record;
    session.status = 'expired';
    session.url = null;
    stats.sessionsExpired += 1;
    const intent = session.payment_intent ? paymentIntents.get(session.payment_intent) : undefined;
    if (intent && intent.status !== 'succeeded') {
      intent.status = 'canceled';
      intent.canceled_at = nowSeconds();
      intent.cancellation_reason = 'abandoned';
    }
    emit('checkout.session.expired', session, origin);
    if (intent?.status === 'canceled') emit('payment_intent.canceled', intent, origin);
  }

  function expireSession(id: string, origin: RequestOrigin): CheckoutSessionObject {
    const record = requireSession(id);
    if (record.session.status !== 'open') {
      throw new SandboxApiError(
        400,
        'invalid_request_error',
        `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${record.session.status}".`,
      );
    }
    closeSession(record, origin);
    return record.session;
  }

  function expireDueSessions(): void {
    for (const id of sessions.keys()) findSession(id);
  }

  /** Stripe creates the payment intent when the payer first submits the page. */
  function paymentIntentFor(record: SessionRecord): PaymentIntentObject {
    const { session } = record;
    const existing = session.payment_intent ? paymentIntents.get(session.payment_intent) : undefined;
    if (existing) return existing;
    const intent: PaymentIntentObject = {
      id: newObjectId('pi'),
      object: 'payment_intent',
      amount: session.amount_total,
      amount_received: 0,
      canceled_at: null,
      cancellation_reason: null,
      created: nowSeconds(),
      currency: session.currency,
      last_payment_error: null,
      latest_charge: null,
      livemode: false,
      metadata: { ...record.paymentIntentMetadata },
      status: 'requires_payment_method',
    };
    paymentIntents.set(intent.id, intent);
    session.payment_intent = intent.id;
    return intent;
  }

  function pay(id: string): PageActionOutcome | undefined {
    const record = findSession(id);
    if (!record) return undefined;
    const { session } = record;
    if (session.status !== 'open') return { kind: 'closed', session };
    capture(record);
    emit('checkout.session.completed', session);
    return { kind: 'paid', session };
  }

  /** The payment succeeds: a charge, the intent succeeded, the session paid and complete. */
  function capture(record: SessionRecord): void {
    const { session } = record;
    const intent = paymentIntentFor(record);
    const charge: ChargeObject = {
      id: newObjectId('ch'),
      object: 'charge',
      amount: intent.amount,
      amount_captured: intent.amount,
      amount_refunded: 0,
      captured: true,
      created: nowSeconds(),
      currency: intent.currency,
      livemode: false,
      // Stripe copies the payment intent's metadata onto its charges; refund events rely on it.
      metadata: { ...intent.metadata },
      paid: true,
      payment_intent: intent.id,
      refunded: false,
      status: 'succeeded',
    };
    charges.set(charge.id, charge);
    intent.status = 'succeeded';
    intent.amount_received = intent.amount;
    intent.last_payment_error = null;
    intent.latest_charge = charge.id;
    session.status = 'complete';
    session.payment_status = 'paid';
    session.url = null;
    stats.paymentsCaptured += 1;
    emit('payment_intent.succeeded', intent);
  }

  /**
   * The payer submits a delayed method (a bank debit): the session completes unpaid and can no longer be expired;
   * the bank's answer comes later (settleDelayedPayment).
   */
  function payWithDelayedMethod(id: string): PageActionOutcome | undefined {
    const record = findSession(id);
    if (!record) return undefined;
    const { session } = record;
    if (session.status !== 'open') return { kind: 'closed', session };
    if (!session.payment_method_types.some((type) => DELAYED_PAYMENT_METHOD_TYPES.includes(type))) {
      return { kind: 'method_not_allowed', session };
    }
    const intent = paymentIntentFor(record);
    intent.status = 'processing';
    intent.last_payment_error = null;
    session.status = 'complete';
    session.url = null;
    emit('checkout.session.completed', session);
    return { kind: 'processing', session };
  }

  /** The bank's answer to a delayed payment, days later at Stripe: async_payment_succeeded or _failed. */
  function settleDelayedPayment(id: string, outcome: 'succeeded' | 'failed'): CheckoutSessionObject {
    const record = requireSession(id);
    const { session } = record;
    const intent = session.payment_intent ? paymentIntents.get(session.payment_intent) : undefined;
    if (session.status !== 'complete' || session.payment_status !== 'unpaid' || intent?.status !== 'processing') {
      throw new SandboxApiError(
        400,
        'invalid_request_error',
        `Checkout Session ${id} has no delayed payment in progress (status ${session.status}, payment_status ${session.payment_status}).`,
      );
    }
    if (outcome === 'succeeded') {
      capture(record);
      emit('checkout.session.async_payment_succeeded', session);
    } else {
      // Stripe reports a failed debit the way it reports a declined card, with the bank's reason.
      recordDeclinedTry(intent, {
        code: 'payment_method_customer_decline',
        decline_code: 'insufficient_funds',
        message: 'The bank declined the debit.',
      });
      emit('payment_intent.payment_failed', intent);
      emit('checkout.session.async_payment_failed', session);
    }
    return session;
  }

  /**
   * A declined try, as Stripe records one: a failed charge of its own (so every try has a distinct ID), named in
   * last_payment_error.charge and latest_charge, and the intent back to requires_payment_method.
   */
  function recordDeclinedTry(intent: PaymentIntentObject, error: Omit<PaymentErrorObject, 'type' | 'charge'>): void {
    const charge: ChargeObject = {
      id: newObjectId('ch'),
      object: 'charge',
      amount: intent.amount,
      amount_captured: 0,
      amount_refunded: 0,
      captured: false,
      created: nowSeconds(),
      currency: intent.currency,
      livemode: false,
      metadata: { ...intent.metadata },
      paid: false,
      payment_intent: intent.id,
      refunded: false,
      status: 'failed',
      failure_code: error.code,
      failure_message: error.message,
    };
    charges.set(charge.id, charge);
    intent.status = 'requires_payment_method';
    intent.last_payment_error = { type: 'card_error', ...error, charge: charge.id };
    intent.latest_charge = charge.id;
    stats.paymentsDeclined += 1;
  }

  function decline(id: string, reason: DeclineReason = DEFAULT_DECLINE_REASON): PageActionOutcome | undefined {
    const record = findSession(id);
    if (!record) return undefined;
    const { session } = record;
    if (session.status !== 'open') return { kind: 'closed', session };
    const intent = paymentIntentFor(record);
    // The session stays open: on Stripe's page the payer can try another card.
    recordDeclinedTry(intent, DECLINE_REASONS[reason]);
    emit('payment_intent.payment_failed', intent);
    return { kind: 'declined', session };
  }

  function abandon(id: string): PageActionOutcome | undefined {
    const record = findSession(id);
    if (!record) return undefined;
    // Leaving never fails, whatever state the session is in; nothing changes at the gateway.
    return { kind: 'abandoned', session: record.session };
  }

  function hostedView(id: string): HostedSessionView | undefined {
    const record = findSession(id);
    if (!record) return undefined;
    const intent = record.session.payment_intent ? paymentIntents.get(record.session.payment_intent) : undefined;
    return {
      session: record.session,
      productName: record.productName,
      declineMessage: record.session.status === 'open' ? (intent?.last_payment_error?.message ?? null) : null,
    };
  }

  function retrieveSession(id: string, expand: readonly string[]): ExpandedSession {
    const { session } = requireSession(id);
    const supported = ['payment_intent', 'payment_intent.latest_charge'];
    const unsupported = expand.find((path) => !supported.includes(path));
    if (unsupported !== undefined) {
      throw invalidParameter('expand', `This property cannot be expanded (${unsupported}).`);
    }
    const view: ExpandedSession = structuredClone(session);
    if (expand.length > 0 && session.payment_intent) {
      const nested = expand.includes('payment_intent.latest_charge') ? ['latest_charge'] : [];
      view.payment_intent = retrievePaymentIntent(session.payment_intent, nested);
    }
    return view;
  }

  function retrievePaymentIntent(id: string, expand: readonly string[]): ExpandedPaymentIntent {
    const intent = paymentIntents.get(id);
    if (!intent) throw resourceMissing('payment_intent', id);
    const unsupported = expand.find((path) => path !== 'latest_charge');
    if (unsupported !== undefined) {
      throw invalidParameter('expand', `This property cannot be expanded (${unsupported}).`);
    }
    const view: ExpandedPaymentIntent = structuredClone(intent);
    const charge = intent.latest_charge ? charges.get(intent.latest_charge) : undefined;
    if (expand.includes('latest_charge') && charge) view.latest_charge = structuredClone(charge);
    return view;
  }

  /**
   * Creates a refund, `succeeded` at once, or `pending` (options.pending, the refundsPending fault) until
   * settleRefund decides it. A pending refund holds its amount on the charge, as at Stripe; a failed one gives it back.
   */
  function createRefund(
    params: RefundCreateParams,
    origin: RequestOrigin,
    options: { pending?: boolean } = {},
  ): RefundObject {
    const charge = chargeToRefund(params);
    const remaining = charge.amount - charge.amount_refunded;
    if (remaining === 0) {
      throw new SandboxApiError(400, 'invalid_request_error', `Charge ${charge.id} has already been refunded.`, {
        code: 'charge_already_refunded',
      });
    }
    const amount = params.amount ?? remaining;
    if (amount > remaining) {
      throw new SandboxApiError(
        400,
        'invalid_request_error',
        `Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining}).`,
        { code: 'amount_too_large', param: 'amount' },
      );
    }
    const refund: RefundObject = {
      id: newObjectId('re'),
      object: 'refund',
      amount,
      charge: charge.id,
      created: nowSeconds(),
      currency: charge.currency,
      metadata: params.metadata ?? {},
      payment_intent: charge.payment_intent,
      reason: params.reason ?? null,
      status: options.pending ? 'pending' : 'succeeded',
    };
    refunds.set(refund.id, refund);
    charge.amount_refunded += amount;
    charge.refunded = charge.amount_refunded === charge.amount;
    stats.refundsCreated += 1;
    if (refund.status === 'succeeded') {
      stats.refundedAmountMinor += amount;
      emit('charge.refunded', charge, origin);
    }
    return refund;
  }

  /** Settles a pending refund (the control API): succeeded, or failed/canceled with its amount back on the charge. */
  function settleRefund(id: string, status: 'succeeded' | 'failed' | 'canceled'): RefundObject {
    const refund = retrieveRefund(id);
    if (refund.status !== 'pending') {
      throw new SandboxApiError(400, 'invalid_request_error', `Refund ${id} is ${refund.status}, not pending.`);
    }
    refund.status = status;
    const charge = charges.get(refund.charge);
    if (status === 'succeeded') {
      stats.refundedAmountMinor += refund.amount;
      if (charge) emit('charge.refunded', charge);
    } else if (charge) {
      charge.amount_refunded -= refund.amount;
      charge.refunded = charge.amount_refunded === charge.amount;
    }
    return refund;
  }

  function chargeToRefund(params: RefundCreateParams): ChargeObject {
    if (params.charge !== undefined) {
      const charge = charges.get(params.charge);
      if (!charge) throw resourceMissing('charge', params.charge, 'charge');
      if (charge.status !== 'succeeded') {
        throw new SandboxApiError(
          400,
          'invalid_request_error',
          `Charge ${charge.id} has no successful payment to refund.`,
        );
      }
      return charge;
    }
    const intentId = params.payment_intent ?? '';
    const intent = paymentIntents.get(intentId);
    if (!intent) throw resourceMissing('payment_intent', intentId, 'payment_intent');
    const charge = intent.latest_charge ? charges.get(intent.latest_charge) : undefined;
    if (intent.status !== 'succeeded' || !charge) {
      throw new SandboxApiError(
        400,
        'invalid_request_error',
        `This PaymentIntent (${intent.id}) does not have a successful charge to refund.`,
        { param: 'payment_intent' },
      );
    }
    return charge;
  }

  function retrieveRefund(id: string): RefundObject {
    const refund = refunds.get(id);
    if (!refund) throw resourceMissing('refund', id);
    return refund;
  }

  function retrieveEvent(id: string): EventObject {
    const event = events.get(id);
    if (!event) throw resourceMissing('event', id);
    return event;
  }

  function listPaymentIntents(params: ListParams, url: string): ListObject<PaymentIntentObject> {
    return listPage([...paymentIntents.values()], params, url);
  }

  function listRefunds(params: ListParams, url: string): ListObject<RefundObject> {
    return listPage([...refunds.values()], params, url);
  }

  /**
   * The settlement report a merchant would download, in orderpay's documented CSV columns
   * (SETTLEMENT_REPORT_HEADER): every payment intent and refund created in [from, to).
   */
  function settlementReportCsv(fromSeconds: number, toSeconds: number): string {
    const inWindow = (created: number) => created >= fromSeconds && created < toSeconds;
    const lines = [SETTLEMENT_REPORT_HEADER];
    for (const intent of paymentIntents.values()) {
      if (!inWindow(intent.created)) continue;
      const status =
        intent.status === 'succeeded'
          ? 'succeeded'
          : intent.status === 'canceled'
            ? 'cancelled'
            : intent.last_payment_error
              ? 'failed'
              : 'pending';
      const amount = intent.status === 'succeeded' ? intent.amount_received : intent.amount;
      lines.push(
        csvLine([
          'payment',
          intent.id,
          intent.id,
          intent.metadata.orderId ?? '',
          status,
          amount,
          intent.currency.toUpperCase(),
          isoTime(intent.created),
        ]),
      );
    }
    for (const refund of refunds.values()) {
      if (!inWindow(refund.created)) continue;
      lines.push(
        csvLine([
          'refund',
          refund.id,
          refund.payment_intent,
          refund.metadata.orderId ?? '',
          refund.status,
          refund.amount,
          refund.currency.toUpperCase(),
          isoTime(refund.created),
        ]),
      );
    }
    return `${lines.join('\n')}\n`;
  }

  function sessionsForOrder(orderId: string | undefined): CheckoutSessionObject[] {
    expireDueSessions();
    return [...sessions.values()]
      .map((record) => record.session)
      .filter((session) => orderId === undefined || orderIdOf(session) === orderId);
  }

  return {
    createSession,
    retrieveSession,
    expireSession,
    expireDueSessions,
    retrievePaymentIntent,
    createRefund,
    settleRefund,
    retrieveRefund,
    retrieveEvent,
    pay,
    payWithDelayedMethod,
    settleDelayedPayment,
    decline,
    abandon,
    hostedView,
    sessionsForOrder,
    listPaymentIntents,
    listRefunds,
    settlementReportCsv,
    stats: (): SandboxStoreStats => ({ ...stats, sessionsByOrderId: Object.fromEntries(sessionsByOrderId) }),
    reset() {
      sessions.clear();
      paymentIntents.clear();
      charges.clear();
      refunds.clear();
      events.clear();
      stats = emptyStats();
      sessionsByOrderId = new Map();
    },
    snapshot: (): SandboxStoreSnapshot => ({
      sessions: [...sessions],
      paymentIntents: [...paymentIntents],
      charges: [...charges],
      refunds: [...refunds],
      events: [...events],
      stats: { ...stats },
      sessionsByOrderId: [...sessionsByOrderId],
    }),
    restore(snapshot: SandboxStoreSnapshot) {
      const refill = <V>(target: Map<string, V>, entries: [string, V][]) => {
        target.clear();
        for (const [key, value] of entries) target.set(key, value);
      };
      refill(sessions, snapshot.sessions);
      refill(paymentIntents, snapshot.paymentIntents);
      refill(charges, snapshot.charges);
      refill(refunds, snapshot.refunds);
      refill(events, snapshot.events);
      // The hosted page is wherever this sandbox serves it now; SANDBOX_PUBLIC_URL may have changed meanwhile.
      for (const { session } of sessions.values()) {
        if (session.status === 'open') session.url = `${publicUrl}/pay/${session.id}`;
      }
      stats = { ...snapshot.stats };
      sessionsByOrderId = new Map(snapshot.sessionsByOrderId);
    },
  };
}

export interface ListObject<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  url: string;
}

/** Stripe's list semantics: newest first, `created` bounds, `limit`, and `starting_after` the last ID seen. */
function listPage<T extends { id: string; created: number }>(all: T[], params: ListParams, url: string): ListObject<T> {
  const { gte, lt } = params.created ?? {};
  const sorted = all
    .filter((item) => (gte === undefined || item.created >= gte) && (lt === undefined || item.created < lt))
    .sort((a, b) => b.created - a.created || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  let from = 0;
  if (params.starting_after !== undefined) {
    const index = sorted.findIndex((item) => item.id === params.starting_after);
    if (index < 0) throw resourceMissing('object', params.starting_after, 'starting_after');
    from = index + 1;
  }
  const data = sorted.slice(from, from + params.limit).map((item) => structuredClone(item));
  return { object: 'list', data, has_more: from + params.limit < sorted.length, url };
}

function csvLine(values: ReadonlyArray<string | number>): string {
  return values
    .map(String)
    .map((value) => (/[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value))
    .join(',');
}

function isoTime(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}

function orderIdOf(session: CheckoutSessionObject): string | undefined {
  return session.metadata.orderId ?? session.client_reference_id ?? undefined;
}

function emptyStats(): Omit<SandboxStoreStats, 'sessionsByOrderId'> {
  return {
    sessionsCreated: 0,
    sessionsExpired: 0,
    paymentsCaptured: 0,
    paymentsDeclined: 0,
    refundsCreated: 0,
    refundedAmountMinor: 0,
  };
}
