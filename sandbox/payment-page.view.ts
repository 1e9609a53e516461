// The hosted payment page: plain HTML forms, no script, so a test or a person with curl can pay as easily as a
// browser. Every value shown comes from a caller, so everything interpolated is escaped.
import type { HostedSessionView } from './sandbox.store';
import {
  DECLINE_REASONS,
  DEFAULT_DECLINE_REASON,
  DELAYED_PAYMENT_METHOD_TYPES,
  type CheckoutSessionObject,
} from './stripe.objects';

/** ISO 4217 exponents that differ from 2. Display only; amounts stay integers everywhere else. */
const ZERO_DECIMAL = new Set([
  'bif',
  'clp',
  'djf',
  'gnf',
  'jpy',
  'kmf',
  'krw',
  'mga',
  'pyg',
  'rwf',
  'ugx',
  'vnd',
  'vuv',
  'xaf',
  'xof',
  'xpf',
]);
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

/** 123456 USD → "1234.56 USD", by moving the decimal point in the digit string; no float is involved. */
export function formatMinorAmount(amountMinor: number, currency: string): string {
  const lower = currency.toLowerCase();
  const exponent = ZERO_DECIMAL.has(lower) ? 0 : THREE_DECIMAL.has(lower) ? 3 : 2;
  const digits = String(amountMinor).padStart(exponent + 1, '0');
  const major = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  return `${major} ${currency.toUpperCase()}`;
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** The strip at the top of every sandbox page, coloured per gateway so a tester sees which one they are on. */
export interface SandboxBanner {
  text: string;
  background: string;
  border: string;
}

const STRIPE_BANNER: SandboxBanner = {
  text: 'orderpay sandbox gateway: no real money moves here.',
  background: '#fff4d6',
  border: '#e0c36a',
};

/** The one page shell of the sandbox's hosted pages (Stripe, eSewa, Khalti). `body` must already be escaped. */
export function sandboxPage(title: string, body: string, banner: SandboxBanner = STRIPE_BANNER): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem; color: #1a1a1a; }
  .banner { background: ${banner.background}; border: 1px solid ${banner.border}; padding: .5rem .75rem; border-radius: .375rem; font-size: .9rem; }
  .error { background: #fde2e1; border-color: #e08a86; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
  dt { color: #555; }
  form { display: inline-block; margin: 1rem .5rem 0 0; }
  button { font-size: 1rem; padding: .5rem 1.25rem; cursor: pointer; }
</style>
</head>
<body>
<p class="banner">${escapeHtml(banner.text)}</p>
${body}
</body>
</html>
`;
}

function summary(session: CheckoutSessionObject, productName: string): string {
  const orderId = session.metadata.orderId ?? session.client_reference_id ?? '(none)';
  return `<dl>
  <dt>Amount</dt><dd data-testid="amount">${escapeHtml(formatMinorAmount(session.amount_total, session.currency))}</dd>
  <dt>For</dt><dd>${escapeHtml(productName)}</dd>
  <dt>Order</dt><dd data-testid="order-id">${escapeHtml(orderId)}</dd>
  <dt>Session</dt><dd>${escapeHtml(session.id)}</dd>
</dl>`;
}

export function renderPaymentPage(view: HostedSessionView): string {
  const { session, productName, declineMessage } = view;
  const action = (verb: string) => `/pay/${encodeURIComponent(session.id)}/${verb}`;
  const declined = declineMessage
    ? `<p class="banner error" role="alert">${escapeHtml(declineMessage)} You can try again.</p>`
    : '';
  return sandboxPage(
    `Pay ${formatMinorAmount(session.amount_total, session.currency)}`,
    `<h1>Checkout</h1>
${declined}
${summary(session, productName)}
<form method="post" action="${action('pay')}"><button type="submit" name="outcome" value="pay">Pay</button></form>
${declineForm(action('decline'))}
<form method="post" action="${action('abandon')}"><button type="submit" name="outcome" value="abandon">Abandon</button></form>
${delayedMethodForm(session, action('pay-later'))}
<p><small>Pay captures the payment. Decline simulates a declined card with the chosen reason (the page stays open and
each declined try is a failed charge of its own). Abandon leaves without paying.</small></p>`,
  );
}

/** One decline per reason Stripe's test cards produce, so the payer sees the retry path for each. */
function declineForm(action: string): string {
  const options = Object.entries(DECLINE_REASONS)
    .map(
      ([reason, error]) =>
        `<option value="${escapeHtml(reason)}"${reason === DEFAULT_DECLINE_REASON ? ' selected' : ''}>${escapeHtml(
          `${reason.replaceAll('_', ' ')}: ${error.message}`,
        )}</option>`,
    )
    .join('');
  return `<form method="post" action="${action}"><label>Decline reason <select name="reason">${options}</select></label>
<button type="submit" name="outcome" value="decline">Decline</button></form>`;
}

/** Only when the session offers a delayed method: it completes unpaid, and the bank answers later. */
function delayedMethodForm(session: HostedSessionView['session'], action: string): string {
  if (!session.payment_method_types.some((type) => DELAYED_PAYMENT_METHOD_TYPES.includes(type))) return '';
  return `<form method="post" action="${action}"><button type="submit" name="outcome" value="pay-later">Pay by bank debit</button></form>
<p><small>Pay by bank debit completes the session unpaid; the debit succeeds or fails later
(<code>POST /_sandbox/sessions/${escapeHtml(session.id)}/async-payment</code>).</small></p>`;
}

export function renderClosedPage(view: Pick<HostedSessionView, 'session' | 'productName'>): string {
  const { session, productName } = view;
  const reason =
    session.status === 'complete'
      ? 'This checkout session has already been paid. It cannot be paid again.'
      : 'This checkout session has expired. It can no longer be paid.';
  return sandboxPage(
    'Checkout closed',
    `<h1>Checkout closed</h1>\n<p role="alert">${reason}</p>\n${summary(session, productName)}`,
  );
}

export function renderNotFoundPage(sessionId: string): string {
  return sandboxPage(
    'Checkout not found',
    `<h1>Checkout not found</h1>\n<p>No checkout session ${escapeHtml(sessionId)}.</p>`,
  );
}
