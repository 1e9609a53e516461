// The order's side effects, one step at a time: activities, search attributes and logs. Each step asks
// OrderDecisions what the order's rules say and records the answer; the phase loop (phase-loop.ts) calls one step at a
// time, so no two activities of an order ever race each other.
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { condition, isCancellation, log, patched, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type {
  CreatePaymentIntentInput,
  OrderChanges,
  RecordOrderResult,
} from '../../activities/orders/order-activity.types';
import type { FulfilmentState, GatewayName, PaymentAttemptState } from '../../contracts/order.contract';
import type { CancelOutcome, PaymentStatus } from '../../gateways/gateway';
import type { PaymentFailure } from '../../contracts/order.contract';
import {
  ORDER_ERROR_TYPES,
  orderSearchAttributes,
  type OrderStatus,
  type OrderWorkflowInput,
  type PaymentEvent,
  type RefundRecord,
} from '../../contracts/order.contract';
import { statusesLeadingTo } from '../../domain/order-status';
import { failureType } from '../failure-type';
import {
  closing,
  db as remoteDb,
  intents as remoteIntents,
  localClosing,
  localDb,
  localIntents,
  localPolls,
  polls as remotePolls,
  refunds,
} from './order-activities';
import {
  FULFILMENT_REASONS,
  lookupNeedsAttention,
  outcomeOf,
  type Capture,
  type FulfilmentDecision,
  type GatewayOutcome,
  type AttemptRequest,
  type LookupTrigger,
  type OrderDecisions,
  type PendingRefund,
} from './order-decisions';
import { intentOf, type AttemptEnd, type IntentAtGateway } from './payment-attempts';

type RefundOutcome = 'succeeded' | 'failed' | 'pending';

export class OrderSteps {
  /** Where the order's database writes and routine polls run: as local activities in runs of the current process. */
  private readonly db: typeof remoteDb;
  private readonly polls: typeof remotePolls;
  /** Where intents are created: as local activities in runs since order-process-2027-01. */
  private readonly intents: typeof remoteIntents;
  /** The cancel the expiry's close made for an intent, for the close of the order that follows it. */
  private cancelAtExpiry?: { intentId: string; answer: () => Promise<CancelOutcome> };
  /** The order's announcement while it waits for the checkout's first attribute change (announceOrder). */
  private unsentAnnouncement: SearchAttributeUpdatePair[] = [];

  constructor(
    private readonly input: OrderWorkflowInput,
    private readonly order: OrderDecisions,
  ) {
    this.db = order.changes.currentProcess ? localDb : remoteDb;
    this.polls = order.changes.currentProcess ? localPolls : remotePolls;
    this.intents = order.changes.localGatewayCalls ? localIntents : remoteIntents;
  }

  private get state() {
    return this.order.state;
  }

  /**
   * Makes the new order findable by its attributes (Temporal visibility), before anything else happens. In runs of
   * order-process-2027-01 the checkout's steps are local activities of this same workflow task, whose commands reach
   * the server together, so the announcement rides with the checkout's first attribute change: one upsert event
   * instead of two, with the same visibility.
   */
  announceOrder(): void {
    const { input } = this;
    const announcement: SearchAttributeUpdatePair[] = [
      { key: orderSearchAttributes.orderId, value: input.orderId },
      { key: orderSearchAttributes.gateway, value: input.gateway },
      { key: orderSearchAttributes.amountMinor, value: input.amountMinor },
      { key: orderSearchAttributes.currency, value: input.currency },
      { key: orderSearchAttributes.expiresAt, value: new Date(this.order.expiresAtMs) },
      { key: orderSearchAttributes.orderStatus, value: this.state.status },
      { key: orderSearchAttributes.needsAttention, value: false },
    ];
    if (this.order.changes.localGatewayCalls) this.unsentAnnouncement = announcement;
    else upsertSearchAttributes(announcement);
  }

  /** Sets search attributes, with the announcement if it has not been sent (a later value of a key wins). */
  private upsertAttributes(pairs: SearchAttributeUpdatePair[]): void {
    const announced = this.unsentAnnouncement.filter(({ key }) => !pairs.some((pair) => pair.key.name === key.name));
    this.unsentAnnouncement = [];
    upsertSearchAttributes([...announced, ...pairs]);
  }

  /**
   * Records the order row; false when no payment may start: the database refused the row (the order ends FAILED
   * at once, with nothing to undo), or the row is past PENDING already.
   */
  async recordOrder(): Promise<boolean> {
    const { input } = this;
    let recorded: RecordOrderResult;
    try {
      recorded = await this.db.recordOrder({
        orderId: input.orderId,
        amountMinor: input.amountMinor,
        currency: input.currency,
        gateway: input.gateway,
        description: input.description,
        customer: input.customer,
        returnUrl: input.returnUrl,
        requestHash: input.requestHash,
        ...(input.gateways ? { gateways: input.gateways } : {}),
        expiresAt: this.state.expiresAt,
        ...(this.state.fulfilment ? { fulfilment: input.fulfilment } : {}),
        workflowRunId: workflowInfo().runId,
      });
    } catch (error) {
      if (isCancellation(error) || failureType(error) !== ORDER_ERROR_TYPES.invalidOrderData) throw error;
      // No row exists, so there is no transition to record: the checkout answers FAILED with the reason.
      log.warn('order could not be recorded', { orderId: input.orderId, reason: 'order_not_recordable' });
      this.state.failureReason = 'order_not_recordable';
      this.recordStatusWithoutRow('FAILED', 'order_not_recordable');
      return false;
    }
    if (recorded.status === undefined || recorded.status === 'PENDING' || recorded.recordedByThisRun) {
      if (recorded.expiresAt !== undefined) this.keepRecordedExpiry(Date.parse(recorded.expiresAt));
      return true;
    }
    // The order's row is past PENDING: an earlier workflow of this order ran (and was purged by retention). A new
    // intent could take a second payment, so the checkout answers with what the row says and nothing else runs.
    log.warn('order already recorded past PENDING; no new intent', { orderId: input.orderId, status: recorded.status });
    this.recordStatusWithoutRow(recorded.status, 'already_recorded');
    return false;
  }

  /**
   * The row was recorded by an earlier try of this run's first workflow task, whose clock was earlier: the order's
   * expiry is the recorded one, so the row, the pay link, the checkout answer and the TTL timer all agree.
   */
  private keepRecordedExpiry(recordedMs: number): void {
    if (!Number.isFinite(recordedMs) || recordedMs === this.order.expiresAtMs) return;
    this.order.capTtl(recordedMs);
    this.upsertAttributes([{ key: orderSearchAttributes.expiresAt, value: new Date(recordedMs) }]);
  }

  private recordStatusWithoutRow(status: OrderStatus, reason: string): void {
    this.order.moveTo(status, reason, new Date().toISOString());
    this.upsertAttributes([{ key: orderSearchAttributes.orderStatus, value: status }]);
  }

  async startPayment(): Promise<void> {
    const { input, order } = this;
    try {
      if (order.changes.paymentStartedInOneCall) {
        await this.startPaymentInOneCall();
        return;
      }
      const intent = await this.createIntent(input.gateway);
      this.state.intentId = intent.intentId;
      this.state.paymentUrl = intent.paymentUrl;
      const attempt = order.attempts?.begin(input.gateway, intent, new Date().toISOString());
      // The order must not outlive the intent: a payer could no longer pay, yet the order would still wait. The
      // patch is asked only when the gateway's expiry comes first, as it was when recorded.
      const gatewayExpiryMs = order.gatewayExpiryBeforeTtl(intent.expiresAt);
      const shortenTtl =
        gatewayExpiryMs !== undefined && (order.changes.currentProcess || patched('ttl-capped-by-gateway-expiry'));
      if (shortenTtl) {
        order.capTtl(gatewayExpiryMs);
        this.upsertAttributes([{ key: orderSearchAttributes.expiresAt, value: new Date(gatewayExpiryMs) }]);
      }
      await this.transition(
        'AWAITING_PAYMENT',
        'intent_created',
        {
          intentId: intent.intentId,
          paymentUrl: intent.paymentUrl,
          ...(shortenTtl ? { expiresAt: this.state.expiresAt } : {}),
        },
        attempt,
      );
    } catch (error) {
      if (isCancellation(error)) throw error;
      // Retries are exhausted or the gateway refused: no intent exists that a payer could pay.
      const reason = intentFailureReason(failureType(error));
      log.warn('payment intent could not be created', { orderId: input.orderId, reason });
      this.state.failureReason = reason;
      await this.transition('FAILED', reason, { failureReason: reason });
    } finally {
      order.checkoutSettled = true;
    }
  }

  /**
   * startPayment in runs of order-process-2027-02: the intent and the move to AWAITING_PAYMENT are one local activity
   * (one marker), which records the same transition, attempt and expiry as the steps below take in the workflow.
   */
  private async startPaymentInOneCall(): Promise<void> {
    const { input, order } = this;
    const at = new Date().toISOString();
    const intent = await this.intents.startPayment({ intent: this.intentRequest(input.gateway), at });
    this.state.intentId = intent.intentId;
    this.state.paymentUrl = intent.paymentUrl;
    order.attempts?.begin(input.gateway, intent, at);
    const gatewayExpiryMs = order.gatewayExpiryBeforeTtl(intent.expiresAt);
    if (gatewayExpiryMs !== undefined) {
      order.capTtl(gatewayExpiryMs);
      this.upsertAttributes([{ key: orderSearchAttributes.expiresAt, value: new Date(gatewayExpiryMs) }]);
    }
    order.moveTo('AWAITING_PAYMENT', 'intent_created', at);
    this.upsertAttributes([{ key: orderSearchAttributes.orderStatus, value: 'AWAITING_PAYMENT' }]);
  }

  applyEvent(event: PaymentEvent): Promise<void> {
    return this.applyOutcome(outcomeOf(event, event.intentId), `webhook:${event.kind}`);
  }

  /** Asks the gateway for the payment's status; a failed lookup is left to the next poll, the TTL or reconciliation. */
  async lookup(trigger: LookupTrigger): Promise<void> {
    try {
      for (const target of this.order.lookupStarted(Date.now())) {
        try {
          const status = await this.polls.fetchPaymentStatus(this.lookupOf(target));
          await this.applyStatus(status, `${trigger}:${status.gatewayStatus}`, target);
        } catch (error) {
          if (isCancellation(error)) throw error;
          log.warn('status poll failed', { orderId: this.input.orderId, trigger, error: failureType(error) });
        }
      }
    } finally {
      this.order.lookupInFlight = false;
    }
  }

  /** The TTL elapsed: one final status check, then the intent is cancelled and the order expires unpaid. */
  async expire(): Promise<void> {
    const intent = this.order.payableIntent();
    if (intent) {
      try {
        const finalStatus = await this.finalCheck(intent);
        if (finalStatus) {
          await this.applyStatus(finalStatus, `final_check:${finalStatus.gatewayStatus}`, intent);
          if (this.state.status !== 'AWAITING_PAYMENT') return;
        }
      } catch (error) {
        if (isCancellation(error)) throw error;
        log.warn('final status check failed; cancelling the intent anyway', { orderId: this.input.orderId });
      }
    } else if (!this.order.attempts) {
      // An order without an intent has nothing to expire at the gateway (its checkout failed).
      return;
    }
    try {
      await this.closeIntentThen('EXPIRED', 'ttl_elapsed');
    } finally {
      this.cancelAtExpiry = undefined;
    }
  }

  /**
   * The final status (undefined when the gateway could not say). In runs of order-process-2027-01 the same local
   * activity also cancels the intent unless it was paid, and the close that follows uses that answer.
   */
  private async finalCheck(intent: IntentAtGateway): Promise<PaymentStatus | undefined> {
    if (!this.order.changes.localGatewayCalls) return closing.fetchPaymentStatus(this.lookupOf(intent));
    const { intentId } = intent;
    try {
      const closed = await localClosing.closePaymentAtExpiry(this.lookupOf(intent));
      const { cancel } = closed;
      if (cancel) this.cancelAtExpiry = { intentId, answer: () => Promise.resolve(cancel) };
      return closed.finalStatus;
    } catch (error) {
      if (isCancellation(error)) throw error;
      // Neither the check nor the cancel got through in 30 minutes: the close below reports the cancel as failed.
      this.cancelAtExpiry = { intentId, answer: () => Promise.reject(error) };
      return undefined;
    }
  }

  /**
   * A payer's request from the pay link: the open attempt answers it if it is at the gateway asked for; otherwise
   * the open attempt (at another gateway) is superseded and a new intent is created as the next attempt.
   */
  async startAttempt(request: AttemptRequest): Promise<void> {
    try {
      await this.openAttempt(request.gateway);
    } finally {
      this.order.answerAttemptRequest();
    }
  }

  private async openAttempt(gateway: GatewayName): Promise<void> {
    const { attempts } = this.order;
    if (!attempts || this.state.status !== 'AWAITING_PAYMENT') return;
    const open = attempts.open();
    if (open?.gateway === gateway || attempts.exhausted()) return;
    if (open) {
      await this.supersede(open);
      if (this.state.status !== 'AWAITING_PAYMENT') return;
    }
    let intent;
    try {
      intent = await this.createIntent(gateway, attempts.count() + 1);
    } catch (error) {
      if (isCancellation(error)) throw error;
      // The payer is told no attempt is open and may ask again; nothing was recorded, so nothing is counted.
      const { orderId } = this.input;
      log.warn('payment attempt could not be started', { orderId, gateway, error: failureType(error) });
      return;
    }
    const attempt = attempts.begin(gateway, intent, new Date().toISOString());
    this.order.attemptStarted(Date.now());
    this.followAttempt(attempt);
    await this.recordAttempt(`attempt_started:${attempt.number}`, attempt, {
      gateway,
      intentId: intent.intentId,
      paymentUrl: intent.paymentUrl,
    });
  }

  /** An intent for the order at a gateway: the first attempt's when no number is given (as before attempts). */
  private createIntent(gateway: GatewayName, attemptNumber?: number) {
    return this.intents.createPaymentIntent(this.intentRequest(gateway, attemptNumber));
  }

  private intentRequest(gateway: GatewayName, attemptNumber?: number): CreatePaymentIntentInput {
    const { input } = this;
    return {
      orderId: input.orderId,
      gateway,
      amountMinor: input.amountMinor,
      currency: input.currency,
      description: input.description,
      customer: input.customer,
      returnUrl: input.returnUrl,
      expiresAt: this.state.expiresAt,
      ...(attemptNumber === undefined ? {} : { attemptNumber }),
    };
  }

  /** The open attempt gives way to another: its intent is cancelled first, unless the payer paid it meanwhile. */
  private async supersede(attempt: PaymentAttemptState): Promise<void> {
    const { attempts } = this.order;
    if (!attempts) return;
    const intent = intentOf(attempt);
    try {
      const result = await closing.cancelPaymentIntent(this.lookupOf(intent));
      if (result.outcome === 'already_captured') {
        await this.applyOutcome({ ...result, kind: 'captured', intentId: intent.intentId }, 'cancel_found_capture');
        return;
      }
    } catch (error) {
      if (isCancellation(error)) throw error;
      // It may still be paid: such a capture is refunded (a second capture), and an operator is told.
      log.error('superseded intent could not be cancelled', { orderId: this.input.orderId, intentId: intent.intentId });
      await this.flagForAttention('intent_cancel_failed');
    }
    const ended = attempts.end(attempt, 'superseded', new Date().toISOString());
    await this.recordAttempt(`attempt_superseded:${ended.number}`, ended);
  }

  /**
   * The open attempt ended unpaid. The order stays payable (Stripe's page takes another card on the same session;
   * a wallet payer starts a new attempt from the pay link), unless it has used every attempt: then it fails.
   */
  private async endAttempt(attempt: PaymentAttemptState, end: AttemptEnd, failure?: PaymentFailure): Promise<void> {
    const { attempts } = this.order;
    if (!attempts) return;
    const ended = attempts.end(attempt, end, new Date().toISOString(), failure);
    await this.recordAttempt(`attempt_${end}:${ended.number}`, ended);
    if (attempts.exhausted()) {
      this.state.failureReason = 'too_many_attempts';
      await this.closeIntentThen('FAILED', 'too_many_attempts', { failureReason: 'too_many_attempts' });
      return;
    }
    if (end === 'declined' && attempts.reopensAfterDecline(ended, failure)) {
      const next = attempts.begin(ended.gateway, ended, new Date().toISOString());
      this.order.attemptStarted(Date.now());
      await this.recordAttempt(`attempt_started:${next.number}`, next);
    }
  }

  /** The order's current intent and gateway follow an attempt: the one started, or the one that took the money. */
  private followAttempt(attempt: PaymentAttemptState): void {
    this.state.gateway = attempt.gateway;
    this.state.intentId = attempt.intentId;
    this.state.paymentUrl = attempt.paymentUrl;
  }

  /** The order row's columns that follow the attempt (payment attempts only: older runs never change them). */
  private attemptColumns(): OrderChanges {
    if (!this.order.attempts || !this.state.intentId) return {};
    return { gateway: this.state.gateway, intentId: this.state.intentId };
  }

  /** A change of an attempt alone: the order keeps its status; the timeline and the attempt row record it. */
  private recordAttempt(reason: string, attempt: PaymentAttemptState, changes?: OrderChanges): Promise<void> {
    return this.recordInPlace(reason, new Date().toISOString(), changes, attempt);
  }

  /** A change that keeps the order's status (an attempt, a fulfilment answer): its timeline and its row record it. */
  private async recordInPlace(
    reason: string,
    at: string,
    changes?: OrderChanges,
    attempt?: PaymentAttemptState,
  ): Promise<void> {
    const { status } = this.state;
    const recorded = await this.db.transitionOrder({
      orderId: this.input.orderId,
      from: [status],
      to: status,
      reason,
      at,
      changes,
      ...(attempt ? { attempt } : {}),
    });
    this.order.moveTo(status, reason, at);
    // The row is ahead of this run (moved by a discarded try of one of its workflow tasks): ask the gateway now.
    if (recorded.status !== status) this.order.lookUpBecauseRowMovedOn();
  }

  /** Before payment a cancel closes the intent; a payment that won the race is refunded. */
  async cancelBeforePayment(reason: string): Promise<void> {
    await this.closeIntentThen('CANCELLED', `cancel_requested:${reason}`);
    await this.cancelAfterClose(reason);
  }

  /** After the order closed, a cancel refunds what is left of a payment, and nothing otherwise. */
  async cancelAfterClose(reason: string): Promise<void> {
    const amountMinor = this.order.refundOnCancelMinor();
    if (amountMinor > 0) await this.refundCaptured(amountMinor, reason);
    this.order.cancelHandled = true;
  }

  /** A refund request from the queue: refunded if the ledger still has room for it, refused otherwise. */
  async refundRequested(refund: PendingRefund): Promise<void> {
    if (this.order.queuedRefundNoLongerFits(refund)) {
      log.warn('queued refund no longer fits the ledger; refused', {
        orderId: this.input.orderId,
        requestId: refund.request.requestId,
      });
      this.order.settleRefundRequest(refund, 'refused');
      return;
    }
    await this.refundCaptured(refund.amountMinor, refund.request.reason, refund.request.requestId);
    this.order.settleRefundRequest(refund, 'settled');
  }

  /**
   * The merchant's fulfilment answer, or the timeout, recorded on the order (the transition's reason tells the
   * merchant's systems); a failure or timeout is compensated by refunding what is left of the payment.
   */
  async settleFulfilment(decision: FulfilmentDecision): Promise<void> {
    const at = new Date().toISOString();
    const fulfilment = this.order.settledFulfilment(decision, at);
    if (fulfilment) await this.recordInPlace(FULFILMENT_REASONS[decision.status], at, fulfilmentChanges(fulfilment));
    // Recorded (or no longer awaited): the answer's handler replies now, before a refund that may wait for a person.
    this.order.recordFulfilment(fulfilment);
    if (fulfilment && decision.status !== 'fulfilled') {
      await this.refundCaptured(this.order.refundOnCancelMinor(), FULFILMENT_REASONS[decision.status]);
    }
  }

  /** Every lookup names the order's amount: eSewa's status API is keyed by it. */
  private lookupOf({ intentId, gateway }: IntentAtGateway) {
    const { orderId, amountMinor, currency } = this.input;
    return { orderId, gateway, intentId, amountMinor, currency };
  }

  /**
   * Cancels the intent at the gateway; the order closes unpaid, unless the payer paid first. An open attempt ends
   * with the order.
   */
  private async closeIntentThen(
    status: 'EXPIRED' | 'CANCELLED' | 'FAILED',
    reason: string,
    changes?: OrderChanges,
  ): Promise<void> {
    const intent = this.order.payableIntent();
    if (intent) {
      try {
        const result = await this.cancelIntent(intent);
        if (result.outcome === 'already_captured') {
          await this.applyOutcome({ kind: 'captured', ...result, intentId: intent.intentId }, 'cancel_found_capture');
          return;
        }
        // Asked only when the gateway says it closed the intent for good, which no earlier history recorded; part of
        // order-process-2027-01.
        const closedForGood = result.closedAtGateway === true;
        if (closedForGood && (this.order.changes.localGatewayCalls || patched('grace-skips-closed-intent'))) {
          this.order.intentClosedByGateway(intent.intentId);
        }
      } catch (error) {
        if (isCancellation(error)) throw error;
        // The intent may still be payable; a late capture is refunded, and an operator is told.
        log.error('intent could not be cancelled at the gateway', {
          orderId: this.input.orderId,
          intentId: intent.intentId,
        });
        await this.flagForAttention('intent_cancel_failed');
      }
    }
    const open = this.order.attempts?.open();
    const ended = open && this.order.attempts?.end(open, 'expired', new Date().toISOString());
    await this.transition(status, reason, changes, ended);
  }

  /** The intent's cancel: the answer the expiry's close already got for it, or the gateway's now. */
  private cancelIntent(intent: IntentAtGateway): Promise<CancelOutcome> {
    const made = this.cancelAtExpiry;
    if (made?.intentId === intent.intentId) {
      this.cancelAtExpiry = undefined;
      return made.answer();
    }
    return closing.cancelPaymentIntent(this.lookupOf(intent));
  }

  /** A status lookup's answer: an operator is told first when the gateway asks for it. */
  private async applyStatus(status: PaymentStatus, source: string, intent: IntentAtGateway): Promise<void> {
    if (lookupNeedsAttention(status)) await this.flagForAttention(`gateway_status:${status.gatewayStatus}`);
    await this.applyOutcome(outcomeOf(status, this.order.attempts ? intent.intentId : undefined), source);
  }

  private async applyOutcome(outcome: GatewayOutcome, source: string): Promise<void> {
    const action = this.order.outcomeAction(outcome);
    switch (action.kind) {
      case 'pay':
        return this.pay(action.capture, source);
      case 'fail_wrong_amount':
        await this.flagForAttention('capture_amount_mismatch');
        this.state.failureReason = 'capture_amount_mismatch';
        await this.transition('FAILED', `capture_amount_mismatch:${source}`, {
          failureReason: 'capture_amount_mismatch',
        });
        // The order is closed unpaid now: the capture is a late one, refunded in full.
        return this.applyOutcome(outcome, source);
      case 'refund_late_capture': {
        this.order.holdCapture(action.capture);
        const attempt = this.order.attemptOfCapture(action.capture);
        if (attempt) this.followAttempt(attempt);
        return this.refundCaptured(action.capture.amountMinor, this.order.lateCaptureReason());
      }
      case 'refund_second_capture':
        return this.refundSecondCapture(action.capture, source);
      case 'end_attempt':
        return this.endAttempt(action.attempt, action.end, action.failure);
      case 'decline':
        // A decline closes the order: the intent is cancelled so the payer cannot pay a failed order.
        this.state.failureReason = 'payment_declined';
        return this.closeIntentThen('FAILED', `payment_declined:${source}`);
      case 'close_expired_at_gateway':
        return this.transition('EXPIRED', `intent_closed_at_gateway:${source}`);
      case 'flag':
        return this.flagForAttention(action.reason);
      case 'nothing':
        return;
    }
  }

  /**
   * The order is paid by the capture. With payment attempts, the attempt that took the money is marked paid, the
   * order follows its gateway and intent (refunds go there), and an attempt still open elsewhere is superseded.
   */
  private async pay(capture: Capture, source: string): Promise<void> {
    this.order.holdCapture(capture);
    const { attempts } = this.order;
    const stillOpen = attempts?.open();
    const payingAttempt = this.order.attemptOfCapture(capture);
    const paid = payingAttempt && attempts?.paid(payingAttempt, new Date().toISOString());
    if (paid) this.followAttempt(paid);
    await this.transition(
      'PAID',
      `payment_captured:${source}`,
      {
        capturedAmountMinor: capture.amountMinor,
        paymentReference: capture.paymentReference,
        paidAt: new Date().toISOString(),
        ...fulfilmentChanges(this.order.awaitFulfilment(Date.now())),
        ...this.attemptColumns(),
      },
      paid,
    );
    if (stillOpen && stillOpen !== payingAttempt) await this.supersede(stillOpen);
  }

  /**
   * Refunds a second capture in full, once per payment reference, as a late capture is. It is recorded on the
   * order as a refund with reason duplicate_capture, but the order's own amounts and status stay as they are.
   */
  private async refundSecondCapture(capture: Capture, source: string): Promise<void> {
    log.error('a second capture for the order; refunding it', { orderId: this.input.orderId, source });
    await this.flagForAttention('duplicate_capture');
    if (!this.state.intentId || capture.amountMinor <= 0) return;
    const record = this.order.openRefund(capture.amountMinor, 'duplicate_capture', undefined, capture.paymentReference);
    const attempt = this.order.attempts && this.order.attemptOfCapture(capture);
    const outcome = await this.refundAtGateway(record, {
      paymentReference: capture.paymentReference,
      capturedAmountMinor: capture.amountMinor,
      ...(attempt ? { intent: intentOf(attempt) } : {}),
    });
    if (outcome === 'succeeded' && record.manualReference !== undefined) {
      this.order.settledManualRefunds.add(record.refundId);
    }
  }

  /** Refunds `amountMinor` of the captured money with a deterministic refund ID, then records the new status. */
  private async refundCaptured(amountMinor: number, reason: string, requestId?: string): Promise<void> {
    if (amountMinor <= 0 || !this.state.intentId) return;
    const record = this.order.openRefund(amountMinor, reason, requestId);
    const outcome = await this.refundAtGateway(record, {
      paymentReference: this.state.paymentReference ?? undefined,
      capturedAmountMinor: this.state.capturedAmountMinor,
    });
    if (outcome !== 'succeeded') return;
    const status = this.order.countRefund(amountMinor);
    await this.transition(status, `refund_succeeded:${reason}`, {
      refundedAmountMinor: this.state.refundedAmountMinor,
      capturedAmountMinor: this.state.capturedAmountMinor,
      paymentReference: this.state.paymentReference ?? undefined,
      ...fulfilmentChanges(this.order.fulfilmentEndedByRefund(status)),
      ...this.attemptColumns(),
    });
    if (record.manualReference !== undefined) this.order.settledManualRefunds.add(record.refundId);
  }

  /**
   * Sends one recorded refund to the gateway and settles its record: succeeded (also once an operator confirmed a
   * manual refund), failed (flagged), or pending past the activity's limit (flagged, not counted as refunded).
   */
  private async refundAtGateway(
    record: RefundRecord,
    against: { paymentReference?: string; capturedAmountMinor: number; intent?: IntentAtGateway },
  ): Promise<RefundOutcome> {
    const { orderId } = this.input;
    const { refundId, amountMinor, reason } = record;
    const index = this.state.refunds.indexOf(record);
    let outcome: RefundOutcome | 'awaiting_manual';
    if (this.order.refundExceedsLedger(record)) {
      // Another refund settled or went in flight since this one was decided: sending it would refund too much.
      log.error('refund exceeds what is left to refund; not sent', { orderId, refundId });
      outcome = 'failed';
    } else {
      try {
        const result = await refunds.refundPayment({
          orderId,
          gateway: against.intent?.gateway ?? this.state.gateway,
          intentId: against.intent?.intentId ?? this.state.intentId ?? '',
          paymentReference: against.paymentReference,
          capturedAmountMinor: against.capturedAmountMinor,
          requestId: record.requestId,
          refundId,
          amountMinor,
          currency: this.input.currency,
          reason,
        });
        outcome = result.state;
      } catch (error) {
        if (isCancellation(error)) throw error;
        // Includes RefundExceedsCaptured: the database's ledger refused it, which is a failed refund as well.
        outcome = 'failed';
      }
    }
    if (outcome === 'awaiting_manual') {
      // No refund API (eSewa): an operator refunds by hand. Nothing counts as refunded until they confirm, and the
      // workflow cannot close meanwhile, because this wait has no timeout.
      this.state.refunds[index] = { ...record, state: 'awaiting_manual' };
      await this.flagForAttention('manual_refund_required');
      await condition(() => this.order.manualConfirmations.has(refundId));
      const confirmation = this.order.manualConfirmations.get(refundId);
      if (confirmation) {
        await this.db.recordManualRefund({ ...confirmation, orderId, at: new Date().toISOString() });
        record.manualReference = confirmation.reference;
      }
      outcome = 'succeeded';
    }
    this.state.refunds[index] = { ...record, state: outcome };
    if (outcome === 'failed') {
      log.error('refund failed', { orderId, refundId });
      await this.flagForAttention('refund_failed');
    } else if (outcome === 'pending') {
      // Still pending at the gateway past the activity's limit: it may yet settle, so it stays in flight in the
      // ledger and is not counted as refunded; reconciliation and an operator follow it up.
      log.error('refund still pending at the gateway', { orderId, refundId });
      await this.flagForAttention('refund_pending_too_long');
    }
    return outcome;
  }

  private async flagForAttention(reason: string): Promise<void> {
    const at = new Date().toISOString();
    if (!this.order.flag(reason, at)) return;
    await this.db.transitionOrder({
      orderId: this.input.orderId,
      from: [this.state.status],
      to: this.state.status,
      reason: `needs_attention:${reason}`,
      at: new Date().toISOString(),
      changes: { needsAttention: true },
    });
    this.upsertAttributes([{ key: orderSearchAttributes.needsAttention, value: true }]);
  }

  private async transition(
    to: OrderStatus,
    reason: string,
    changes?: OrderChanges,
    attempt?: PaymentAttemptState,
  ): Promise<void> {
    const at = new Date().toISOString();
    await this.db.transitionOrder({
      orderId: this.input.orderId,
      from: statusesLeadingTo(to),
      to,
      reason,
      at,
      changes,
      ...(attempt ? { attempt } : {}),
    });
    this.order.moveTo(to, reason, at);
    this.upsertAttributes([{ key: orderSearchAttributes.orderStatus, value: to }]);
  }
}

/** The columns of a fulfilment change; nothing for orders that did not ask for confirmation. */
function fulfilmentChanges(fulfilment: FulfilmentState | undefined): OrderChanges {
  if (!fulfilment) return {};
  return {
    fulfilmentStatus: fulfilment.status,
    fulfilmentDueAt: fulfilment.dueAt ?? undefined,
    fulfilmentReason: fulfilment.reason ?? undefined,
    fulfilmentAnsweredAt: fulfilment.answeredAt ?? undefined,
  };
}

/** Why no intent exists: the gateway refused it, it refused the order's data, or it could not be reached. */
function intentFailureReason(type: string | undefined): string {
  if (type === ORDER_ERROR_TYPES.gatewayRejected) return 'intent_rejected';
  if (type === ORDER_ERROR_TYPES.invalidOrderData) return 'invalid_order_data';
  return 'intent_unavailable';
}
