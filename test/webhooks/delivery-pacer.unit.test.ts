// The pacing of webhook deliveries by the intake's rate, on a clock the test moves: full concurrency while quiet, the
// busy concurrency while more than the threshold arrived within the last second, full again once a second was quiet.
import { createDeliveryPacer } from '../../api/webhooks/delivery-pacer';

function pacerAt(settings: { busyAbovePerSecond: number; busyConcurrency?: number }) {
  const clock = { ms: 10_000 };
  const pacer = createDeliveryPacer(
    { concurrency: 8, busyConcurrency: settings.busyConcurrency ?? 2, busyAbovePerSecond: settings.busyAbovePerSecond },
    () => clock.ms,
  );
  const arrive = (count: number, everyMs = 0) => {
    for (let i = 0; i < count; i++) {
      pacer.noteArrival();
      clock.ms += everyMs;
    }
  };
  return { pacer, clock, arrive };
}

test('when nothing has arrived, then the full concurrency is allowed', () => {
  const { pacer } = pacerAt({ busyAbovePerSecond: 5 });
  expect(pacer.concurrency()).toBe(8);
});

test('when exactly the threshold arrived within a second, then the intake is not busy', () => {
  const { pacer, arrive } = pacerAt({ busyAbovePerSecond: 5 });
  arrive(5, 100);
  expect(pacer.concurrency()).toBe(8);
});

test('when more than the threshold arrived within a second, then only the busy concurrency is allowed', () => {
  const { pacer, arrive } = pacerAt({ busyAbovePerSecond: 5 });
  arrive(6, 100);
  expect(pacer.concurrency()).toBe(2);
});

test('when the burst ends, then the full concurrency comes back once its arrivals are a second old', () => {
  const { pacer, clock, arrive } = pacerAt({ busyAbovePerSecond: 5 });
  arrive(6);
  clock.ms += 999;
  expect(pacer.concurrency()).toBe(2);
  clock.ms += 1;
  expect(pacer.concurrency()).toBe(8);
});

test('when arrivals keep coming above the rate, then the intake stays busy however long the burst lasts', () => {
  const { pacer, arrive } = pacerAt({ busyAbovePerSecond: 5 });
  // 10 a second for 100 seconds: the ring of the last 6 arrival times is overwritten many times over.
  for (let second = 0; second < 100; second++) {
    arrive(10, 100);
    expect(pacer.concurrency()).toBe(2);
  }
});

test('when arrivals keep coming at or below the rate, then the intake is never busy', () => {
  const { pacer, arrive } = pacerAt({ busyAbovePerSecond: 5 });
  for (let second = 0; second < 20; second++) {
    arrive(5, 200);
    expect(pacer.concurrency()).toBe(8);
  }
});

test('when the threshold is 0, then deliveries are never paced', () => {
  const { pacer, arrive } = pacerAt({ busyAbovePerSecond: 0 });
  arrive(1_000);
  expect(pacer.concurrency()).toBe(8);
});

test('when the busy concurrency is above the full one, then the full one still caps it', () => {
  const { pacer, arrive } = pacerAt({ busyAbovePerSecond: 1, busyConcurrency: 50 });
  arrive(2);
  expect(pacer.concurrency()).toBe(8);
});
