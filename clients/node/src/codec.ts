/*
 * The wire codec (DESIGN §4, eventrouter-protocol(7)): frames are a 4-byte
 * big-endian length and one msgpack array [op, request_id, body]. msgpack
 * itself goes through @msgpack/msgpack; this file adds what the protocol
 * needs on top of it and the library does not do:
 *
 *  - canonical bytes: every integer in its shortest form (the library
 *    writes a number above 2^32 as uint64 only without useBigInt64, and a
 *    bigint always as 9 bytes), so ints are normalised first (wireInt);
 *    event keys in the canonical order (tests/vectors/README.md);
 *  - a uint64 seq decoded as bigint (useBigInt64 on the decoder);
 *  - strict decoding of the daemon's messages: duplicate keys refused
 *    (the library keeps the last), trailing bytes, wrong types — each
 *    reported as a ProtocolError with the class the test vectors name.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { ProtocolError } from './errors';

export const Op = {
  HELLO: 1,
  PUBLISH: 2,
  PUBLISH_BATCH: 3,
  PING: 4,
  QUERY: 5,
  TAIL: 6,
  CANCEL: 7,
  ADMIN: 8,
  WELCOME: 64,
  ACK: 65,
  NACK: 66,
  PONG: 67,
  ROWS: 68,
  END: 69,
  REPLY: 70,
  GOAWAY: 71,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

export const OP_NAMES: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k])),
);

/** Protocol defaults for limits a WELCOME leaves out. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrame: 1048576,
  maxEventSize: 524288,
  maxBatch: 1024,
  maxInflight: 4096,
});

export type AckMode = 'none' | 'received' | 'durable';
export type PriorityName = 'low' | 'normal' | 'high' | 'critical';
export const PRIORITY_NAMES: readonly PriorityName[] = ['low', 'normal', 'high', 'critical'];

/**
 * An event as the wire has it (DESIGN §3), keys by their wire names.
 * `time` is µs since the epoch. `data`: a Uint8Array is sent as bin, a
 * string as str (both as they are); any other value is sent as its JSON
 * text (bin). Keys not listed here are sent too (after the known ones),
 * and the daemon refuses them naming the key.
 */
export interface WireEvent {
  type: string;
  version?: number;
  priority?: PriorityName | 0 | 1 | 2 | 3;
  time?: number | bigint;
  topic?: string;
  id?: string;
  stream?: string;
  correlation_id?: string;
  causation_id?: string;
  source?: string;
  traceparent?: string;
  tracestate?: string;
  content_type?: string;
  data?: unknown;
  meta?: Record<string, string> | Map<string, string>;
  [other: string]: unknown;
}

/** An event read back from the daemon (ROWS): the client's fields plus the daemon's. */
export interface StoredEvent {
  seq: bigint;
  type: string;
  version: number;
  priority: PriorityName;
  /** µs since the epoch */
  time: number;
  /** µs since the epoch: when the daemon took it */
  received: number;
  topic: string;
  id: string;
  stream?: string;
  correlation_id?: string;
  causation_id?: string;
  source?: string;
  traceparent?: string;
  tracestate?: string;
  content_type?: string;
  /** bin payloads as a Buffer, str payloads as a string */
  data?: Uint8Array | string;
  meta?: Record<string, string>;
  origin?: { pid?: number; uid?: number; gid?: number; host?: string };
  via?: { broker?: string; source?: string; plugin?: string };
  hops?: number;
  [other: string]: unknown;
}

export interface Limits {
  maxFrame: number;
  maxEventSize: number;
  maxBatch: number;
  maxInflight: number;
}

export interface Welcome {
  version: number;
  durable: boolean;
  limits: Limits;
}

export interface Ack {
  /** the first newly stored seq (0 when none was) */
  seq: bigint;
  /** how many were newly stored; their seqs are consecutive from seq */
  count: number;
  /** [index in the request, original seq] of the events that were duplicates */
  dups: Array<[number, bigint]>;
}

export interface Nack {
  code: string;
  message: string;
  index: number | null;
  retryAfterMs: number | null;
}

/* ------------------------------------------------------------ encoding */

const encoder = new Encoder({ useBigInt64: true, ignoreUndefined: true });
const decoder = new Decoder({ useBigInt64: true });

const U32 = 0x100000000;
const I32_MIN = -0x80000000;

/**
 * An integer in the type @msgpack/msgpack (with useBigInt64) writes in its
 * shortest form: a number within 32 bits, a bigint beyond. Refuses what is
 * not an integer, or is a number past 2^53 (it has lost precision already).
 */
export function wireInt(v: number | bigint, what = 'integer'): number | bigint {
  if (typeof v === 'bigint') {
    if (v >= BigInt(I32_MIN) && v < BigInt(U32)) return Number(v);
    if (v > 0xffffffffffffffffn || v < -0x8000000000000000n) throw new RangeError(`${what}: beyond 64 bits`);
    return v;
  }
  if (!Number.isSafeInteger(v)) throw new TypeError(`${what}: must be an integer (a bigint past 2^53)`);
  return v >= U32 || v < I32_MIN ? BigInt(v) : v;
}

/** Every integer of a plain value tree through wireInt (floats left as they are). */
export function normalizeInts(v: unknown): unknown {
  if (typeof v === 'bigint') return wireInt(v);
  if (typeof v === 'number') return Number.isInteger(v) ? wireInt(v) : v;
  if (Array.isArray(v)) return v.map(normalizeInts);
  if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v)) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = normalizeInts(x);
    return o;
  }
  return v;
}

/** msgpack bytes of v (a copy), ints written as they are given. */
export function encodeValue(v: unknown): Uint8Array {
  return encoder.encode(v);
}

function uintBytes(n: number): number[] {
  if (n < 0x80) return [n];
  if (n < 0x100) return [0xcc, n];
  if (n < 0x10000) return [0xcd, n >> 8, n & 0xff];
  return [0xce, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** The size of a frame's header array with this op and request id (without the 4 length bytes). */
export function headerSize(requestId: number): number {
  return 2 + uintBytes(requestId).length;
}

/**
 * One frame: the length prefix, then [op, requestId, body] where body is
 * already msgpack (so a request keeps its encoded body across resends).
 */
export function encodeFrame(op: number, requestId: number, body: Uint8Array): Buffer {
  if (!Number.isInteger(requestId) || requestId < 0 || requestId >= U32) throw new RangeError('request id: a uint32');
  const head = [0x93, ...uintBytes(op), ...uintBytes(requestId)];
  const len = head.length + body.length;
  const out = Buffer.allocUnsafe(4 + len);
  out.writeUInt32BE(len, 0);
  for (let i = 0; i < head.length; i++) out[4 + i] = head[i];
  out.set(body, 4 + head.length);
  return out;
}

const EVENT_KEYS = [
  'type',
  'version',
  'priority',
  'time',
  'topic',
  'id',
  'stream',
  'correlation_id',
  'causation_id',
  'source',
  'traceparent',
  'tracestate',
  'content_type',
  'data',
  'meta',
] as const;
const EVENT_KEY_SET = new Set<string>(EVENT_KEYS);
const INT_KEYS = new Set(['version', 'time']);

function payload(data: unknown): unknown {
  if (data instanceof Uint8Array || typeof data === 'string') return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(JSON.stringify(data), 'utf8');
}

/**
 * The event map in canonical key order (tests/vectors/README.md,
 * Canonical encoding): priority numbers 0-3 as their names, meta omitted
 * when empty, undefined keys left out, other keys after the known ones in
 * the caller's order (the daemon names them in its NACK).
 */
export function eventBody(ev: WireEvent, id?: string): Record<string, unknown> {
  if (ev === null || typeof ev !== 'object') throw new TypeError('event: an object');
  const o: Record<string, unknown> = {};
  let found = 0;
  for (let i = 0; i < EVENT_KEYS.length; i++) {
    const k = EVENT_KEYS[i];
    let v = ev[k];
    if (v === undefined) {
      if (k !== 'id' || id === undefined) continue;
      v = id;
    } else {
      found++;
    }
    switch (k) {
      case 'priority':
        if (typeof v === 'number' && v >= 0 && v <= 3 && Number.isInteger(v)) v = PRIORITY_NAMES[v];
        break;
      case 'version':
      case 'time':
        if (typeof v === 'number' || typeof v === 'bigint') v = wireInt(v, k);
        break;
      case 'data':
        v = payload(v);
        break;
      case 'meta': {
        const m = v instanceof Map ? Object.fromEntries(v) : (v as Record<string, string>);
        if (Object.keys(m).length === 0) continue;
        v = m;
        break;
      }
    }
    o[k] = v;
  }
  const keys = Object.keys(ev);
  if (keys.length > found) {
    for (const k of keys) {
      if (!EVENT_KEY_SET.has(k) && ev[k] !== undefined) o[k] = normalizeInts(ev[k]);
    }
  }
  return o;
}

/** The event's canonical msgpack; `id` is used when the event has none. */
export function encodeEvent(ev: WireEvent, id?: string): Uint8Array {
  return encoder.encode(eventBody(ev, id));
}

/** A batch's msgpack; ids[i] is used for an event without one. */
export function encodeBatch(evs: readonly WireEvent[], ids?: readonly string[]): Uint8Array {
  return encoder.encode(evs.map((e, i) => eventBody(e, ids?.[i])));
}

/** HELLO's body: version, client (when given), ack (always written). */
export function encodeHello(h: { version?: number; client?: string; ack?: AckMode }): Uint8Array {
  const o: Record<string, unknown> = { version: wireInt(h.version ?? 1) };
  if (h.client !== undefined) o.client = h.client;
  o.ack = h.ack ?? 'received'; /* the protocol's default, written out */
  return encoder.encode(o);
}

/** Filter keys QUERY and TAIL take (lib/proto.c er__query_decode). */
export const FILTER_KEYS = ['stream', 'correlation_id', 'type', 'id', 'since', 'until', 'from_seq', 'limit'] as const;
export interface Filter {
  stream?: string;
  correlation_id?: string;
  type?: string;
  id?: string;
  /** µs since the epoch, on the event's time */
  since?: number | bigint;
  until?: number | bigint;
  from_seq?: number | bigint;
  limit?: number | bigint;
}

/** A QUERY or TAIL filter map: the keys given, in the caller's order. */
export function encodeFilter(f: Filter): Uint8Array {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) {
    if (v === undefined) continue;
    o[k] = typeof v === 'number' || typeof v === 'bigint' ? wireInt(v, k) : v;
  }
  return encoder.encode(o);
}

export const NIL = Uint8Array.of(0xc0);

/* ------------------------------------------------------------ decoding */

/**
 * Splits a byte stream into frame payloads. Refuses a length of 0 or above
 * maxFrame as soon as the 4 length bytes are in (nothing is allocated for
 * a length a peer merely claims).
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(public maxFrame: number) {}

  /** Bytes received and not yet a whole frame. */
  get pending(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    let off = 0;
    while (this.buf.length - off >= 4) {
      const len = this.buf.readUInt32BE(off);
      if (len === 0) throw new ProtocolError('framer', 'EFRAME', 'frame length 0');
      if (len > this.maxFrame) throw new ProtocolError('framer', 'ETOOBIG', `frame length ${len} above max_frame ${this.maxFrame}`);
      if (this.buf.length - off - 4 < len) break;
      out.push(this.buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
    return out;
  }

  /** The stream ended: refuses a frame cut short (ETRUNC). */
  end(): void {
    if (this.buf.length > 0) throw new ProtocolError('framer', 'ETRUNC', `the stream ended inside a frame (${this.buf.length} bytes)`);
  }
}

export interface Frame {
  op: number;
  requestId: number;
  /** the body's msgpack bytes (a view into the frame) */
  body: Uint8Array;
}

/* readUint's result: the value and the position after it (module-level,
 * so that reading a header allocates nothing). */
let uv = 0;
let up = 0;

/** Reads a msgpack uint at p into uv/up; false when it is not a uint. */
function readUint(b: Uint8Array, p: number, what: string): boolean {
  if (p >= b.length) throw new ProtocolError('header', 'EFRAME', `truncated: ${what} missing`);
  const t = b[p];
  let n: number;
  if (t < 0x80) {
    uv = t;
    up = p + 1;
    return true;
  }
  if (t === 0xcc) n = 1;
  else if (t === 0xcd) n = 2;
  else if (t === 0xce) n = 4;
  else if (t === 0xcf) n = 8;
  else return false;
  if (p + 1 + n > b.length) throw new ProtocolError('header', 'EFRAME', `truncated in ${what}`);
  let v = 0;
  for (let i = 1; i <= n; i++) v = v * 256 + b[p + i];
  /* 8-byte values past 2^53 lose precision here, but stay above 2^32 - 1,
   * which is all the header needs to know of them. */
  uv = v;
  up = p + 1 + n;
  return true;
}

/**
 * The header of one frame payload (what FrameReader returned). Refuses,
 * at stage "header": not one array of 3 (EFRAME), op or request id not a
 * uint (EFRAME), request id above 2^32 - 1 (EFRAME), no body (EFRAME), an
 * op not in the table (EBADOP: the error's message names it).
 */
export function decodeHeader(p: Uint8Array): Frame {
  if (p.length === 0) throw new ProtocolError('header', 'EFRAME', 'truncated: empty frame');
  const t = p[0];
  let n: number;
  let pos: number;
  if (t >= 0x90 && t <= 0x9f) {
    n = t & 0x0f;
    pos = 1;
  } else if (t === 0xdc && p.length >= 3) {
    n = (p[1] << 8) | p[2];
    pos = 3;
  } else if (t === 0xdd && p.length >= 5) {
    n = new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(1);
    pos = 5;
  } else if (t === 0xc1) {
    throw new ProtocolError('header', 'EFRAME', 'not msgpack');
  } else if (t === 0xdc || t === 0xdd) {
    throw new ProtocolError('header', 'EFRAME', 'truncated array header');
  } else {
    throw new ProtocolError('header', 'EFRAME', 'expected an array [op, request_id, body]');
  }
  if (n !== 3) {
    throw new ProtocolError(
      'header',
      'EFRAME',
      n > p.length ? 'truncated: array count larger than the frame' : 'expected an array of 3 [op, request_id, body]',
    );
  }
  if (!readUint(p, pos, 'op')) throw new ProtocolError('header', 'EFRAME', 'op must be a uint');
  const op = uv;
  if (!readUint(p, up, 'request_id') || uv >= U32) throw new ProtocolError('header', 'EFRAME', 'request_id must be a uint32');
  const rid = uv;
  if (!(op in OP_NAMES)) throw new ProtocolError('header', 'EBADOP', `unknown op ${op}`);
  if (up >= p.length) throw new ProtocolError('header', 'EFRAME', 'body missing');
  return { op, requestId: rid, body: p.subarray(up) };
}

/* Skips one msgpack value at p checking every map for a repeated key;
 * returns the position after it. Only run on bytes the decoder accepted. */
function scanDups(b: Uint8Array, dv: DataView, p: number, depth: number): number {
  if (depth > 512) throw new ProtocolError('body', 'ETOOBIG', 'nested deeper than 512');
  const t = b[p];
  if (t < 0x80 || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return p + 1;
  if (t <= 0x8f) return scanMap(b, dv, t & 0x0f, p + 1, depth);
  if (t <= 0x9f) return scanArray(b, dv, t & 0x0f, p + 1, depth);
  if (t <= 0xbf) return p + 1 + (t & 0x1f);
  switch (t) {
    case 0xc4:
    case 0xd9:
      return p + 2 + b[p + 1];
    case 0xc5:
    case 0xda:
      return p + 3 + dv.getUint16(p + 1);
    case 0xc6:
    case 0xdb:
      return p + 5 + dv.getUint32(p + 1);
    case 0xc7:
      return p + 3 + b[p + 1];
    case 0xc8:
      return p + 4 + dv.getUint16(p + 1);
    case 0xc9:
      return p + 6 + dv.getUint32(p + 1);
    case 0xca:
      return p + 5;
    case 0xcb:
      return p + 9;
    case 0xcc:
    case 0xd0:
      return p + 2;
    case 0xcd:
    case 0xd1:
      return p + 3;
    case 0xce:
    case 0xd2:
      return p + 5;
    case 0xcf:
    case 0xd3:
      return p + 9;
    case 0xd4:
      return p + 3;
    case 0xd5:
      return p + 4;
    case 0xd6:
      return p + 6;
    case 0xd7:
      return p + 10;
    case 0xd8:
      return p + 18;
    case 0xdc:
      return scanArray(b, dv, dv.getUint16(p + 1), p + 3, depth);
    case 0xdd:
      return scanArray(b, dv, dv.getUint32(p + 1), p + 5, depth);
    case 0xde:
      return scanMap(b, dv, dv.getUint16(p + 1), p + 3, depth);
    case 0xdf:
      return scanMap(b, dv, dv.getUint32(p + 1), p + 5, depth);
    default:
      throw new ProtocolError('body', 'ETYPE', `byte 0x${t.toString(16)} is not msgpack`);
  }
}

function scanArray(b: Uint8Array, dv: DataView, n: number, p: number, depth: number): number {
  for (let i = 0; i < n; i++) p = scanDups(b, dv, p, depth + 1);
  return p;
}

function sameBytes(b: Uint8Array, a0: number, a1: number, c0: number, c1: number): boolean {
  if (a1 - a0 !== c1 - c0) return false;
  for (let i = 0; i < a1 - a0; i++) if (b[a0 + i] !== b[c0 + i]) return false;
  return true;
}

function dupKey(b: Uint8Array, k0: number, k1: number): never {
  let name: string;
  try {
    name = String(decoder.decode(b.subarray(k0, k1)));
  } catch {
    name = Buffer.from(b.subarray(k0, k1)).toString('latin1');
  }
  throw new ProtocolError('body', 'EDUPKEY', `duplicate key "${name}"`, name);
}

/* A map's keys compared as bytes: pairwise for small maps (no allocation),
 * through a Set for large ones. */
function scanMap(b: Uint8Array, dv: DataView, n: number, p: number, depth: number): number {
  if (n <= 16) {
    const at: number[] = [];
    for (let i = 0; i < n; i++) {
      const k0 = p;
      p = scanDups(b, dv, p, depth + 1);
      for (let j = 0; j < at.length; j += 2) if (sameBytes(b, at[j], at[j + 1], k0, p)) dupKey(b, k0, p);
      at.push(k0, p);
      p = scanDups(b, dv, p, depth + 1);
    }
    return p;
  }
  const keys = new Set<string>();
  for (let i = 0; i < n; i++) {
    const k0 = p;
    p = scanDups(b, dv, p, depth + 1);
    const key = Buffer.from(b.buffer, b.byteOffset + k0, p - k0).toString('latin1');
    if (keys.has(key)) dupKey(b, k0, p);
    keys.add(key);
    p = scanDups(b, dv, p, depth + 1);
  }
  return p;
}

/**
 * A body's msgpack value: uint64 and int64 as bigint, smaller ints as
 * numbers, bin as Uint8Array (a view into b), maps as plain objects.
 * Refuses truncated bytes (ETRUNC), bytes after the value (ETRAILING),
 * bytes that are not msgpack (ETYPE) and a map repeating a key (EDUPKEY).
 */
export function decodeBody(b: Uint8Array): unknown {
  let v: unknown;
  try {
    v = decoder.decode(b);
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    if (/^Extra /.test(m)) throw new ProtocolError('body', 'ETRAILING', 'trailing bytes after the body');
    /* "Insufficient data", or a count past the end ("Offset is outside the bounds") */
    if (e instanceof RangeError) throw new ProtocolError('body', 'ETRUNC', `truncated (${m})`);
    throw new ProtocolError('body', 'ETYPE', m);
  }
  scanDups(b, new DataView(b.buffer, b.byteOffset, b.byteLength), 0, 0);
  return v;
}

/* --------------------------------------------- the daemon's messages */

type Obj = Record<string, unknown>;

function isMap(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function isUint(v: unknown): v is number | bigint {
  return (typeof v === 'number' && Number.isInteger(v) && v >= 0) || (typeof v === 'bigint' && v >= 0n);
}

function asMap(v: unknown, what: string): Obj {
  if (!isMap(v)) throw new ProtocolError('body', 'ETYPE', `${what}: body must be a map`);
  return v;
}

function uintField(o: Obj, k: string, what: string): number | bigint | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (!isUint(v)) throw new ProtocolError('body', 'ETYPE', `${what}.${k}: expected uint`, k);
  return v;
}

/** A uint as a number, clamped like the C decoder clamps to 32 bits. */
function u32(v: number | bigint | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  return typeof v === 'bigint' ? (v > 0xffffffffn ? 0xffffffff : Number(v)) : Math.min(v, 0xffffffff);
}

function strField(o: Obj, k: string, what: string): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ProtocolError('body', 'ETYPE', `${what}.${k}: expected str`, k);
  return v;
}

/** WELCOME: unknown keys skipped at both levels, missing limits the protocol defaults. */
export function parseWelcome(body: unknown): Welcome {
  const o = asMap(body, 'WELCOME');
  if (o.durable !== undefined && typeof o.durable !== 'boolean')
    throw new ProtocolError('body', 'ETYPE', 'WELCOME.durable: expected bool', 'durable');
  const w: Welcome = {
    version: u32(uintField(o, 'version', 'WELCOME'), 0),
    durable: o.durable === true,
    limits: { ...DEFAULT_LIMITS },
  };
  if (o.limits !== undefined) {
    const l = o.limits;
    if (!isMap(l)) throw new ProtocolError('body', 'ETYPE', 'WELCOME.limits: expected map', 'limits');
    w.limits.maxFrame = u32(uintField(l, 'max_frame', 'WELCOME.limits'), DEFAULT_LIMITS.maxFrame);
    w.limits.maxEventSize = u32(uintField(l, 'max_event_size', 'WELCOME.limits'), DEFAULT_LIMITS.maxEventSize);
    w.limits.maxBatch = u32(uintField(l, 'max_batch', 'WELCOME.limits'), DEFAULT_LIMITS.maxBatch);
    w.limits.maxInflight = u32(uintField(l, 'max_inflight', 'WELCOME.limits'), DEFAULT_LIMITS.maxInflight);
  }
  return w;
}

/** ACK: seq as bigint, dups nil, absent or [[index, seq], …]. */
export function parseAck(body: unknown): Ack {
  const o = asMap(body, 'ACK');
  const seq = uintField(o, 'seq', 'ACK');
  const a: Ack = { seq: BigInt(seq ?? 0), count: u32(uintField(o, 'count', 'ACK'), 0), dups: [] };
  const d = o.dups;
  if (d !== undefined && d !== null) {
    if (!Array.isArray(d)) throw new ProtocolError('body', 'ETYPE', 'ACK.dups: expected nil or array', 'dups');
    for (const e of d) {
      if (!Array.isArray(e)) throw new ProtocolError('body', 'ETYPE', 'ACK.dups[]: expected [index, seq]', 'dups');
      if (e.length !== 2) throw new ProtocolError('body', 'ERULE', 'ACK.dups[]: expected [index, seq]', 'dups');
      if (!isUint(e[0]) || !isUint(e[1])) throw new ProtocolError('body', 'ETYPE', 'ACK.dups[]: expected uints', 'dups');
      a.dups.push([u32(e[0], 0), BigInt(e[1])]);
    }
  }
  return a;
}

function nilOrUint(o: Obj, k: string): number | null {
  const v = o[k];
  if (v === undefined || v === null) return null;
  if (!isUint(v)) throw new ProtocolError('body', 'ETYPE', `NACK.${k}: expected nil or uint`, k);
  return Number(v);
}

/** NACK: message empty and index, retry_after_ms null when absent. */
export function parseNack(body: unknown): Nack {
  const o = asMap(body, 'NACK');
  return {
    code: strField(o, 'code', 'NACK') ?? '',
    message: strField(o, 'message', 'NACK') ?? '',
    index: nilOrUint(o, 'index'),
    retryAfterMs: nilOrUint(o, 'retry_after_ms'),
  };
}

export function parseGoaway(body: unknown): { reason: string } {
  const o = asMap(body, 'GOAWAY');
  return { reason: strField(o, 'reason', 'GOAWAY') ?? '' };
}

export function parseEnd(body: unknown): { count: bigint } {
  const o = asMap(body, 'END');
  return { count: BigInt(uintField(o, 'count', 'END') ?? 0) };
}

export function parseNil(body: unknown, what: string): null {
  if (body !== null) throw new ProtocolError('body', 'ETYPE', `${what}: body must be nil`);
  return null;
}

function toNumber(v: unknown): unknown {
  return typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)
    ? Number(v)
    : v;
}

/** One stored event of a ROWS frame: seq a bigint, times µs numbers, bin data copied out. */
export function parseStoredEvent(v: unknown): StoredEvent {
  const o = asMap(v, 'ROWS[]');
  const e: Obj = {};
  for (const [k, x] of Object.entries(o)) {
    if (k === 'seq') {
      if (!isUint(x)) throw new ProtocolError('body', 'ETYPE', 'ROWS[].seq: expected uint', 'seq');
      e.seq = BigInt(x);
    } else if (k === 'priority' && typeof x === 'number') e.priority = PRIORITY_NAMES[x] ?? x;
    else if (k === 'data' && x instanceof Uint8Array) e.data = Buffer.from(x);
    else e[k] = toNumber(x);
  }
  if (typeof e.type !== 'string') throw new ProtocolError('body', 'EMISSING', 'ROWS[].type: required', 'type');
  if (e.seq === undefined) throw new ProtocolError('body', 'EMISSING', 'ROWS[].seq: required', 'seq');
  if (e.priority === undefined) e.priority = 'normal';
  if (e.version === undefined) e.version = 1;
  if (e.topic === undefined) e.topic = e.type;
  return e as StoredEvent;
}

export function parseRows(body: unknown): StoredEvent[] {
  if (!Array.isArray(body)) throw new ProtocolError('body', 'ETYPE', 'ROWS: body must be an array');
  return body.map(parseStoredEvent);
}

/** A daemon's message, parsed by its op. */
export type DaemonMessage =
  | { op: typeof Op.WELCOME; welcome: Welcome }
  | { op: typeof Op.ACK; ack: Ack }
  | { op: typeof Op.NACK; nack: Nack }
  | { op: typeof Op.PONG }
  | { op: typeof Op.ROWS; rows: StoredEvent[] }
  | { op: typeof Op.END; count: bigint }
  | { op: typeof Op.REPLY; reply: Record<string, unknown> }
  | { op: typeof Op.GOAWAY; reason: string };

/**
 * One frame payload from a daemon, checked from header to body: refuses
 * an op a client sends (EBADOP) and every violation the parsers find.
 */
export function parseDaemonFrame(payload: Uint8Array): { requestId: number } & DaemonMessage {
  const f = decodeHeader(payload);
  if (f.op < 64) throw new ProtocolError('header', 'EBADOP', `op ${f.op} is sent by clients, not daemons`);
  const body = decodeBody(f.body);
  const requestId = f.requestId;
  switch (f.op) {
    case Op.WELCOME:
      return { requestId, op: Op.WELCOME, welcome: parseWelcome(body) };
    case Op.ACK:
      return { requestId, op: Op.ACK, ack: parseAck(body) };
    case Op.NACK:
      return { requestId, op: Op.NACK, nack: parseNack(body) };
    case Op.PONG:
      parseNil(body, 'PONG');
      return { requestId, op: Op.PONG };
    case Op.ROWS:
      return { requestId, op: Op.ROWS, rows: parseRows(body) };
    case Op.END:
      return { requestId, op: Op.END, count: parseEnd(body).count };
    case Op.REPLY:
      return { requestId, op: Op.REPLY, reply: asMap(body, 'REPLY') };
    default:
      return { requestId, op: Op.GOAWAY, reason: parseGoaway(body).reason };
  }
}
