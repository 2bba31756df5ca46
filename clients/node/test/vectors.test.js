'use strict';
/*
 * The protocol test vectors (tests/vectors/, README.md there) against this
 * client's codec, byte for byte, as tests/unit/check_vectors.c does for the
 * C codec:
 *  - every canonical to_daemon vector: the client's encoder, given the
 *    vector's meaning, writes exactly its bytes (HELLO, PUBLISH, batches,
 *    PING, QUERY, TAIL, CANCEL; ops the client never sends through the
 *    generic encoder);
 *  - every to_client vector: the client's receive path (framer, header,
 *    body, the message parser) reads the typed body and the message, or
 *    refuses it with the class and field the vector names; canonical ones
 *    re-encode to the same bytes;
 *  - every to_daemon vector with a body decodes to it; framer and header
 *    errors are refused with their class; body errors that are msgpack's
 *    (truncated, trailing bytes, duplicate keys) are refused by the
 *    generic decoder too (the rest are the daemon's event rules).
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { codec, ProtocolError } = require('../dist');

const DIR = process.env.ER_SRCDIR
  ? path.join(process.env.ER_SRCDIR, 'tests', 'vectors')
  : path.join(__dirname, '..', '..', '..', 'tests', 'vectors');
const FILES = ['session', 'publish', 'batch', 'answers', 'ops', 'framing'];

function size(s) {
  const m = /^(\d+)(KiB|MiB)?$/.exec(String(s));
  assert.ok(m, `limit ${s}`);
  return Number(m[1]) * (m[2] === 'KiB' ? 1024 : m[2] === 'MiB' ? 1048576 : 1);
}

/** Typed JSON (README "Bodies: typed JSON") to the value the encoder takes. */
function toValue(t) {
  if (Array.isArray(t)) return t.map(toValue);
  if (t !== null && typeof t === 'object') {
    const keys = Object.keys(t);
    if (keys.length === 1 && (keys[0] === '$uint' || keys[0] === '$int')) return BigInt(t[keys[0]]);
    if (keys.length === 1 && keys[0] === '$bin') return Uint8Array.from(Buffer.from(t.$bin, 'hex'));
    const o = {};
    for (const k of keys) o[k] = toValue(t[k]);
    return o;
  }
  return t;
}

/** Asserts that decoded equals typed JSON t: values, types and key order. */
function assertTyped(v, t, where) {
  if (t === null || typeof t === 'boolean' || typeof t === 'string') {
    assert.strictEqual(v, t, where);
  } else if (typeof t === 'number') {
    assert.ok(typeof v === 'number' || typeof v === 'bigint', `${where}: an integer, got ${typeof v}`);
    assert.strictEqual(BigInt(v), BigInt(t), where);
  } else if (Array.isArray(t)) {
    assert.ok(Array.isArray(v), `${where}: an array`);
    assert.strictEqual(v.length, t.length, `${where}: length`);
    t.forEach((x, i) => assertTyped(v[i], x, `${where}[${i}]`));
  } else {
    const keys = Object.keys(t);
    if (keys.length === 1 && (keys[0] === '$uint' || keys[0] === '$int')) {
      assert.ok(typeof v === 'bigint' || typeof v === 'number', `${where}: an integer`);
      assert.strictEqual(BigInt(v), BigInt(t[keys[0]]), where);
    } else if (keys.length === 1 && keys[0] === '$bin') {
      assert.ok(v instanceof Uint8Array, `${where}: bin`);
      assert.strictEqual(Buffer.from(v).toString('hex'), t.$bin, where);
    } else {
      assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${where}: a map`);
      assert.deepStrictEqual(Object.keys(v), keys, `${where}: keys in wire order`);
      for (const k of keys) assertTyped(v[k], t[k], `${where}.${k}`);
    }
  }
}

/** The client's encoder for a to_daemon op, given the vector's meaning. */
function encodeBody(op, body) {
  const v = toValue(body);
  switch (op) {
    case codec.Op.HELLO:
      return codec.encodeHello(v);
    case codec.Op.PUBLISH:
      return codec.encodeEvent(v);
    case codec.Op.PUBLISH_BATCH:
      return codec.encodeBatch(v);
    case codec.Op.QUERY:
    case codec.Op.TAIL:
      return codec.encodeFilter(v);
    default:
      return v === null ? codec.NIL : codec.encodeValue(codec.normalizeInts(v));
  }
}

/** Frames of hex through the framer with the file's max_frame. */
function frames(hex, maxFrame) {
  const r = new codec.FrameReader(maxFrame);
  const out = r.push(Buffer.from(hex, 'hex'));
  r.end();
  return out;
}

function assertRefused(fn, err, where) {
  assert.throws(
    fn,
    (e) => {
      assert.ok(e instanceof ProtocolError, `${where}: a ProtocolError, got ${e}`);
      assert.strictEqual(e.cls, err.class, `${where}: class (${e.message})`);
      assert.strictEqual(e.stage, err.stage, `${where}: stage (${e.message})`);
      if (err.field) assert.strictEqual(e.field, err.field, `${where}: field (${e.message})`);
      return true;
    },
    where,
  );
}

const counts = { encoded: 0, decoded: 0, refused: 0, daemonRules: 0 };

for (const file of FILES) {
  const doc = JSON.parse(fs.readFileSync(path.join(DIR, `${file}.json`), 'utf8'));
  const maxFrame = size(doc.limits.max_frame);
  test(`vectors: ${file}.json`, () => {
    assert.strictEqual(doc.format, 1);
    for (const v of doc.vectors) {
      const where = `${file}/${v.name}`;
      const hasBody = v.frame && 'body' in v.frame;
      if (v.direction === 'to_client') {
        if (hasBody) {
          const [p] = frames(v.hex, maxFrame);
          const m = codec.parseDaemonFrame(p);
          assert.strictEqual(m.op, v.frame.op, where);
          assert.strictEqual(m.requestId, v.frame.request_id, where);
          const h = codec.decodeHeader(p);
          assertTyped(codec.decodeBody(h.body), v.frame.body, where);
          checkMessage(m, v.frame.body, where);
          if (v.canonical) {
            const bytes = codec.encodeFrame(v.frame.op, v.frame.request_id, encodeBody(v.frame.op, v.frame.body));
            assert.strictEqual(bytes.toString('hex'), v.hex, `${where}: re-encoded`);
            counts.encoded++;
          }
          counts.decoded++;
        } else {
          assertRefused(() => frames(v.hex, maxFrame).forEach((p) => codec.parseDaemonFrame(p)), v.error, where);
          counts.refused++;
        }
        continue;
      }
      /* to_daemon */
      if (hasBody) {
        const [p] = frames(v.hex, maxFrame);
        const h = codec.decodeHeader(p);
        assert.strictEqual(h.op, v.frame.op, where);
        assert.strictEqual(h.requestId, v.frame.request_id, where);
        assertTyped(codec.decodeBody(h.body), v.frame.body, where);
        counts.decoded++;
        const bytes = codec.encodeFrame(v.frame.op, v.frame.request_id, encodeBody(v.frame.op, v.frame.body));
        if (v.canonical) {
          assert.strictEqual(bytes.toString('hex'), v.hex, `${where}: encoded`);
          counts.encoded++;
        } else {
          /* The encoder writes the canonical form instead, which decodes
           * to the same meaning (priority names for numbers aside). */
          assert.notStrictEqual(bytes.toString('hex'), v.hex, `${where}: not canonical, yet encoded the same`);
        }
      } else if (v.error.stage !== 'body') {
        assertRefused(
          () => frames(v.hex, maxFrame).forEach((p) => codec.decodeHeader(p)),
          v.error,
          where,
        );
        counts.refused++;
      } else if (['ETRUNC', 'ETRAILING', 'EDUPKEY'].includes(v.error.class) && v.error.index === undefined) {
        const [p] = frames(v.hex, maxFrame);
        const h = codec.decodeHeader(p);
        assertRefused(() => codec.decodeBody(h.body), { ...v.error, field: undefined }, where);
        counts.refused++;
      } else {
        counts.daemonRules++;
      }
    }
  });
}

/** The parsed message holds the body's fields. */
function checkMessage(m, body, where) {
  switch (m.op) {
    case codec.Op.WELCOME: {
      assert.strictEqual(m.welcome.version, body.version, where);
      assert.strictEqual(m.welcome.durable, body.durable, where);
      const l = body.limits || {};
      assert.deepStrictEqual(
        m.welcome.limits,
        {
          maxFrame: l.max_frame ?? 1048576,
          maxEventSize: l.max_event_size ?? 524288,
          maxBatch: l.max_batch ?? 1024,
          maxInflight: l.max_inflight ?? 4096,
        },
        where,
      );
      break;
    }
    case codec.Op.ACK: {
      const seq = typeof body.seq === 'object' ? BigInt(body.seq.$uint) : BigInt(body.seq);
      assert.strictEqual(m.ack.seq, seq, where);
      assert.strictEqual(typeof m.ack.seq, 'bigint', `${where}: seq is a bigint`);
      assert.strictEqual(m.ack.count, body.count, where);
      assert.deepStrictEqual(
        m.ack.dups,
        (body.dups || []).map(([i, s]) => [i, BigInt(s)]),
        where,
      );
      break;
    }
    case codec.Op.NACK:
      assert.deepStrictEqual(
        m.nack,
        {
          code: body.code,
          message: body.message ?? '',
          index: body.index ?? null,
          retryAfterMs: body.retry_after_ms ?? null,
        },
        where,
      );
      break;
    case codec.Op.GOAWAY:
      assert.strictEqual(m.reason, body.reason, where);
      break;
    case codec.Op.PONG:
      assert.strictEqual(body, null, where);
      break;
    default:
      assert.fail(`${where}: op ${m.op} not checked`);
  }
}

test('vectors: every file was read, and each kind of check ran', (t) => {
  t.diagnostic(`encoded ${counts.encoded}, decoded ${counts.decoded}, refused ${counts.refused}, left to the daemon's event rules ${counts.daemonRules}`);
  assert.ok(counts.encoded >= 40, `canonical encodings checked: ${counts.encoded}`);
  assert.ok(counts.decoded >= 60, `decodings checked: ${counts.decoded}`);
  assert.ok(counts.refused >= 30, `refusals checked: ${counts.refused}`);
});

test('wireInt: shortest integer forms, bigint only beyond 32 bits', () => {
  assert.strictEqual(codec.wireInt(5n), 5);
  assert.strictEqual(codec.wireInt(2 ** 32), 2n ** 32n);
  assert.strictEqual(codec.wireInt(-(2 ** 31)), -(2 ** 31));
  assert.strictEqual(codec.wireInt(-(2 ** 31) - 1), -(2n ** 31n) - 1n);
  assert.throws(() => codec.wireInt(1.5), TypeError);
  assert.throws(() => codec.wireInt(2 ** 64 * 1.0), TypeError);
  assert.throws(() => codec.wireInt(2n ** 64n), RangeError);
  const t = codec.encodeEvent({ type: 'T', time: 1700000000123456 });
  assert.strictEqual(Buffer.from(t).toString('hex'), '82a474797065a154a474696d65cf00060a2418202240');
});
