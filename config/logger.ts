// Structured JSON logs. Secrets, signatures and contact data are redacted by path; callers log IDs and states.
import pino from 'pino';

export type Logger = pino.Logger;

const REDACTED_PATHS = [
  'secret',
  '*.secret',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["stripe-signature"]',
  'signature',
  '*.signature',
  'customer',
  '*.customer',
  'email',
  '*.email',
  'phone',
  '*.phone',
  'rawBody',
  '*.rawBody',
];

export function createLogger(name: string, level: string = 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: name } });
}
