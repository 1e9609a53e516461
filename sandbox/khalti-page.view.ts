// Khalti's hosted payment page, as the sandbox shows it: plain HTML forms, no script, so a test or a person with curl
// can pay as easily as a browser. Every value shown comes from a caller, so everything interpolated is escaped.
import type { KhaltiPaymentRecord } from './khalti.store';
import { escapeHtml, formatMinorAmount, sandboxPage, type SandboxBanner } from './payment-page.view';

const KHALTI_BANNER: SandboxBanner = {
  text: 'orderpay sandbox: Khalti ePayment. No real money moves here.',
  background: '#efe6fb',
  border: '#5c2d91',
};

function layout(title: string, body: string): string {
  return sandboxPage(title, body, KHALTI_BANNER);
}

function summary(payment: KhaltiPaymentRecord): string {
  return `<dl>
  <dt>Amount</dt><dd data-testid="amount">${escapeHtml(formatMinorAmount(payment.amount, 'NPR'))}</dd>
  <dt>For</dt><dd>${escapeHtml(payment.purchaseOrderName)}</dd>
  <dt>Order</dt><dd data-testid="order-id">${escapeHtml(payment.purchaseOrderId)}</dd>
  <dt>pidx</dt><dd>${escapeHtml(payment.pidx)}</dd>
  <dt>Status</dt><dd data-testid="status">${escapeHtml(payment.status)}</dd>
</dl>`;
}

export function renderKhaltiPaymentPage(payment: KhaltiPaymentRecord): string {
  const action = (verb: string) => `/khalti-pay/${encodeURIComponent(payment.pidx)}/${verb}`;
  return layout(
    `Pay ${formatMinorAmount(payment.amount, 'NPR')} with Khalti`,
    `<h1>Khalti</h1>
${summary(payment)}
<form method="post" action="${action('pay')}"><button type="submit">Pay</button></form>
<form method="post" action="${action('pending')}"><button type="submit">Leave pending</button></form>
<form method="post" action="${action('cancel')}"><button type="submit">Cancel</button></form>
<form method="post" action="${action('abandon')}"><button type="submit">Abandon</button></form>
<p><small>Pay completes the payment. Leave pending stops at Khalti's Pending (this page can still finish it).
Cancel is "User canceled". Each returns to the merchant. Abandon closes the tab: no return, nothing changes.</small></p>`,
  );
}

export function renderKhaltiClosedPage(payment: KhaltiPaymentRecord): string {
  const reason =
    payment.status === 'Expired'
      ? 'This payment link has expired. It can no longer be paid.'
      : payment.status === 'User canceled'
        ? 'This payment was cancelled. It can no longer be paid.'
        : 'This payment has already been made. It cannot be paid again.';
  return layout('Payment closed', `<h1>Payment closed</h1>\n<p role="alert">${reason}</p>\n${summary(payment)}`);
}

/** The payer left (or the return never happened): Khalti's page ends without taking them back to the merchant. */
export function renderKhaltiNoReturnPage(payment: KhaltiPaymentRecord, message: string): string {
  return layout('Khalti', `<h1>Khalti</h1>\n<p role="status">${escapeHtml(message)}</p>\n${summary(payment)}`);
}

export function renderKhaltiNotFoundPage(pidx: string): string {
  return layout('Payment not found', `<h1>Payment not found</h1>\n<p>No Khalti payment ${escapeHtml(pidx)}.</p>`);
}
