/**
 * The inspector's pure parts: a metric sample from two readings (rates per second, fan-out mean and
 * p95 from histogram buckets), the sampler over a real HubMetrics, and values, keys and sites as text.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { packColumns } from '../../src/engine/index.ts';
import { HubMetrics } from '../../src/hub/metrics.ts';
import { keyText, MAX_VALUE_CHARS, siteText, valueText } from '../../src/hub/inspector/render.ts';
import { MetricsSampler, sampleOf, type Reading } from '../../src/hub/inspector/samples.ts';

const reading = (at: number, o: Partial<Reading> = {}): Reading => ({
  at, connections: 0, databases: 0, changesIn: 0, changesOut: 0, refusals: 0, fanoutSum: 0, fanoutCount: 0,
  buckets: [[0.001, 0], [0.01, 0], [0.1, 0], [Infinity, 0]], ...o,
});

describe('inspector samples', () => {
  it('rates per second and fan-out latency of the interval', () => {
    const prev = reading(1_000, { changesIn: 100, changesOut: 50, refusals: 1, fanoutSum: 0.5, fanoutCount: 10, buckets: [[0.001, 5], [0.01, 10], [0.1, 10], [Infinity, 10]] });
    const now = reading(3_000, { connections: 4, databases: 2, changesIn: 300, changesOut: 450, refusals: 3, fanoutSum: 0.5 + 0.2, fanoutCount: 30, buckets: [[0.001, 5], [0.01, 28], [0.1, 30], [Infinity, 30]] });
    const s = sampleOf(prev, now);
    assert.deepEqual({ ...s, fanoutMeanMs: Math.round(s.fanoutMeanMs! * 1000) / 1000 }, {
      at: 3_000, connections: 4, databases: 2, inPerSec: 100, outPerSec: 200, refusals: 2,
      fanoutMeanMs: 10, // 0.2 s over 20
      fanoutP95Ms: 100, // 18 of 20 within 10 ms, all 20 within 100 ms: p95 (19) at the 100 ms edge
    });
    assert.deepEqual([sampleOf(now, reading(4_000, { ...now, at: 4_000 })).fanoutMeanMs, sampleOf(now, { ...now, at: 4_000 }).fanoutP95Ms], [null, null], 'nothing fanned out: no latency');
  });

  it('the sampler reads a hub\'s metrics over time', async () => {
    const metrics = new HubMetrics();
    const sampler = new MetricsSampler(metrics, 20);
    sampler.start();
    try {
      while (sampler.samples().length < 1) await sleep(10); // (a reading in flight may already count what follows)
      const first = sampler.samples().length;
      metrics.connections.set(3);
      metrics.changesIn.inc(500);
      metrics.fanout.observe(0.004);
      while (sampler.samples().length < first + 3) await sleep(10);
      const s = sampler.samples().slice(first);
      assert.ok(s.slice(1).every((x) => x.connections === 3));
      assert.ok(s.some((x) => x.inPerSec > 0));
      assert.ok(s.some((x) => x.fanoutP95Ms === 5 && Math.abs(x.fanoutMeanMs! - 4) < 1e-9));
    } finally {
      sampler.stop();
    }
  });
});

describe('inspector text', () => {
  it('values, keys and sites as short text', () => {
    assert.deepEqual([null, 5n, 1.5, 'a"b', new Uint8Array([1, 255])].map(valueText), ['NULL', '5', '1.5', '"a\\"b"', "x'01ff'"]);
    const long = valueText('x'.repeat(1000));
    assert.equal(long.length, MAX_VALUE_CHARS);
    assert.ok(long.endsWith('…'));
    assert.equal(keyText(packColumns(['k', 7n])), '"k", 7');
    assert.equal(keyText(new Uint8Array([0xff, 0xff])), "x'ffff'", 'a key that does not unpack shows as hex');
    assert.equal(siteText(new Uint8Array(16).fill(0xab)), 'abababab');
  });
});
