// The merchant API key every test harness registers and sends by default, so suites that are not about
// authentication call /orders as a merchant's server would.
import { registerBootstrapApiKey } from '../../api/auth/manage-api-keys.use-case';
import type { Pool } from '../../db/pool';

/** All merchant scopes (it is registered as a bootstrap key); a fixed value, so spawned APIs can be handed it too. */
export const TEST_API_KEY = 'op_test_harness-key-0123456789abcdefghijklmnop';

export const merchantAuthorization = `Bearer ${TEST_API_KEY}`;

/** Registers TEST_API_KEY in the test database unless it is already there. */
export async function registerTestApiKey(pool: Pool): Promise<void> {
  await registerBootstrapApiKey(pool, TEST_API_KEY);
}

/** Merchant routes get the test key unless the caller sends its own Authorization header or asks for none. */
export function withDefaultKey(
  path: string,
  headers: Record<string, string> = {},
  withoutKey = false,
): Record<string, string> {
  const merchantRoute = path.startsWith('/orders');
  const hasAuthorization = Object.keys(headers).some((name) => name.toLowerCase() === 'authorization');
  return merchantRoute && !hasAuthorization && !withoutKey
    ? { authorization: merchantAuthorization, ...headers }
    : headers;
}
