// The payload codec every test client, worker and process runs with, so tests exercise encrypted histories.
// The key is fixed (and public: it protects nothing) so that histories recorded for the replay suite stay readable.
import type { DataConverter } from '@temporalio/common';
import { orderpayDataConverter, parseCodecKeys } from '../../config/payload-codec';

/** `TEMPORAL_CODEC_KEYS` of the tests: one key, "test-1". Never use it outside tests. */
export const TEST_CODEC_KEYS = 'test-1:M6uLUjKSg1uhmTBMQtx1+ffq9Jj1/5bJXJB+B1/c3a8=';

export function testDataConverter(): DataConverter {
  return orderpayDataConverter(parseCodecKeys(TEST_CODEC_KEYS));
}
