// /_sandbox: the knobs and counters tests and durability checks use. Unauthenticated on purpose: the sandbox
// holds no real money or secrets and listens on loopback unless told otherwise.
import express from 'express';
import { z } from 'zod';
import { sandboxFaultsPatchSchema, type SandboxFaults, type SandboxFaultsPatch } from './sandbox.faults';
import type { KhaltiPaymentRecord } from './khalti.store';
import { SandboxApiError, type CheckoutSessionObject, type RefundObject } from './stripe.objects';

export interface SandboxControl {
  faults(): SandboxFaults;
  setFaults(patch: SandboxFaultsPatch): SandboxFaults;
  stats(): unknown;
  sessions(orderId: string | undefined): CheckoutSessionObject[];
  /** The bank's later answer to a session paid with a delayed method; throws SandboxApiError when there is none. */
  settleDelayedPayment(sessionId: string, outcome: 'succeeded' | 'failed'): CheckoutSessionObject;
  settlementReport(fromSeconds: number, toSeconds: number): string;
  khalti: { payments(orderId: string | undefined): KhaltiPaymentRecord[] };
  /** Settles a Stripe refund held pending by the refundsPending fault. */
  settleRefund(refundId: string, status: 'succeeded' | 'failed' | 'canceled'): RefundObject;
  reset(): void;
}

const settlementReportQuerySchema = z
  .object({ from: z.iso.datetime({ offset: true }), to: z.iso.datetime({ offset: true }) })
  .refine((q) => Date.parse(q.to) > Date.parse(q.from), 'to must be after from');
const sessionsQuerySchema = z.object({ orderId: z.string().min(1).optional() });
const settleRefundSchema = z.strictObject({ status: z.enum(['succeeded', 'failed', 'canceled']) });
const asyncPaymentBodySchema = z.strictObject({ outcome: z.enum(['succeeded', 'failed']) });

export function createControlRouter(control: SandboxControl): express.Router {
  const router = express.Router();
  router.use(express.json({ limit: '10kb' }));

  router.get('/faults', (_req, res) => {
    res.json(control.faults());
  });
  router.post('/faults', (req, res) => {
    const parsed = sandboxFaultsPatchSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      res.status(400).json({
        error: 'invalid_faults',
        issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
      });
      return;
    }
    res.json(control.setFaults(parsed.data));
  });
  router.get('/stats', (_req, res) => {
    res.json(control.stats());
  });
  router.get('/sessions', (req, res) => {
    const parsed = sessionsQuerySchema.safeParse(req.query);
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid_query', message: 'orderId must be a single non-empty string' });
      return;
    }
    res.json({ object: 'list', data: control.sessions(parsed.data.orderId) });
  });
  // A delayed payment (bank debit) settles: Stripe sends checkout.session.async_payment_succeeded or _failed.
  router.post('/sessions/:sessionId/async-payment', (req, res) => {
    const parsed = asyncPaymentBodySchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid_body', message: 'outcome must be "succeeded" or "failed"' });
      return;
    }
    try {
      res.json(control.settleDelayedPayment(req.params.sessionId, parsed.data.outcome));
    } catch (error) {
      if (!(error instanceof SandboxApiError)) throw error;
      res.status(error.status).json(error.toBody());
    }
  });
  // What a merchant downloads from a gateway portal: the input of POST /admin/reconciliation/reports.
  router.get('/settlement-report', (req, res) => {
    const parsed = settlementReportQuerySchema.safeParse(req.query);
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid_query', message: 'from and to must be ISO times, to after from' });
      return;
    }
    const toSeconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);
    res.type('text/csv').send(control.settlementReport(toSeconds(parsed.data.from), toSeconds(parsed.data.to)));
  });
  router.get('/khalti/payments', (req, res) => {
    const parsed = sessionsQuerySchema.safeParse(req.query);
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid_query', message: 'orderId must be a single non-empty string' });
      return;
    }
    res.json({ object: 'list', data: control.khalti.payments(parsed.data.orderId) });
  });
  router.post('/refunds/:id/settle', (req: express.Request<{ id: string }>, res) => {
    const parsed = settleRefundSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid_settlement', message: 'status must be succeeded, failed or canceled' });
      return;
    }
    try {
      res.json(control.settleRefund(req.params.id, parsed.data.status));
    } catch (error) {
      if (!(error instanceof SandboxApiError)) throw error;
      res.status(error.status).json(error.toBody());
    }
  });
  router.post('/reset', (_req, res) => {
    control.reset();
    res.status(204).end();
  });

  router.use((error: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (error instanceof SyntaxError) {
      res.status(400).json({ error: 'invalid_json', message: 'request body is not valid JSON' });
      return;
    }
    next(error);
  });
  return router;
}
