'use strict';
/*
 * The client against the real eventrouterd (started here, see harness.js):
 * publish and batch read back through QUERY, every ack mode, the NACK paths
 * a client can reach, close(), pipelining at volume, and a daemon restarted
 * (crash and clean stop) under a publishing client with nothing stored
 * twice. Assertions are on contents and counts, never on time.
 */
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Client, EventRouterError } = require('../dist');
const { Daemon, scaled, SUITE_MS } = require('./harness');

/** Every stored event matching filter, through the admin socket. */
async function queryAll(admin, filter) {
  const s = admin.query(filter);
  const rows = await s.toArray();
  assert.strictEqual(s.count, BigInt(rows.length), 'END count = rows received');
  return rows;
}

/** Asserts p rejects with an EventRouterError of this code; returns it. */
async function nack(p, code) {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof EventRouterError, `an EventRouterError, got ${e && e.stack}`);
    assert.strictEqual(e.code, code, e.message);
    return e;
  }
  assert.fail(`resolved; expected NACK ${code}`);
}

describe('publish, batch and query (store memory)', { timeout: SUITE_MS }, () => {
  const d = new Daemon({
    store: 'memory',
    yaml: 'limits:\n  max_frame: 64KiB\n  max_event_size: 8KiB\n  max_batch: 16',
  });
  let pub;
  let admin;
  before(async () => {
    await d.start();
    pub = await Client.connect({ socket: d.socket });
    admin = await Client.connect({ socket: d.adminSocket });
  });
  after(async () => {
    await pub?.close();
    await admin?.close();
    const r = await d.stop();
    assert.deepStrictEqual(r, { code: 0, signal: null }, d.log());
  });

  it('WELCOME: the limits of the config, durable false for the memory store', () => {
    assert.deepStrictEqual(pub.welcome.limits, { maxFrame: 65536, maxEventSize: 8192, maxBatch: 16, maxInflight: 4096 });
    assert.strictEqual(pub.welcome.durable, false);
    assert.strictEqual(pub.options.ack, 'durable');
  });

  it('publish: every field reaches the store as sent; seq is a bigint', async () => {
    const ev = {
      type: 'OrderCreated',
      version: 2,
      priority: 'high',
      time: 1700000000123456,
      topic: 'orders.created',
      id: 'node-all-fields',
      stream: 'order:42',
      correlation_id: 'req-7f3a',
      causation_id: 'cmd-19',
      source: 'shop-api',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'vendor=x',
      content_type: 'application/json',
      data: Buffer.from('{"total":1999}'),
      meta: { tenant: 'acme', 'x-k': 'v' },
    };
    const r = await pub.publish(ev);
    assert.strictEqual(typeof r.seq, 'bigint');
    assert.strictEqual(r.id, 'node-all-fields');
    assert.strictEqual(r.duplicate, false);
    const [row] = await queryAll(admin, { id: 'node-all-fields' });
    assert.strictEqual(row.seq, r.seq);
    for (const k of Object.keys(ev)) {
      if (k === 'data') assert.strictEqual(Buffer.from(row.data).toString(), '{"total":1999}');
      else assert.deepStrictEqual(row[k], ev[k], k);
    }
    assert.strictEqual(row.origin.pid, process.pid);
    assert.strictEqual(typeof row.received, 'number');
  });

  it('publish: the client sets an id, the daemon the defaults', async () => {
    const r = await pub.publish({ type: 'UserLoggedIn', stream: 'user:1', data: 'plain text' });
    assert.match(r.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const [row] = await queryAll(admin, { id: r.id });
    assert.strictEqual(row.seq, r.seq);
    assert.strictEqual(row.topic, 'UserLoggedIn');
    assert.strictEqual(row.priority, 'normal');
    assert.strictEqual(row.version, 1);
    assert.strictEqual(row.data, 'plain text');
  });

  it('publishBatch: consecutive seqs, stored in order', async () => {
    const evs = Array.from({ length: 16 }, (_, i) => ({ type: 'Step', stream: 'batch:1', data: { i } }));
    const r = await pub.publishBatch(evs);
    assert.strictEqual(r.seqs.length, 16);
    for (let i = 1; i < 16; i++) assert.strictEqual(r.seqs[i], r.seqs[0] + BigInt(i));
    const rows = await queryAll(admin, { stream: 'batch:1' });
    assert.deepStrictEqual(
      rows.map((x) => [x.seq, x.id, JSON.parse(Buffer.from(x.data).toString()).i]),
      r.seqs.map((s, i) => [s, r.ids[i], i]),
    );
  });

  it('publish again with a known id: a duplicate, answered with the original seq', async () => {
    const a = await pub.publish({ type: 'Once', id: 'dup-1', stream: 'dup:1' });
    const b = await pub.publish({ type: 'Once', id: 'dup-1', stream: 'dup:1' });
    assert.strictEqual(b.duplicate, true);
    assert.strictEqual(b.seq, a.seq);
    const r = await pub.publishBatch([
      { type: 'Once', id: 'dup-2', stream: 'dup:1' },
      { type: 'Once', id: 'dup-1', stream: 'dup:1' },
    ]);
    assert.deepStrictEqual(r.duplicates, [1]);
    assert.strictEqual(r.seqs[1], a.seq);
    assert.strictEqual((await queryAll(admin, { stream: 'dup:1' })).length, 2);
  });

  it('ack modes none, received, durable: seqs as each promises, everything stored', async () => {
    const seen = {};
    for (const ack of ['none', 'received', 'durable']) {
      const c = await Client.connect({ socket: d.socket, ack });
      const rs = await Promise.all(
        Array.from({ length: 50 }, (_, i) => c.publish({ type: 'Mode', stream: `ack:${ack}`, data: { i } })),
      );
      seen[ack] = rs;
      if (ack === 'none') {
        assert.ok(rs.every((r) => r.seq === null));
        /* No ACKs, but NACKs still come: as 'nack' events. */
        const nacked = new Promise((r) => c.once('nack', r));
        const bad = await c.publish({ type: 'not valid' });
        assert.strictEqual(bad.seq, null);
        const e = await nacked;
        assert.ok(e instanceof EventRouterError);
        assert.strictEqual(e.code, 'invalid');
        /* Frames are taken in order: after the PONG every publish was. */
        await c.ping();
      } else {
        assert.ok(rs.every((r, i) => r.seq === rs[0].seq + BigInt(i)));
      }
      await c.close();
    }
    /* A durable ack on another connection: everything sequenced before it is stored. */
    await pub.publish({ type: 'Fence' });
    for (const ack of ['none', 'received', 'durable']) {
      const rows = await queryAll(admin, { stream: `ack:${ack}` });
      assert.deepStrictEqual(
        rows.map((x) => x.id),
        seen[ack].map((r) => r.id),
        ack,
      );
    }
  });

  it('NACK invalid: a broken rule, a daemon field, a reserved stream; the connection goes on', async () => {
    let e = await nack(pub.publish({ type: 'bad type!' }), 'invalid');
    assert.match(e.message, /type/);
    assert.strictEqual(e.index, null);
    e = await nack(pub.publish({ type: 'T', seq: 5 }), 'invalid');
    assert.match(e.message, /seq/);
    e = await nack(pub.publish({ type: 'T', stream: '$system' }), 'invalid');
    assert.match(e.message, /stream/);
    e = await nack(pub.publish({ type: 'T', colour: 'red' }), 'invalid');
    assert.match(e.message, /colour/);
    assert.strictEqual(typeof (await pub.publish({ type: 'AfterNacks' })).seq, 'bigint');
  });

  it('NACK too_large: an event above max_event_size; above max_frame refused by the client', async () => {
    const e = await nack(pub.publish({ type: 'Big', data: Buffer.alloc(9000, 0x61) }), 'too_large');
    assert.strictEqual(e.local, false);
    const l = await nack(pub.publish({ type: 'Huge', data: Buffer.alloc(70000, 0x61) }), 'too_large');
    assert.strictEqual(l.local, true);
    const b = await nack(
      pub.publishBatch(Array.from({ length: 17 }, () => ({ type: 'T' }))),
      'too_large',
    );
    assert.strictEqual(b.local, true);
    assert.strictEqual(typeof (await pub.publish({ type: 'AfterTooLarge' })).seq, 'bigint');
  });

  it('NACK index: one bad event refuses the whole batch, index names it', async () => {
    const e = await nack(
      pub.publishBatch([
        { type: 'Ok', stream: 'refused:1' },
        { type: 'Ok', stream: 'refused:1' },
        { type: 'not ok', stream: 'refused:1' },
      ]),
      'invalid',
    );
    assert.strictEqual(e.index, 2);
    assert.strictEqual((await queryAll(admin, { stream: 'refused:1' })).length, 0);
  });

  it('NACK forbidden: QUERY on the publish socket (no acl rule grants read)', async () => {
    const s = pub.query({ stream: 'order:42' });
    const e = await nack(s.toArray(), 'forbidden');
    assert.strictEqual(e.requestId, s.rid);
    assert.strictEqual(typeof (await pub.publish({ type: 'AfterForbidden' })).seq, 'bigint');
  });

  it('query: filters, limit, from_seq, cancel', async () => {
    const evs = Array.from({ length: 40 }, (_, i) => ({
      type: i % 2 ? 'Odd' : 'Even',
      stream: 'q:1',
      correlation_id: `c${i % 4}`,
      time: 1704067200000000 + i * 1000000,
      data: { i },
    }));
    const r = await pub.publishBatch(evs.slice(0, 16));
    const r2 = await pub.publishBatch(evs.slice(16, 32));
    const r3 = await pub.publishBatch(evs.slice(32));
    const seqs = [...r.seqs, ...r2.seqs, ...r3.seqs];
    const idx = (rows) => rows.map((x) => JSON.parse(Buffer.from(x.data).toString()).i);
    const all = [...Array(40).keys()];
    assert.deepStrictEqual(idx(await queryAll(admin, { stream: 'q:1' })), all);
    assert.deepStrictEqual(idx(await queryAll(admin, { stream: 'q:1', type: 'Odd' })), all.filter((i) => i % 2));
    assert.deepStrictEqual(
      idx(await queryAll(admin, { stream: 'q:1', correlation_id: 'c2' })),
      all.filter((i) => i % 4 === 2),
    );
    assert.deepStrictEqual(
      idx(await queryAll(admin, { stream: 'q:1', since: 1704067200000000 + 10e6, until: 1704067200000000 + 12e6 })),
      [10, 11, 12].filter((i) => i < 12) /* until is exclusive */,
    );
    assert.deepStrictEqual(idx(await queryAll(admin, { stream: 'q:1', from_seq: seqs[35] })), [35, 36, 37, 38, 39]);
    assert.deepStrictEqual(idx(await queryAll(admin, { stream: 'q:1', limit: 3 })), [0, 1, 2]);
    const s = admin.query({ stream: 'q:1' });
    const first = await s.next();
    assert.strictEqual(first.done, false);
    const n = await s.cancel();
    assert.ok(typeof n === 'bigint' && n >= 1n && n <= 40n, `END count after CANCEL: ${n}`);
    const e = await nack(admin.query({ stream: 'q:1', colour: 'red' }).toArray(), 'invalid');
    assert.match(e.message, /colour/);
  });

  it('close(): resolves once every request made before it is answered; later ones are refused', async () => {
    const c = await Client.connect({ socket: d.socket });
    const ps = Array.from({ length: 2000 }, (_, i) => c.publish({ type: 'Closing', stream: 'close:1', data: { i } }));
    const settled = Promise.allSettled(ps);
    await c.close();
    const rs = await settled;
    assert.ok(rs.every((r) => r.status === 'fulfilled'), 'every publish answered before close resolved');
    await nack(c.publish({ type: 'Late' }), 'closed');
    assert.strictEqual((await queryAll(admin, { stream: 'close:1' })).length, 2000);
  });
});

describe('busy (store lmdb)', { timeout: SUITE_MS }, () => {
  const d = new Daemon({
    store: 'lmdb',
    yaml: 'limits:\n  max_inflight_per_connection: 4\n  max_connections: 2',
  });
  before(() => d.start());
  after(async () => assert.deepStrictEqual(await d.stop(), { code: 0, signal: null }, d.log()));

  it('WELCOME: durable true for lmdb; max_inflight from the config', async () => {
    const c = await Client.connect({ socket: d.socket });
    assert.strictEqual(c.welcome.durable, true);
    assert.strictEqual(c.welcome.limits.maxInflight, 4);
    await c.close();
  });

  it('the client keeps within max_inflight: no busy however many wait', async () => {
    const c = await Client.connect({ socket: d.socket });
    const rs = await Promise.all(Array.from({ length: 500 }, () => c.publish({ type: 'Paced', stream: 'paced:1' })));
    assert.strictEqual(new Set(rs.map((r) => r.seq)).size, 500);
    await c.close();
  });

  it('NACK busy: more requests in flight than max_inflight_per_connection, with retry_after_ms', async () => {
    const c = await Client.connect({ socket: d.socket, maxInflight: 64 });
    const rs = await Promise.allSettled(Array.from({ length: 64 }, () => c.publish({ type: 'Eager', stream: 'eager:1' })));
    const busy = rs.filter((r) => r.status === 'rejected');
    const ok = rs.filter((r) => r.status === 'fulfilled');
    assert.ok(busy.length >= 1, 'some answered busy');
    for (const b of busy) {
      assert.strictEqual(b.reason.code, 'busy', b.reason.message);
      assert.ok(b.reason.retryAfterMs !== null, 'retry_after_ms given');
    }
    const admin = await Client.connect({ socket: d.adminSocket });
    const rows = await queryAll(admin, { stream: 'eager:1' });
    assert.deepStrictEqual(
      rows.map((x) => x.id).sort(),
      ok.map((r) => r.value.id).sort(),
      'exactly the acked ones stored',
    );
    await admin.close();
    await c.close();
  });

  it('NACK busy at connect: max_connections reached', async () => {
    const a = await Client.connect({ socket: d.socket });
    const b = await Client.connect({ socket: d.socket });
    try {
      const e = await nack(Client.connect({ socket: d.socket, reconnect: false }), 'busy');
      assert.strictEqual(e.requestId, 0);
      assert.ok(e.retryAfterMs > 0, `retry_after_ms ${e.retryAfterMs}`);
      assert.match(e.message, /max_connections/);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('store_full (store lmdb, map_size 1MiB)', { timeout: SUITE_MS }, () => {
  const d = new Daemon({ store: 'lmdb' });
  /* The harness's store block with a map the events fill quickly. */
  require('node:fs').writeFileSync(d.config, require('node:fs').readFileSync(d.config, 'utf8').replace('map_size: 4GiB', 'map_size: 1MiB'));
  before(() => d.start());
  after(async () => assert.deepStrictEqual(await d.stop(), { code: 0, signal: null }, d.log()));

  it('NACK store_full once the map is full, with retry_after_ms; everything acked before it is stored', async () => {
    const c = await Client.connect({ socket: d.socket });
    const acked = [];
    let e = null;
    for (let i = 0; i < 2000 && e === null; i++) {
      await c.publish({ type: 'Fill', stream: 'fill:1', data: Buffer.alloc(4000, 0x61) }).then(
        (r) => acked.push(r.id),
        (x) => (e = x),
      );
    }
    assert.ok(e instanceof EventRouterError, `refused within 2000 events of 4 KB: ${e}`);
    assert.strictEqual(e.code, 'store_full', e.message);
    assert.ok(e.retryAfterMs !== null);
    assert.ok(acked.length > 0);
    await c.close();
    const admin = await Client.connect({ socket: d.adminSocket });
    assert.deepStrictEqual(
      (await queryAll(admin, { stream: 'fill:1' })).map((x) => x.id),
      acked,
    );
    await admin.close();
  });
});

describe('reconnect after daemon restarts (store lmdb)', { timeout: SUITE_MS }, () => {
  let d;
  const published = new Map(); /* id -> seq the client was answered */
  let c;
  let admin;
  before(async () => {
    d = await new Daemon({ store: 'lmdb' }).start();
    c = await Client.connect({ socket: d.socket, backoff: { initialMs: 20, maxMs: 500 } });
  });
  after(async () => {
    await c?.close();
    await admin?.close();
    if (d) assert.deepStrictEqual(await d.stop(), { code: 0, signal: null }, d.log());
  });

  /* Publishes n events to stream S without waiting; when `after` of them
   * are answered, stop the daemon with signal and start it again on the
   * same store. Resolves when every one is answered. */
  async function publishThroughRestart(n, after, signal, stream) {
    let answered = 0;
    let restarted;
    const trigger = new Promise((resolve) => (restarted = resolve));
    const ps = Array.from({ length: n }, (_, i) =>
      c.publish({ type: 'Restart', stream, data: { i } }).then((r) => {
        if (++answered === after) restarted();
        return r;
      }),
    );
    await trigger;
    const r = await d.stop(signal);
    if (signal === 'SIGTERM') assert.deepStrictEqual(r, { code: 0, signal: null }, d.log());
    d = await new Daemon({ store: 'lmdb', dir: d.dir }).start();
    const rs = await Promise.all(ps);
    for (const x of rs) {
      assert.ok(!published.has(x.id));
      published.set(x.id, x.seq);
    }
    return rs;
  }

  it('a crash (SIGKILL) mid-stream: every publish answered once the daemon is back', async () => {
    const n = scaled(4000, 200);
    const rs = await publishThroughRestart(n, Math.floor(n / 10), 'SIGKILL', 'restart:kill');
    assert.strictEqual(rs.length, n);
    assert.ok(rs.every((r) => typeof r.seq === 'bigint'));
  });

  it('a clean stop (GOAWAY) mid-stream: the client reconnects and resends', async () => {
    let goaway = null;
    c.once('goaway', (reason) => (goaway = reason));
    const n = scaled(4000, 200);
    const rs = await publishThroughRestart(n, Math.floor(n / 10), 'SIGTERM', 'restart:term');
    assert.strictEqual(rs.length, n);
    assert.ok(goaway !== null, 'GOAWAY seen');
  });

  it('the same id after a restart: a duplicate with the original seq', async () => {
    const [id, seq] = published.entries().next().value;
    const r = await c.publish({ type: 'Restart', stream: 'restart:kill', id });
    assert.strictEqual(r.duplicate, true);
    assert.strictEqual(r.seq, seq);
  });

  it('the store holds every id once, at the seq its publisher was answered', async () => {
    admin = await Client.connect({ socket: d.adminSocket });
    const rows = [
      ...(await queryAll(admin, { stream: 'restart:kill' })),
      ...(await queryAll(admin, { stream: 'restart:term' })),
    ];
    const ids = rows.map((x) => x.id);
    assert.strictEqual(new Set(ids).size, ids.length, 'no id stored twice');
    assert.strictEqual(rows.length, published.size, 'every publish stored');
    for (const x of rows) assert.strictEqual(x.seq, published.get(x.id), `seq of ${x.id}`);
  });
});

describe('pipelining at volume (store memory)', { timeout: SUITE_MS }, () => {
  const d = new Daemon({ store: 'memory' });
  before(() => d.start());
  after(async () => assert.deepStrictEqual(await d.stop(), { code: 0, signal: null }, d.log()));

  it('100,000 events pipelined on one connection: seqs 1..N in order, query returns them all', async () => {
    const n = scaled(100000, 1000);
    const c = await Client.connect({ socket: d.socket });
    const ps = new Array(n);
    for (let i = 0; i < n; i++) ps[i] = c.publish({ type: 'Bulk', stream: 'bulk:1', data: { i } });
    const rs = await Promise.all(ps);
    rs.forEach((r, i) => {
      if (r.seq !== BigInt(i + 1)) assert.fail(`publish ${i}: seq ${r.seq}, want ${i + 1}`);
    });
    await c.close();
    const admin = await Client.connect({ socket: d.adminSocket });
    let k = 0;
    const s = admin.query({ stream: 'bulk:1' });
    for await (const row of s) {
      if (row.id !== rs[k].id || row.seq !== rs[k].seq) assert.fail(`row ${k}: ${row.id}/${row.seq}`);
      if (JSON.parse(Buffer.from(row.data).toString()).i !== k) assert.fail(`row ${k}: data`);
      k++;
    }
    assert.strictEqual(k, n);
    assert.strictEqual(s.count, BigInt(n));
    await admin.close();
  });
});

describe('tail, and reading on the publish socket by an acl rule (store memory)', { timeout: SUITE_MS }, () => {
  const d = new Daemon({
    store: 'memory',
    yaml: `limits:\n  tail_max_lag: 500\n  max_frame: 64KiB\n  max_event_size: 32KiB\n  max_connection_memory: 64KiB\nacl:\n  - { uid: ${process.getuid()}, read: true }`,
  });
  let pub;
  let admin;
  before(async () => {
    await d.start();
    pub = await Client.connect({ socket: d.socket });
    admin = await Client.connect({ socket: d.adminSocket });
  });
  after(async () => {
    pub?.destroy();
    admin?.destroy();
    if (d.pid) assert.deepStrictEqual(await d.stop(), { code: 0, signal: null }, d.log());
  });

  const live = (n, stream, other) =>
    Array.from({ length: n }, (_, i) => ({ type: 'Live', stream: i % 2 ? stream : other, data: { i } }));

  it('TAIL from_seq: the stored events first, then new ones, no gap or repeat; CANCEL → END', async () => {
    const before = await pub.publishBatch(live(6, 'tail:1', 'tail:x'));
    const s = admin.tail({ stream: 'tail:1', from_seq: 1 });
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await s.next()).value.seq);
    assert.deepStrictEqual(got, before.seqs.filter((_, i) => i % 2));
    const after = await pub.publishBatch(live(10, 'tail:1', 'tail:x'));
    for (let i = 0; i < 5; i++) got.push((await s.next()).value.seq);
    assert.deepStrictEqual(got.slice(3), after.seqs.filter((_, i) => i % 2));
    assert.strictEqual(await s.cancel(), 8n);
  });

  it('TAIL without from_seq: from the head at its arrival; limit ends it with END', async () => {
    await pub.publish({ type: 'Old', stream: 'tail:2' });
    const s = admin.tail({ stream: 'tail:2', limit: 4 });
    await admin.ping(); /* answered in order: the TAIL has arrived */
    const r = await pub.publishBatch(live(8, 'tail:2', 'tail:y'));
    const rows = await s.toArray();
    assert.deepStrictEqual(
      rows.map((x) => x.seq),
      r.seqs.filter((_, i) => i % 2),
    );
    assert.strictEqual(s.count, 4n);
  });

  it('acl read: QUERY and TAIL served on the publish socket', async () => {
    const rows = await pub.query({ stream: 'tail:1' }).toArray();
    assert.strictEqual(rows.length, 8);
    const t = pub.tail({ stream: 'tail:1', from_seq: 1, limit: 2 });
    assert.strictEqual((await t.toArray()).length, 2);
  });

  it('a reader that does not read: the daemon ends its tail with NACK busy past tail_max_lag', async () => {
    const slow = await Client.connect({ socket: d.adminSocket, rowHighWater: 1 });
    try {
      const s = slow.tail({ stream: 'lag:1' });
      await slow.ping();
      const n = 5000;
      for (let k = 0; k < n / 200; k++)
        await pub.publishBatch(Array.from({ length: 200 }, () => ({ type: 'Lag', stream: 'lag:1', data: 'x'.repeat(100) })));
      const seqs = [];
      const e = await (async () => {
        try {
          for await (const row of s) seqs.push(row.seq);
        } catch (x) {
          return x;
        }
        return null;
      })();
      assert.ok(e instanceof EventRouterError, `ended by ${e}`);
      assert.strictEqual(e.code, 'busy', e.message);
      assert.match(e.message, /tail_max_lag/);
      assert.ok(seqs.length < n, `${seqs.length} rows before the NACK`);
      for (let i = 1; i < seqs.length; i++) assert.strictEqual(seqs[i], seqs[i - 1] + 1n, 'rows in order, no gap');
    } finally {
      slow.destroy();
    }
  });

  it('a stopping daemon ends a tail with NACK shutting_down', async () => {
    const s = admin.tail({ stream: 'tail:3' });
    await admin.ping();
    await pub.publish({ type: 'Last', stream: 'tail:3' });
    assert.strictEqual((await s.next()).value.type, 'Last');
    const stopping = d.stop();
    const e = await s.next().then(
      (v) => v,
      (x) => x,
    );
    assert.deepStrictEqual(await stopping, { code: 0, signal: null }, d.log());
    assert.ok(e instanceof EventRouterError, `ended by ${JSON.stringify(e)}`);
    assert.strictEqual(e.code, 'shutting_down', e.message);
  });
});
