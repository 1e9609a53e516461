// SQL of reconciliation runs. Matching is set-based: one statement compares a whole report with the orders and
// refunds tables, so a window of a million payments is a few hash joins, not a million queries. What it finds goes
// to reconciliation_findings for the run, and from there into reconciliation_items, keyed by (gateway, subject),
// so a discrepancy found again by a later run is reported as already reconciled and never repaired twice.
import type {
  DiscrepancyKind,
  ForeignPaymentAction,
  LateSuccessAction,
  ReconciliationAction,
  UnknownPaymentAction,
} from '../../contracts/reconciliation.contract';
import type { GatewayName, OrderStatus } from '../../contracts/order.contract';
import { insertStatusHistory } from '../orders/orders.repo';
import { inTransaction, type Pool, type PoolClient } from '../pool';
import { useBulkSettings } from './settlement-reports.repo';

export interface NewRun {
  runId: string;
  workflowId: string;
  gateway: string;
  windowStart: string;
  windowEnd: string;
}

export async function insertRunIfAbsent(pool: Pool, run: NewRun): Promise<void> {
  await pool.query(
    `INSERT INTO reconciliation_runs (run_id, workflow_id, gateway, window_start, window_end)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id) DO NOTHING`,
    [run.runId, run.workflowId, run.gateway, run.windowStart, run.windowEnd],
  );
}

export async function setRunReport(pool: Pool, runId: string, reportId: string, rows: number): Promise<void> {
  await pool.query('UPDATE reconciliation_runs SET report_id = $2, settlement_rows = $3 WHERE run_id = $1', [
    runId,
    reportId,
    rows,
  ]);
}

export interface ClassifyParams {
  runId: string;
  reportId: string;
  gateway: string;
  windowStart: string;
  windowEnd: string;
  lateSuccess: LateSuccessAction;
  unknownPayment: UnknownPaymentAction;
  foreignPayment: ForeignPaymentAction;
  /**
   * Closed unpaid orders created this long before the window's end are looked up too: a wallet link or form can
   * still be paid after the order closed, and that payment may fall in a window long after the order's creation.
   */
  unpaidLookbackMs: number;
  /**
   * Our refunds are written just before the gateway is asked: a refund written this close to the window's end is
   * checked by the next window (which starts this much earlier), not flagged now.
   */
  edgeToleranceMs: number;
}

/**
 * Compares the report with our records in one transaction (so a retry starts from scratch): captured gateway
 * payments against orders, refunds in either ledger, and which of our orders need a status lookup.
 */
export async function classifySettlement(pool: Pool, p: ClassifyParams): Promise<{ matched: number; lookups: number }> {
  return inTransaction(pool, async (client) => {
    await useBulkSettings(client);
    await client.query('DELETE FROM reconciliation_findings WHERE run_id = $1', [p.runId]);
    // Captured gateway payments, each resolved to an order by our order ID or, when the row carries none, the payment
    // reference, and classified. Two halves, not one join with both: that hashes every order twice and probes the second hash with
    // every row, where only the few rows without an order ID need the payment reference index.
    await client.query(
      `CREATE TEMP TABLE recon_payments ON COMMIT DROP AS
       SELECT p.*, CASE
                -- Only a payment that carries an order ID was created by orderpay; anything else on the account
                -- (another system's, a dashboard charge) is somebody else's.
                WHEN order_id IS NULL AND r_order_id IS NULL THEN 'foreign_payment'
                WHEN order_id IS NULL THEN 'unknown_payment'
                WHEN o_status IN ('FAILED', 'EXPIRED', 'CANCELLED') THEN 'late_success'
                -- The order was paid by another payment: this one is a second capture.
                WHEN o_status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED') AND o_reference IS NOT NULL
                     AND payment_id <> o_reference THEN 'duplicate_capture'
                WHEN o_status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')
                     AND (amount_minor <> o_amount OR currency <> o_currency) THEN 'amount_mismatch'
                WHEN o_status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED') THEN 'matched'
                ELSE 'in_flight' END AS kind
         FROM (
       SELECT r.payment_id, r.amount_minor, r.currency, o.order_id, o.status AS o_status, o.amount_minor AS o_amount,
              o.currency::text AS o_currency, o.payment_reference AS o_reference, r.order_id AS r_order_id
         FROM reconciliation_report_rows r
         -- The order is this gateway's when it is at the gateway now or had a payment attempt there (a payer who
         -- switched wallets): a payment on that earlier attempt is money the order holds or must refund.
         LEFT JOIN orders o ON o.order_id = r.order_id
               AND (o.gateway = $2
                    OR EXISTS (SELECT 1 FROM payment_attempts a WHERE a.order_id = o.order_id AND a.gateway = $2))
        WHERE r.report_id = $1 AND r.error_code IS NULL AND r.kind = 'payment' AND r.status = 'succeeded'
          AND r.order_id IS NOT NULL
       UNION ALL
       SELECT r.payment_id, r.amount_minor, r.currency, o.order_id, o.status, o.amount_minor, o.currency::text,
              o.payment_reference, r.order_id
         FROM reconciliation_report_rows r
         -- By the order's payment reference, or by the intent of any of its attempts at this gateway (every
         -- attempt's, not only the order's current one: a payment on a superseded attempt is still the order's).
         LEFT JOIN LATERAL (
                SELECT o1.* FROM orders o1 WHERE o1.gateway = $2 AND o1.payment_reference = r.payment_id
                UNION ALL
                SELECT o2.* FROM payment_attempts a JOIN orders o2 ON o2.order_id = a.order_id
                 WHERE a.gateway = $2 AND a.intent_id = r.payment_id
                LIMIT 1) o ON true
        WHERE r.report_id = $1 AND r.error_code IS NULL AND r.kind = 'payment' AND r.status = 'succeeded'
          AND r.order_id IS NULL) p`,
      [p.reportId, p.gateway],
    );
    // Without statistics the planner takes a fresh temp table for a few rows and nests loops over a million.
    await client.query('ANALYZE recon_payments');
    const matched = await client.query<{ matched: number }>(
      `WITH known AS (
         -- A matching payment whose discrepancy an earlier run repaired (a refunded late payment): already reconciled.
         SELECT c.* FROM recon_payments c
          WHERE c.kind = 'matched'
            AND EXISTS (SELECT 1 FROM reconciliation_items i WHERE i.gateway = $2 AND i.subject = 'payment:' || c.payment_id)
       ), inserted AS (
         INSERT INTO reconciliation_findings (run_id, step, subject, kind, order_id, payment_reference, our_status,
                                              our_amount_minor, our_currency, gateway_status, gateway_amount_minor,
                                              gateway_currency)
         SELECT $1, 'settlement', 'payment:' || payment_id, kind, order_id, payment_id, o_status, o_amount, o_currency,
                'succeeded', amount_minor, currency
           FROM recon_payments WHERE kind NOT IN ('matched', 'in_flight')
         UNION ALL
         SELECT $1, 'settlement', 'payment:' || payment_id, kind, order_id, payment_id, o_status, o_amount, o_currency,
                'succeeded', amount_minor, currency
           FROM known
         ON CONFLICT (run_id, subject) DO NOTHING
       )
       SELECT (SELECT count(*) FROM recon_payments WHERE kind = 'matched') - (SELECT count(*) FROM known) AS matched`,
      [p.runId, p.gateway],
    );
    // Refunds at the gateway that orderpay did not make (neither an order refund nor one of reconciliation's own). Ours
    // are known by the gateway's refund ID, by our own refund ID (a wallet that echoes the merchant's reference), or
    // by the reference an operator confirmed a manual refund with (eSewa). Three anti-joins, not one with an OR, so
    // each is a hash anti-join.
    await client.query(
      `INSERT INTO reconciliation_findings (run_id, step, subject, kind, order_id, payment_reference, our_status,
                                            gateway_status, gateway_amount_minor, gateway_currency)
       SELECT $1, 'settlement', 'refund:' || r.transaction_id, 'refund_missing_here',
              COALESCE(o1.order_id, o2.order_id), r.payment_id, COALESCE(o1.status, o2.status),
              'refund_succeeded', r.amount_minor, r.currency
         FROM reconciliation_report_rows r
         LEFT JOIN orders o1 ON o1.order_id = r.order_id
               AND (o1.gateway = $3
                    OR EXISTS (SELECT 1 FROM payment_attempts a WHERE a.order_id = o1.order_id AND a.gateway = $3))
         LEFT JOIN orders o2 ON o1.order_id IS NULL AND o2.gateway = $3 AND o2.payment_reference = r.payment_id
        WHERE r.report_id = $2 AND r.error_code IS NULL AND r.kind = 'refund' AND r.status = 'succeeded'
          AND NOT EXISTS (SELECT 1 FROM refunds f WHERE f.gateway_refund_id = r.transaction_id)
          AND NOT EXISTS (SELECT 1 FROM refunds f WHERE f.refund_id = r.transaction_id)
          AND NOT EXISTS (SELECT 1 FROM refunds f WHERE f.manual_reference = r.transaction_id)
          AND NOT EXISTS (SELECT 1 FROM reconciliation_items i WHERE i.gateway_refund_id = r.transaction_id)
       ON CONFLICT (run_id, subject) DO NOTHING`,
      [p.runId, p.reportId, p.gateway],
    );
    // Refunds orderpay recorded as succeeded that the gateway's data does not show. The refunds row is written just
    // before the gateway creates the refund, so its gateway time can fall in the next window: the range is shifted
    // back by the tolerance (consecutive windows still cover every refund), and a refund matches a refund row of any
    // stored report of the gateway, whichever window's data holds it.
    await client.query(
      `INSERT INTO reconciliation_findings (run_id, step, subject, kind, order_id, payment_reference, our_status,
                                            our_amount_minor, our_currency, gateway_status)
       SELECT $1, 'settlement', 'our_refund:' || f.refund_id, 'refund_missing_there', f.order_id, o.payment_reference,
              'refund_succeeded', f.amount_minor, f.currency::text, 'no_record'
         FROM refunds f JOIN orders o ON o.order_id = f.order_id AND o.gateway = $2
        WHERE f.state = 'succeeded'
          AND f.created_at >= $3::timestamptz - $5::double precision * interval '1 millisecond'
          AND f.created_at < $4::timestamptz - $5::double precision * interval '1 millisecond'
          AND NOT EXISTS (SELECT 1 FROM reconciliation_report_rows r JOIN reconciliation_reports rep USING (report_id)
                           WHERE rep.gateway = $2 AND r.error_code IS NULL AND r.kind = 'refund'
                             AND r.transaction_id = f.gateway_refund_id)
          AND NOT EXISTS (SELECT 1 FROM reconciliation_report_rows r JOIN reconciliation_reports rep USING (report_id)
                           WHERE rep.gateway = $2 AND r.error_code IS NULL AND r.kind = 'refund'
                             AND r.transaction_id = f.refund_id)
          AND NOT EXISTS (SELECT 1 FROM reconciliation_report_rows r JOIN reconciliation_reports rep USING (report_id)
                           WHERE rep.gateway = $2 AND r.error_code IS NULL AND r.kind = 'refund'
                             AND r.transaction_id = f.manual_reference)
       ON CONFLICT (run_id, subject) DO NOTHING`,
      [p.runId, p.gateway, p.windowStart, p.windowEnd, p.edgeToleranceMs],
    );
    // An earlier run's refund discrepancy that the gateway's data now explains (the refund showed up in a later
    // window, or an operator uploaded the missing report): resolved, so it no longer counts as open.
    await client.query(
      `UPDATE reconciliation_items i
          SET state = 'done', outcome = 'resolved_by_later_run', updated_at = now()
        WHERE i.gateway = $1 AND i.kind = 'refund_missing_there' AND i.state IN ('pending', 'flagged')
          AND EXISTS (SELECT 1 FROM refunds f
                        JOIN reconciliation_report_rows r
                          ON r.kind = 'refund' AND r.error_code IS NULL
                         AND r.transaction_id IN (f.gateway_refund_id, f.refund_id, f.manual_reference)
                        JOIN reconciliation_reports rep ON rep.report_id = r.report_id AND rep.gateway = $1
                       WHERE i.subject = 'our_refund:' || f.refund_id)`,
      [p.gateway],
    );
    await client.query(
      `UPDATE reconciliation_items i
          SET state = 'done', outcome = 'resolved_by_later_run', updated_at = now()
        WHERE i.gateway = $1 AND i.kind = 'refund_missing_here' AND i.state IN ('pending', 'flagged')
          AND EXISTS (SELECT 1 FROM refunds f
                       WHERE 'refund:' || f.gateway_refund_id = i.subject OR 'refund:' || f.refund_id = i.subject
                          OR 'refund:' || f.manual_reference = i.subject)`,
      [p.gateway],
    );
    // Our orders that need the gateway's own word: not final yet, closed unpaid but flagged, or PAID without a
    // captured payment in the report (a paid order with one was decided above). Orders are chosen by when they were
    // created or last changed in the window, and, whenever they were last changed, closed unpaid orders created
    // within the lookback: a Khalti link stays payable after orderpay's TTL and an eSewa form has no expiry, so a
    // payment after the order's workflow closed is found by asking, not only when a report carries it.
    const lookups = await client.query(
      `WITH candidates AS (
         -- The statuses are filtered in each branch, so the union only de-duplicates the few unfinished orders.
         SELECT o.order_id FROM orders o
          WHERE o.gateway = $2 AND o.created_at >= $3 AND o.created_at < $4
            AND o.status IN ('PENDING', 'AWAITING_PAYMENT', 'FAILED', 'EXPIRED', 'CANCELLED')
         UNION
         SELECT o.order_id FROM orders o
          WHERE o.gateway = $2 AND o.updated_at >= $3 AND o.updated_at < $4
            AND o.status IN ('PENDING', 'AWAITING_PAYMENT', 'FAILED', 'EXPIRED', 'CANCELLED')
         UNION
         SELECT o.order_id FROM orders o
          WHERE o.gateway = $2 AND o.created_at >= $4::timestamptz - $5::double precision * interval '1 millisecond'
            AND o.created_at < $4 AND o.status IN ('FAILED', 'EXPIRED', 'CANCELLED') AND o.captured_amount_minor = 0
            -- One whose late payment was already found is not asked again.
            AND NOT EXISTS (SELECT 1 FROM reconciliation_items i
                             WHERE i.order_id = o.order_id AND i.kind = 'late_success')
       ), candidates_paid AS (
         -- The few candidates that have a payment in the report: a semi-join hashes the candidates and scans the
         -- payments once, instead of de-duplicating a million payments' order IDs to probe a few thousand orders.
         SELECT DISTINCT p.order_id FROM recon_payments p
          WHERE EXISTS (SELECT 1 FROM candidates c WHERE c.order_id = p.order_id)
       )
       INSERT INTO reconciliation_findings (run_id, step, subject, kind, order_id, our_status, our_amount_minor,
                                            our_currency)
       SELECT $1, 'settlement', 'lookup:' || o.order_id, 'needs_lookup', o.order_id, o.status, o.amount_minor,
              o.currency::text
         FROM candidates c JOIN orders o ON o.order_id = c.order_id
         -- A join, not NOT EXISTS inside the OR below (a subplan per order over an unindexed temp table).
         LEFT JOIN candidates_paid rp ON rp.order_id = o.order_id
        WHERE o.intent_id IS NOT NULL
          AND (o.status IN ('PENDING', 'AWAITING_PAYMENT')
               OR (o.status IN ('FAILED', 'EXPIRED', 'CANCELLED') AND o.needs_attention)
               -- Closed unpaid without a payment in the report: one may have come after the order closed.
               OR (o.status IN ('FAILED', 'EXPIRED', 'CANCELLED') AND o.captured_amount_minor = 0
                   AND rp.order_id IS NULL))
       -- The paid ones apart (the statuses do not overlap): NOT EXISTS on its own is a hash anti-join, where inside
       -- the OR above it would be a subplan per order, quadratic at volume once it no longer fits in work_mem.
       UNION ALL
       SELECT $1, 'settlement', 'lookup:' || o.order_id, 'needs_lookup', o.order_id, o.status, o.amount_minor,
              o.currency::text
         FROM orders o
        WHERE o.gateway = $2 AND o.created_at >= $3 AND o.created_at < $4 AND o.intent_id IS NOT NULL
          AND o.status IN ('PAID', 'PARTIALLY_REFUNDED')
          AND NOT EXISTS (SELECT 1 FROM recon_payments p WHERE p.order_id = o.order_id)
       ON CONFLICT (run_id, subject) DO NOTHING`,
      [p.runId, p.gateway, p.windowStart, p.windowEnd, p.unpaidLookbackMs],
    );
    const matchedCount = Number(matched.rows[0]?.matched ?? 0);
    await client.query('UPDATE reconciliation_runs SET settlement_matched = $2 WHERE run_id = $1', [
      p.runId,
      matchedCount,
    ]);
    await promoteFindings(client, p);
    return { matched: matchedCount, lookups: lookups.rowCount ?? 0 };
  });
}

/**
 * Findings become items (once per gateway and subject) and the run's record of what it saw. An order workflow that
 * was told about a late payment but closed before refunding it is handed back to this run (state pending again);
 * one that did refund it closes the item.
 */
async function promoteFindings(
  client: PoolClient,
  p: Pick<ClassifyParams, 'runId' | 'gateway' | 'lateSuccess' | 'unknownPayment' | 'foreignPayment'>,
): Promise<void> {
  await client.query(
    `INSERT INTO reconciliation_items (gateway, subject, kind, order_id, payment_reference, our_status, our_amount_minor,
                                       our_currency, gateway_status, gateway_amount_minor, gateway_currency, action,
                                       first_run_id)
     SELECT $2, subject, kind, order_id, payment_reference, our_status, our_amount_minor, our_currency, gateway_status,
            gateway_amount_minor, gateway_currency,
            CASE kind WHEN 'late_success' THEN $3 WHEN 'unknown_payment' THEN $4 WHEN 'foreign_payment' THEN $5
                      WHEN 'duplicate_capture' THEN 'refund'
                      WHEN 'unapplied_capture' THEN 'signal_workflow' ELSE 'flag' END,
            run_id
       FROM reconciliation_findings
      WHERE run_id = $1 AND kind NOT IN ('matched', 'needs_lookup', 'looked_up')
     ON CONFLICT (gateway, subject) DO NOTHING`,
    [p.runId, p.gateway, p.lateSuccess, p.unknownPayment, p.foreignPayment],
  );
  await client.query(
    `INSERT INTO reconciliation_run_items (run_id, item_id, seen)
     SELECT $1, i.item_id, CASE WHEN i.first_run_id = $1 THEN 'new' ELSE 'already_reconciled' END
       FROM reconciliation_findings f JOIN reconciliation_items i ON i.gateway = $2 AND i.subject = f.subject
      WHERE f.run_id = $1 AND f.kind NOT IN ('needs_lookup', 'looked_up')
     ON CONFLICT (run_id, item_id) DO NOTHING`,
    [p.runId, p.gateway],
  );
  await client.query(
    `UPDATE reconciliation_items i
        SET state = CASE WHEN f.kind = 'late_success' THEN 'pending' ELSE 'done' END,
            outcome = CASE WHEN f.kind = 'late_success' THEN 'order_workflow_closed_without_refund'
                           ELSE 'refunded_by_order_workflow' END,
            updated_at = now()
       FROM reconciliation_findings f
      WHERE f.run_id = $1 AND i.gateway = $2 AND i.subject = f.subject
        AND i.state = 'in_progress' AND i.outcome = 'signalled_order_workflow'
        AND (f.kind = 'matched' OR (f.kind = 'late_success' AND i.first_run_id <> $1))`,
    [p.runId, p.gateway],
  );
}

export interface LookupCandidate {
  orderId: string;
  status: OrderStatus;
  amountMinor: number;
  currency: string;
  intentId: string;
  paymentReference: string | null;
  capturedAmountMinor: number;
  /** Already asked by an earlier attempt of this batch (its finding is recorded). */
  lookedUp: boolean;
}

/** The next batch of orders to look up, by order ID after `afterOrderId`. */
export async function nextLookupBatch(
  pool: Pool,
  runId: string,
  afterOrderId: string,
  limit: number,
): Promise<LookupCandidate[]> {
  const result = await pool.query<{
    order_id: string;
    status: OrderStatus;
    amount_minor: number;
    currency: string;
    intent_id: string;
    payment_reference: string | null;
    captured_amount_minor: number;
    looked_up: boolean;
  }>(
    `SELECT o.order_id, o.status, o.amount_minor, o.currency, o.intent_id, o.payment_reference,
            o.captured_amount_minor, f.kind = 'looked_up' AS looked_up
       FROM reconciliation_findings f JOIN orders o ON o.order_id = f.order_id
      WHERE f.run_id = $1 AND f.kind IN ('needs_lookup', 'looked_up') AND f.subject > 'lookup:' || $2
        AND f.subject LIKE 'lookup:%'
      ORDER BY f.subject
      LIMIT $3`,
    [runId, afterOrderId, limit],
  );
  return result.rows.map((row) => ({
    orderId: row.order_id,
    status: row.status,
    amountMinor: row.amount_minor,
    currency: row.currency,
    intentId: row.intent_id,
    paymentReference: row.payment_reference,
    capturedAmountMinor: row.captured_amount_minor,
    lookedUp: row.looked_up,
  }));
}

export interface Finding {
  subject: string;
  kind: DiscrepancyKind | 'matched';
  orderId?: string;
  paymentReference?: string;
  ourStatus?: string;
  ourAmountMinor?: number;
  ourCurrency?: string;
  gatewayStatus?: string;
  gatewayAmountMinor?: number;
  gatewayCurrency?: string;
}

/** Records what a batch of status lookups found and promotes it; safe to repeat for the same batch. */
export async function recordLookupFindings(
  pool: Pool,
  p: Pick<ClassifyParams, 'runId' | 'gateway' | 'lateSuccess' | 'unknownPayment' | 'foreignPayment'>,
  orderIds: string[],
  findings: Finding[],
): Promise<void> {
  await inTransaction(pool, async (client) => {
    for (const f of findings) {
      await client.query(
        `INSERT INTO reconciliation_findings (run_id, step, subject, kind, order_id, payment_reference, our_status,
                                              our_amount_minor, our_currency, gateway_status, gateway_amount_minor,
                                              gateway_currency)
         VALUES ($1, 'lookup', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (run_id, subject) DO NOTHING`,
        [
          p.runId,
          f.subject,
          f.kind,
          f.orderId ?? null,
          f.paymentReference ?? null,
          f.ourStatus ?? null,
          f.ourAmountMinor ?? null,
          f.ourCurrency ?? null,
          f.gatewayStatus ?? null,
          f.gatewayAmountMinor ?? null,
          f.gatewayCurrency ?? null,
        ],
      );
    }
    await client.query(
      `UPDATE reconciliation_findings SET kind = 'looked_up'
        WHERE run_id = $1 AND subject = ANY(SELECT 'lookup:' || unnest($2::text[]))`,
      [p.runId, orderIds],
    );
    await promoteFindings(client, p);
  });
}

export interface RepairItem {
  itemId: number;
  kind: DiscrepancyKind;
  action: ReconciliationAction;
  orderId: string | null;
  paymentReference: string | null;
  ourStatus: string | null;
  gatewayAmountMinor: number | null;
  gatewayCurrency: string | null;
  intentId: string | null;
  /** The order's own amount and currency (its search attributes), when there is an order. */
  orderAmountMinor: number | null;
  orderCurrency: string | null;
}

/** The run's items whose action is still to be taken, by item ID after `afterItemId`. */
export async function nextRepairBatch(
  pool: Pool,
  runId: string,
  afterItemId: number,
  limit: number,
): Promise<RepairItem[]> {
  const result = await pool.query<{
    item_id: number;
    kind: DiscrepancyKind;
    action: ReconciliationAction;
    order_id: string | null;
    payment_reference: string | null;
    our_status: string | null;
    gateway_amount_minor: number | null;
    gateway_currency: string | null;
    intent_id: string | null;
    order_amount_minor: number | null;
    order_currency: string | null;
  }>(
    // The intent of the attempt the payment belongs to: the one the payment names, else the order's own when the
    // order is at this gateway, else its latest attempt at this gateway (the payer moved on to another one).
    `SELECT i.item_id, i.kind, i.action, i.order_id, i.payment_reference, o.status AS our_status,
            i.gateway_amount_minor, i.gateway_currency,
            COALESCE((SELECT a.intent_id FROM payment_attempts a
                       WHERE a.order_id = o.order_id AND a.gateway = i.gateway AND a.intent_id = i.payment_reference
                       LIMIT 1),
                     CASE WHEN o.gateway = i.gateway THEN o.intent_id END,
                     (SELECT a.intent_id FROM payment_attempts a
                       WHERE a.order_id = o.order_id AND a.gateway = i.gateway
                       ORDER BY a.attempt_number DESC LIMIT 1)) AS intent_id,
            o.amount_minor AS order_amount_minor,
            o.currency::text AS order_currency
       FROM reconciliation_run_items ri
       JOIN reconciliation_items i ON i.item_id = ri.item_id
       LEFT JOIN orders o ON o.order_id = i.order_id
      WHERE ri.run_id = $1 AND i.state = 'pending' AND i.item_id > $2
      ORDER BY i.item_id
      LIMIT $3`,
    [runId, afterItemId, limit],
  );
  return result.rows.map((row) => ({
    itemId: Number(row.item_id),
    kind: row.kind,
    action: row.action,
    orderId: row.order_id,
    paymentReference: row.payment_reference,
    ourStatus: row.our_status,
    gatewayAmountMinor: row.gateway_amount_minor,
    gatewayCurrency: row.gateway_currency,
    intentId: row.intent_id,
    orderAmountMinor: row.order_amount_minor === null ? null : Number(row.order_amount_minor),
    orderCurrency: row.order_currency,
  }));
}

export type ItemState = 'pending' | 'in_progress' | 'done' | 'flagged' | 'failed';

/** Moves an item on; `from` guards against going back (a retried step after a refund workflow finished it). */
export async function updateItem(
  db: Pool | PoolClient,
  itemId: number,
  update: { state: ItemState; outcome: string; refundId?: string; gatewayRefundId?: string },
  from: readonly ItemState[],
): Promise<boolean> {
  const result = await db.query(
    `UPDATE reconciliation_items
        SET state = $2, outcome = $3, refund_id = COALESCE($4, refund_id),
            gateway_refund_id = COALESCE($5, gateway_refund_id), updated_at = now()
      WHERE item_id = $1 AND state = ANY($6::text[])`,
    [itemId, update.state, update.outcome, update.refundId ?? null, update.gatewayRefundId ?? null, from],
  );
  return result.rowCount === 1;
}

/** Marks the order for an operator (orders.needs_attention) with a timeline entry; once. */
export async function flagOrderForAttention(pool: Pool, orderId: string, reason: string): Promise<boolean> {
  return inTransaction(pool, async (client) => {
    const result = await client.query<{ status: OrderStatus }>(
      `UPDATE orders SET needs_attention = true, updated_at = now()
        WHERE order_id = $1 AND NOT needs_attention RETURNING status`,
      [orderId],
    );
    const status = result.rows[0]?.status;
    if (status === undefined) return false;
    await insertStatusHistory(client, {
      orderId,
      from: status,
      to: status,
      reason: `needs_attention:${reason}`,
      at: new Date(),
    });
    return true;
  });
}

export interface RunTotals {
  settlementRows: number;
  matched: number;
  newByKind: Partial<Record<DiscrepancyKind, number>>;
  alreadyReconciled: number;
  openDiscrepancies: number;
  durationMs: number;
  /** The run's window; undefined only for a run ID that was never begun. */
  windowStart: Date | undefined;
  windowEnd: Date | undefined;
  /** False when the run was already finished (a retried activity): nothing was updated. */
  finishedNow: boolean;
}

interface FinishedRunRow {
  settlement_rows: number;
  settlement_matched: number;
  duration_ms: number;
  window_start: Date;
  window_end: Date;
}

/**
 * Counts what the run saw and closes it. Open discrepancies are those that wait for someone: flagged or failed
 * (an operator), or pending (a later run), or a refund waiting for an operator to make it by hand (a wallet
 * without refund API). A refund a refund workflow is carrying out by itself (in_progress) is not open.
 */
export async function finishRun(pool: Pool, runId: string): Promise<RunTotals> {
  return inTransaction(pool, async (client) => {
    const byKind = await client.query<{ kind: DiscrepancyKind; seen: string; n: number }>(
      `SELECT i.kind, ri.seen, count(*)::int AS n
         FROM reconciliation_run_items ri JOIN reconciliation_items i ON i.item_id = ri.item_id
        WHERE ri.run_id = $1 GROUP BY i.kind, ri.seen`,
      [runId],
    );
    const open = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM reconciliation_run_items ri JOIN reconciliation_items i ON i.item_id = ri.item_id
        WHERE ri.run_id = $1
          AND (i.state IN ('pending', 'flagged', 'failed')
               OR (i.state = 'in_progress' AND i.outcome = 'manual_refund_required'))`,
      [runId],
    );
    const lookupMatched = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM reconciliation_findings f
        WHERE f.run_id = $1 AND f.step = 'lookup' AND f.kind = 'matched'
          AND NOT EXISTS (SELECT 1 FROM reconciliation_items i
                           JOIN reconciliation_runs r ON r.run_id = $1 AND i.gateway = r.gateway
                          WHERE i.subject = f.subject)`,
      [runId],
    );
    const newByKind: Partial<Record<DiscrepancyKind, number>> = {};
    let alreadyReconciled = 0;
    for (const row of byKind.rows) {
      if (row.seen === 'new') newByKind[row.kind] = row.n;
      else alreadyReconciled += row.n;
    }
    const openDiscrepancies = open.rows[0]?.n ?? 0;
    const updated = await client.query<FinishedRunRow>(
      `UPDATE reconciliation_runs
          SET status = 'completed', finished_at = now(), open_discrepancies = $2,
              duration_ms = (extract(epoch FROM now() - started_at) * 1000)::bigint,
              counts = $3
        WHERE run_id = $1 AND status = 'running'
        RETURNING settlement_rows, settlement_matched, duration_ms, window_start, window_end`,
      [
        runId,
        openDiscrepancies,
        JSON.stringify({ newByKind, alreadyReconciled, lookupMatched: lookupMatched.rows[0]?.n ?? 0 }),
      ],
    );
    const row =
      updated.rows[0] ??
      (
        await client.query<FinishedRunRow>(
          `SELECT settlement_rows, settlement_matched, duration_ms, window_start, window_end
             FROM reconciliation_runs WHERE run_id = $1`,
          [runId],
        )
      ).rows[0];
    return {
      settlementRows: row?.settlement_rows ?? 0,
      matched: (row?.settlement_matched ?? 0) + (lookupMatched.rows[0]?.n ?? 0),
      newByKind,
      alreadyReconciled,
      openDiscrepancies,
      durationMs: row?.duration_ms ?? 0,
      windowStart: row?.window_start,
      windowEnd: row?.window_end,
      finishedNow: updated.rowCount === 1,
    };
  });
}

export async function failRun(pool: Pool, runId: string): Promise<void> {
  await pool.query(
    `UPDATE reconciliation_runs SET status = 'failed', finished_at = now(),
            duration_ms = (extract(epoch FROM now() - started_at) * 1000)::bigint
      WHERE run_id = $1 AND status = 'running'`,
    [runId],
  );
}

// ---- Read side, for GET /admin/reconciliation/runs. ----

export interface RunView {
  runId: string;
  workflowId: string;
  gateway: string;
  reportId: string | null;
  windowStart: string;
  windowEnd: string;
  status: string;
  settlementRows: number;
  matched: number;
  newByKind: Record<string, number>;
  alreadyReconciled: number;
  openDiscrepancies: number;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
}

interface RunRow {
  run_id: string;
  workflow_id: string;
  gateway: string;
  report_id: string | null;
  window_start: Date;
  window_end: Date;
  status: string;
  settlement_rows: number;
  settlement_matched: number;
  counts: { newByKind?: Record<string, number>; alreadyReconciled?: number; lookupMatched?: number };
  open_discrepancies: number;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
}

const RUN_COLUMNS = `run_id, workflow_id, gateway, report_id, window_start, window_end, status, settlement_rows,
  settlement_matched, counts, open_discrepancies, started_at, finished_at, duration_ms`;

function toRunView(row: RunRow): RunView {
  return {
    runId: row.run_id,
    workflowId: row.workflow_id,
    gateway: row.gateway,
    reportId: row.report_id,
    windowStart: row.window_start.toISOString(),
    windowEnd: row.window_end.toISOString(),
    status: row.status,
    settlementRows: row.settlement_rows,
    matched: row.settlement_matched + (row.counts.lookupMatched ?? 0),
    newByKind: row.counts.newByKind ?? {},
    alreadyReconciled: row.counts.alreadyReconciled ?? 0,
    openDiscrepancies: row.open_discrepancies,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
    durationMs: row.duration_ms,
  };
}

export async function listRuns(
  pool: Pool,
  filter: { gateway?: string; workflowId?: string; limit: number },
): Promise<RunView[]> {
  const result = await pool.query<RunRow>(
    `SELECT ${RUN_COLUMNS} FROM reconciliation_runs
      WHERE ($1::text IS NULL OR gateway = $1) AND ($2::text IS NULL OR workflow_id = $2)
      ORDER BY started_at DESC, run_id LIMIT $3`,
    [filter.gateway ?? null, filter.workflowId ?? null, filter.limit],
  );
  return result.rows.map(toRunView);
}

export interface ItemView {
  itemId: number;
  kind: string;
  subject: string;
  seen: string;
  orderId: string | null;
  paymentReference: string | null;
  ours: { status: string | null; amountMinor: number | null; currency: string | null };
  gateway: { status: string | null; amountMinor: number | null; currency: string | null };
  action: string;
  state: string;
  outcome: string | null;
  refundId: string | null;
  gatewayRefundId: string | null;
}

export async function findRun(
  pool: Pool,
  runId: string,
  itemLimit: number,
): Promise<(RunView & { items: ItemView[] }) | undefined> {
  const run = await pool.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM reconciliation_runs WHERE run_id = $1`, [runId]);
  const row = run.rows[0];
  if (!row) return undefined;
  const items = await pool.query<{
    item_id: number;
    kind: string;
    subject: string;
    seen: string;
    order_id: string | null;
    payment_reference: string | null;
    our_status: string | null;
    our_amount_minor: number | null;
    our_currency: string | null;
    gateway_status: string | null;
    gateway_amount_minor: number | null;
    gateway_currency: string | null;
    action: string;
    state: string;
    outcome: string | null;
    refund_id: string | null;
    gateway_refund_id: string | null;
  }>(
    `SELECT i.item_id, i.kind, i.subject, ri.seen, i.order_id, i.payment_reference, i.our_status, i.our_amount_minor,
            i.our_currency, i.gateway_status, i.gateway_amount_minor, i.gateway_currency, i.action, i.state,
            i.outcome, i.refund_id, i.gateway_refund_id
       FROM reconciliation_run_items ri JOIN reconciliation_items i ON i.item_id = ri.item_id
      WHERE ri.run_id = $1 ORDER BY i.item_id LIMIT $2`,
    [runId, itemLimit],
  );
  return {
    ...toRunView(row),
    items: items.rows.map((i) => ({
      itemId: Number(i.item_id),
      kind: i.kind,
      subject: i.subject,
      seen: i.seen,
      orderId: i.order_id,
      paymentReference: i.payment_reference,
      ours: { status: i.our_status, amountMinor: i.our_amount_minor, currency: i.our_currency },
      gateway: { status: i.gateway_status, amountMinor: i.gateway_amount_minor, currency: i.gateway_currency },
      action: i.action,
      state: i.state,
      outcome: i.outcome,
      refundId: i.refund_id,
      gatewayRefundId: i.gateway_refund_id,
    })),
  };
}

/** The late payment whose reconciliation refund is `refundId`: its refund workflow waits for the confirmation. */
export async function findItemByRefundId(
  pool: Pool,
  orderId: string,
  refundId: string,
): Promise<{ gateway: GatewayName; paymentReference: string } | undefined> {
  const result = await pool.query<{ gateway: GatewayName; payment_reference: string }>(
    // The item names the refund once its workflow has reported the manual task; a confirmation that comes in just
    // before that finds the order's late payment item that started the workflow.
    `SELECT gateway, payment_reference FROM reconciliation_items
      WHERE order_id = $1 AND payment_reference IS NOT NULL
        AND (refund_id = $2 OR (refund_id IS NULL AND kind = 'late_success' AND action = 'refund'))
      ORDER BY refund_id IS NULL, item_id LIMIT 1`,
    [orderId, refundId],
  );
  const row = result.rows[0];
  return row ? { gateway: row.gateway, paymentReference: row.payment_reference } : undefined;
}
