// Telling "PostgreSQL is unreachable" (answer 503, the caller retries) from a bug (answer 500).

/** Socket-level failures reaching the server. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EPIPE',
]);

/**
 * SQLSTATEs that mean the server cannot serve us right now: class 08 (connection exception), 57P0x (shutting
 * down, cannot connect now), 53300 (too many connections) and 3D000 (database missing during a restore).
 */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[1-4]|53300|3D000)$/;

/** pg's own messages when the connection dies or never comes up; they carry no code. */
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
];

export function isDatabaseUnavailableError(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current !== 'object') return false;
    const { code, message, errors, cause } = current as {
      code?: unknown;
      message?: unknown;
      errors?: unknown;
      cause?: unknown;
    };
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((text) => message.includes(text))) return true;
    // Node reports a refused dual-stack connect (localhost → ::1 and 127.0.0.1) as an AggregateError.
    if (Array.isArray(errors) && errors.some((inner) => isDatabaseUnavailableError(inner))) return true;
    current = cause;
  }
  return false;
}
