// The chaos soak of `npm run soak`, for 60 seconds: two latchkey processes on a private
// PostgreSQL and Redis under mixed load while Redis restarts, freezes and is cut from one
// instance and PostgreSQL restarts. Every count of the report must be zero; the memory and
// event-loop judgements are printed, not asserted (the machine is shared and noisy).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSoak } from '../../bench/soak/soak.js';

test('60-second soak: no late revoked credential, no 5xx but 503 in the down window, no lost write, no unhandled error', { timeout: 300_000 }, async () => {
  const result = await runSoak({ durationMs: 60_000 });
  console.log(result.text);
  const failed = result.checks.filter((c) => c.kind === 'count' && !c.ok);
  assert.deepEqual(
    failed.map((c) => `${c.name}: ${c.value} (${c.detail})`),
    [],
    `logs kept in ${result.logs}`,
  );
});
