'use strict';
/*
 * The client against a scripted daemon (a Unix socket server here), for
 * what a real daemon does not do on demand: a lost connection at a chosen
 * point, duplicates in an ACK, GOAWAY, and messages that break the
 * protocol (bytes from tests/vectors/).
 */
const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { Client, ProtocolError, codec } = require('../dist');
const { tmpdir } = require('./harness');

const VECTORS = process.env.ER_SRCDIR
  ? path.join(process.env.ER_SRCDIR, 'tests', 'vectors')
  : path.join(__dirname, '..', '..', '..', 'tests', 'vectors');
function vector(file, name) {
  const v = JSON.parse(fs.readFileSync(path.join(VECTORS, `${file}.json`), 'utf8')).vectors.find((x) => x.name === name);
  assert.ok(v, `${file}/${name}`);
  return Buffer.from(v.hex, 'hex');
}

const WELCOME = { version: 1, durable: true, limits: { max_frame: 65536, max_event_size: 32768, max_batch: 16, max_inflight: 64 } };

/**
 * A scripted daemon: script(conn, frame, k) for every frame of connection
 * k (0, 1, …); frame = {op, requestId, body (decoded)}. HELLO is answered
 * with WELCOME unless the script returns true for it.
 */
function fake(script) {
  const sock = path.join(tmpdir(), 'fake.sock');
  const conns = [];
  const server = net.createServer((c) => {
    const k = conns.length;
    conns.push(c);
    const r = new codec.FrameReader(1 << 20);
    c.send = (op, rid, body) => c.write(codec.encodeFrame(op, rid, body === null ? codec.NIL : codec.encodeValue(codec.normalizeInts(body))));
    c.on('error', () => {});
    c.on('data', (chunk) => {
      for (const p of r.push(chunk)) {
        const h = codec.decodeHeader(p);
        const f = { op: h.op, requestId: h.requestId, body: codec.decodeBody(h.body) };
        if (script(c, f, k) !== true && f.op === codec.Op.HELLO) c.send(codec.Op.WELCOME, 0, WELCOME);
      }
    });
  });
  server.listen(sock);
  return {
    sock,
    conns,
    ready: new Promise((r) => server.once('listening', r)),
    close: () => {
      for (const c of conns) c.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

describe('the client against a scripted daemon', () => {
  const fakes = [];
  after(async () => {
    for (const f of fakes) await f.close();
  });

  it('a WELCOME with a repeated key: connect rejects with ProtocolError EDUPKEY', async () => {
    const f = fake((c, fr) => {
      if (fr.op === codec.Op.HELLO) {
        c.write(vector('session', 'welcome-duplicate-key'));
        return true;
      }
    });
    fakes.push(f);
    await f.ready;
    await assert.rejects(Client.connect({ socket: f.sock }), (e) => {
      assert.ok(e instanceof ProtocolError, String(e));
      assert.strictEqual(e.cls, 'EDUPKEY');
      assert.strictEqual(e.field, 'version');
      return true;
    });
  });

  it('a lost connection: unanswered events are sent again with their ids; a duplicate resolves with the original seq', async () => {
    const seen = [[], []];
    const f = fake((c, fr, k) => {
      if (fr.op !== codec.Op.PUBLISH) return;
      seen[k].push(fr.body);
      if (k === 0) {
        /* Answer the first, then drop the connection with two unanswered. */
        if (seen[0].length === 1) c.send(codec.Op.ACK, fr.requestId, { seq: 1, count: 1, dups: null });
        if (seen[0].length === 3) c.destroy();
      } else if (seen[1].length === 1) {
        c.send(codec.Op.ACK, fr.requestId, { seq: 0, count: 0, dups: [[0, 7]] });
      } else {
        c.send(codec.Op.ACK, fr.requestId, { seq: 8, count: 1, dups: null });
      }
    });
    fakes.push(f);
    await f.ready;
    const c = await Client.connect({ socket: f.sock, backoff: { initialMs: 5, maxMs: 50 } });
    const lost = new Promise((r) => c.once('disconnect', r));
    const rs = await Promise.all([1, 2, 3].map((i) => c.publish({ type: 'T', data: { i } })));
    await lost;
    assert.deepStrictEqual(
      rs.map((r) => [r.seq, r.duplicate]),
      [
        [1n, false],
        [7n, true],
        [8n, false],
      ],
    );
    assert.strictEqual(seen[1].length, 2, 'exactly the two unanswered ones sent again');
    assert.deepStrictEqual(seen[1], seen[0].slice(1), 'the same events, ids included');
    assert.deepStrictEqual(
      seen[1].map((b) => b.id),
      [rs[1].id, rs[2].id],
    );
    await c.close();
  });

  it('GOAWAY: nothing more on that connection; the next publish goes to the next one', async () => {
    const counts = [0, 0];
    const f = fake((c, fr, k) => {
      if (fr.op !== codec.Op.PUBLISH) return;
      counts[k]++;
      c.send(codec.Op.ACK, fr.requestId, { seq: counts[0] + counts[1], count: 1, dups: null });
      if (k === 0) {
        c.send(codec.Op.GOAWAY, 0, { reason: 'shutting down' });
        setTimeout(() => c.end(), 20);
      }
    });
    fakes.push(f);
    await f.ready;
    const c = await Client.connect({ socket: f.sock, backoff: { initialMs: 5, maxMs: 50 } });
    const goaway = new Promise((r) => c.once('goaway', r));
    assert.strictEqual((await c.publish({ type: 'A' })).seq, 1n);
    assert.strictEqual(await goaway, 'shutting down');
    assert.strictEqual((await c.publish({ type: 'B' })).seq, 2n);
    assert.deepStrictEqual(counts, [1, 1]);
    await c.close();
  });

  it('an ACK with trailing bytes drops the connection (ETRAILING); the event is answered on the next one', async () => {
    let n = 0;
    const f = fake((c, fr, k) => {
      if (fr.op !== codec.Op.PUBLISH) return;
      n++;
      if (k === 0) c.write(vector('answers', 'ack-trailing-bytes'));
      else c.send(codec.Op.ACK, fr.requestId, { seq: 3, count: 1, dups: null });
    });
    fakes.push(f);
    await f.ready;
    const c = await Client.connect({ socket: f.sock, backoff: { initialMs: 5, maxMs: 50 } });
    const lost = new Promise((r) => c.once('disconnect', r));
    const r = await c.publish({ type: 'T' });
    const e = await lost;
    assert.ok(e instanceof ProtocolError, String(e));
    assert.strictEqual(e.cls, 'ETRAILING');
    assert.strictEqual(r.seq, 3n);
    assert.strictEqual(n, 2);
    await c.close();
  });

  it('a query asked for while reconnecting is sent once the connection is back', async () => {
    const f = fake((c, fr, k) => {
      if (k === 0 && fr.op === codec.Op.PUBLISH) c.destroy();
      else if (fr.op === codec.Op.PUBLISH) c.send(codec.Op.ACK, fr.requestId, { seq: 1, count: 1, dups: null });
      else if (fr.op === codec.Op.QUERY) {
        assert.deepStrictEqual(fr.body, { stream: 's:1' });
        c.send(codec.Op.ROWS, fr.requestId, [{ type: 'T', id: 'x', seq: 1, stream: 's:1', time: 5, received: 6 }]);
        c.send(codec.Op.END, fr.requestId, { count: 1 });
      }
    });
    fakes.push(f);
    await f.ready;
    const c = await Client.connect({ socket: f.sock, backoff: { initialMs: 5, maxMs: 50 } });
    const lost = new Promise((r) => c.once('disconnect', r));
    const p = c.publish({ type: 'T', stream: 's:1' });
    await lost;
    assert.strictEqual(c.connected, false);
    const rows = await c.query({ stream: 's:1' }).toArray();
    assert.deepStrictEqual(
      rows.map((r) => [r.seq, r.id, r.topic, r.priority]),
      [[1n, 'x', 'T', 'normal']],
    );
    assert.strictEqual((await p).seq, 1n);
    await c.close();
  });

  it('NACK shutting_down: the event waits for the next connection instead of failing', async () => {
    const f = fake((c, fr, k) => {
      if (fr.op !== codec.Op.PUBLISH) return;
      if (k === 0) {
        c.send(codec.Op.NACK, fr.requestId, { code: 'shutting_down', message: 'stopping', index: null, retry_after_ms: null });
        setTimeout(() => c.end(), 20);
      } else {
        c.send(codec.Op.ACK, fr.requestId, { seq: 11, count: 1, dups: null });
      }
    });
    fakes.push(f);
    await f.ready;
    const c = await Client.connect({ socket: f.sock, backoff: { initialMs: 5, maxMs: 50 } });
    assert.strictEqual((await c.publish({ type: 'T' })).seq, 11n);
    await c.close();
  });
});
