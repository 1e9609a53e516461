// The option fields every HTTP adapter validates the same way at start-up.
import { z } from 'zod';

/** An absolute http(s) URL: a gateway API base or orderpay's public address. */
export const httpUrlSchema = z.url({ protocol: /^https?$/ });

/** Per-HTTP-call timeout in milliseconds. */
export const timeoutMsSchema = z.number().int().positive();
