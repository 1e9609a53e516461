// The API's Temporal connection. Lazy, so the process starts (and /healthz answers) while Temporal is down.
// Request threads are interactive: an unreachable server should become a 503 within a second or so, not after
// the client's default retry budget of about fifteen seconds, and a recovered server should be noticed within
// seconds, not after gRPC's reconnect backoff has grown to two minutes.
import { Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';

const RETRY_ATTEMPTS = 4;
const MAX_RECONNECT_BACKOFF_MS = 5_000;

export function lazyTemporalConnection(address: string): Connection {
  return Connection.lazy({
    address,
    interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: RETRY_ATTEMPTS }))],
    channelArgs: { 'grpc.max_reconnect_backoff_ms': MAX_RECONNECT_BACKOFF_MS },
  });
}
