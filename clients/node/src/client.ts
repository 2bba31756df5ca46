/*
 * The protocol client (DESIGN §4): one Unix-socket connection to
 * eventrouterd, HELLO/WELCOME, pipelined requests answered by request id,
 * and the connection's life — GOAWAY, loss, reconnect with backoff, and
 * the resend of every unanswered event (each carries an id, so the
 * daemon's de-duplication answers a resend with the original seq).
 *
 * Backpressure: at most WELCOME's max_inflight requests wait for an answer
 * and the socket is written only while it drains; publish() calls beyond
 * that wait in a queue of requests not yet encoded into the socket (their
 * Promises settle later). Under ack `none` there are no answers: a publish
 * settles once its frame is handed to the kernel.
 *
 * Everything runs on Node's event loop; no call blocks.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import {
  Ack,
  AckMode,
  DEFAULT_LIMITS,
  encodeBatch,
  encodeEvent,
  encodeFilter,
  encodeFrame,
  encodeHello,
  Filter,
  FrameReader,
  headerSize,
  NIL,
  Op,
  parseDaemonFrame,
  StoredEvent,
  Welcome,
  WireEvent,
} from './codec';
import { EventRouterError, ProtocolError } from './errors';
import { uuidv7 } from './uuid';

export interface ClientOptions {
  /** the daemon's publish (or admin) socket */
  socket: string;
  /** default `durable`, like eventctl */
  ack?: AckMode;
  /** HELLO's client name (default `eventrouter-client`) */
  clientName?: string;
  /** reconnect after a lost connection or a GOAWAY (default true) */
  reconnect?: boolean;
  /** backoff between attempts: initial delay, ceiling, factor (defaults 50 ms, 5 s, 2), ±20 % jitter */
  backoff?: { initialMs?: number; maxMs?: number; factor?: number };
  /** give up on one connection attempt (connect + WELCOME) after this long (default 10 s) */
  connectTimeoutMs?: number;
  /**
   * Requests in flight at most. Default and normal use: WELCOME's
   * max_inflight. A larger value is used as given, and the daemon then
   * answers the excess with NACK `busy` (tests use it to reach that path).
   */
  maxInflight?: number;
  /** rows buffered by query/tail iterators before the socket stops being read (default 8192) */
  rowHighWater?: number;
}

export interface PublishResult {
  /** the event's id (set by the client when the event had none) */
  id: string;
  /** its seq — the original one for a duplicate; null under ack `none` */
  seq: bigint | null;
  /** the daemon already had an event with this id (DESIGN §6) */
  duplicate: boolean;
}

export interface BatchResult {
  ids: string[];
  /** one per event, in order; null under ack `none` */
  seqs: Array<bigint | null>;
  /** positions of the events the daemon recognised as duplicates */
  duplicates: number[];
}

type Settle = { resolve: (v: never) => void; reject: (e: Error) => void };

interface Request extends Settle {
  op: number;
  body: Uint8Array;
  ids: string[];
  /** waits for an answer (ACK/NACK or PONG) */
  answered: boolean;
  /** counts against max_inflight */
  counted: boolean;
  rid: number;
}

type State = 'idle' | 'connecting' | 'ready' | 'draining' | 'closed';

const PASS_CODES = new Set(['shutting_down']);

/**
 * Rows of one QUERY or TAIL as an async iterator. `cancel()` sends CANCEL
 * (the daemon answers END); breaking out of a `for await` cancels too.
 */
export class RowStream implements AsyncIterable<StoredEvent> {
  private rows: StoredEvent[] = [];
  private head = 0;
  private waiter: { resolve: (r: IteratorResult<StoredEvent>) => void; reject: (e: Error) => void } | null = null;
  private error: Error | null = null;
  private ended = false;
  private cancelSent = false;
  /** the END's count, once it came */
  count: bigint | null = null;
  /** resolves when the stream is over (END, NACK, or lost connection) */
  readonly done: Promise<void>;
  private doneResolve!: () => void;

  constructor(
    private readonly client: Client,
    readonly rid: number,
    readonly op: number,
  ) {
    this.done = new Promise((r) => (this.doneResolve = r));
  }

  get buffered(): number {
    return this.rows.length - this.head;
  }

  /** @internal */
  _push(rows: StoredEvent[]): void {
    if (this.cancelSent) return; /* rows already on their way when CANCEL went */
    if (this.waiter && this.buffered === 0 && rows.length > 0) {
      const w = this.waiter;
      this.waiter = null;
      for (let i = 1; i < rows.length; i++) this.rows.push(rows[i]);
      w.resolve({ value: rows[0], done: false });
      return;
    }
    for (const r of rows) this.rows.push(r);
  }

  /** @internal */
  _end(count: bigint | null, err: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.count = count;
    this.error = err;
    this.doneResolve();
    if (this.waiter && this.buffered === 0) {
      const w = this.waiter;
      this.waiter = null;
      if (err) w.reject(err);
      else w.resolve({ value: undefined, done: true });
    }
  }

  get finished(): boolean {
    return this.ended;
  }

  /** Ends the stream: CANCEL, then the daemon's END. Resolves with the END's count. */
  async cancel(): Promise<bigint | null> {
    if (!this.ended && !this.cancelSent) {
      this.cancelSent = true;
      this.client._cancel(this);
    }
    await this.done;
    return this.count;
  }

  async next(): Promise<IteratorResult<StoredEvent>> {
    if (this.buffered > 0) {
      const v = this.rows[this.head++];
      if (this.head > 4096 && this.head * 2 > this.rows.length) {
        this.rows = this.rows.slice(this.head);
        this.head = 0;
      }
      this.client._rowsTaken();
      return { value: v, done: false };
    }
    if (this.ended) {
      if (this.error) {
        const e = this.error;
        this.error = null;
        throw e;
      }
      return { value: undefined, done: true };
    }
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  async return(): Promise<IteratorResult<StoredEvent>> {
    if (!this.ended) await this.cancel();
    this.rows = [];
    this.head = 0;
    this.client._rowsTaken();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterator<StoredEvent> {
    return this;
  }

  /** Every row, until END (a query; a tail only ends by cancel()). */
  async toArray(): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    for await (const r of this) out.push(r);
    return out;
  }
}

export class Client extends EventEmitter {
  readonly options: Required<Omit<ClientOptions, 'maxInflight' | 'backoff'>> & {
    maxInflight?: number;
    backoff: { initialMs: number; maxMs: number; factor: number };
  };
  /** the last WELCOME */
  welcome: Welcome | null = null;

  private state: State = 'idle';
  private sock: net.Socket | null = null;
  private reader = new FrameReader(DEFAULT_LIMITS.maxFrame);
  private waiting: Request[] = [];
  private waitHead = 0;
  private inflight = new Map<number, Request>();
  private counted = 0;
  private streams = new Map<number, RowStream>();
  /* Streams asked for while (re)connecting: their frames, sent on WELCOME. */
  private unsent = new Map<number, Buffer>();
  private congested = false;
  private nextRid = 1;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  private closeWaiters: Array<() => void> = [];
  private readPaused = false;
  private connectSettle: Settle | null = null;
  private retryHintMs = 0;

  private constructor(opts: ClientOptions) {
    super();
    if (typeof opts?.socket !== 'string' || opts.socket === '') throw new TypeError('socket: a path');
    this.options = {
      socket: opts.socket,
      ack: opts.ack ?? 'durable',
      clientName: opts.clientName ?? 'eventrouter-client',
      reconnect: opts.reconnect ?? true,
      connectTimeoutMs: opts.connectTimeoutMs ?? 10000,
      maxInflight: opts.maxInflight,
      rowHighWater: opts.rowHighWater ?? 8192,
      backoff: {
        initialMs: opts.backoff?.initialMs ?? 50,
        maxMs: opts.backoff?.maxMs ?? 5000,
        factor: opts.backoff?.factor ?? 2,
      },
    };
    if (!['none', 'received', 'durable'].includes(this.options.ack)) throw new TypeError('ack: none, received or durable');
  }

  /** Connects and completes HELLO/WELCOME; rejects when that fails (no retry for the first connection). */
  static async connect(opts: ClientOptions): Promise<Client> {
    const c = new Client(opts);
    await c.open();
    return c;
  }

  get connected(): boolean {
    return this.state === 'ready';
  }

  /** Requests sent and not answered yet. */
  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Requests waiting for room (backpressure). */
  get queuedCount(): number {
    return this.waiting.length - this.waitHead;
  }

  /* -------------------------------------------------------- requests */

  /**
   * Publishes one event. The client sets `id` (UUIDv7) when the event has
   * none. Resolves with its seq once the daemon answers (ack mode), or
   * once written (ack none); rejects with EventRouterError on a NACK.
   */
  publish(ev: WireEvent): Promise<PublishResult> {
    const id = ev?.id === undefined ? uuidv7() : (ev.id as string);
    let body: Uint8Array;
    try {
      body = encodeEvent(ev, id);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue<PublishResult>(Op.PUBLISH, body, [id]);
  }

  /**
   * Publishes events in one PUBLISH_BATCH: all stored or none (NACK
   * `index` names the refused one). A batch must fit WELCOME's max_batch
   * and max_frame: a larger one is refused here (`too_large`, local) —
   * split it, or use the bus's publishBatch, which does.
   */
  publishBatch(evs: readonly WireEvent[]): Promise<BatchResult> {
    if (!Array.isArray(evs)) return Promise.reject(new TypeError('publishBatch: an array of events'));
    if (evs.length === 0) return Promise.resolve({ ids: [], seqs: [], duplicates: [] });
    const limits = this.welcome?.limits ?? DEFAULT_LIMITS;
    if (evs.length > limits.maxBatch)
      return Promise.reject(
        new EventRouterError('too_large', `${evs.length} events: above max_batch ${limits.maxBatch}`, { local: true }),
      );
    const ids = evs.map((ev) => (ev?.id === undefined ? uuidv7() : (ev.id as string)));
    let body: Uint8Array;
    try {
      body = encodeBatch(evs, ids);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue<BatchResult>(Op.PUBLISH_BATCH, body, ids);
  }

  /** PING → PONG: resolves with nothing once the daemon answered. */
  ping(): Promise<void> {
    return this.enqueue<void>(Op.PING, NIL, [], true);
  }

  /**
   * QUERY (op 5): stored events matching the filter, as an async iterator
   * of ROWS until END. Served on the admin socket, and on the publish socket
   * to peers an `acl` rule grants read (else NACK `forbidden`).
   */
  query(filter: Filter = {}): RowStream {
    return this.stream(Op.QUERY, filter);
  }

  /**
   * TAIL (op 6): events matching the filter as the store commits them,
   * from the stored head when the TAIL arrives — or, with `from_seq`, the
   * stored ones from there first, without a gap or a repeat at the switch —
   * until cancel() or `limit` rows (END). The daemon may end it with NACK
   * (`busy` when the reader fell more than limits.tail_max_lag behind,
   * `shutting_down`): the iterator then throws that EventRouterError. Same
   * sockets as query().
   */
  tail(filter: Filter = {}): RowStream {
    return this.stream(Op.TAIL, filter);
  }

  /**
   * Resolves once every request made before it is answered (resent across
   * reconnects if it must be), streams are cancelled and ended, and the
   * socket is closed. Requests made after it are refused (`closed`).
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      this.closeWaiters.push(resolve);
    });
    for (const s of this.streams.values()) void s.cancel();
    this.maybeFinishClose();
    return this.closing;
  }

  /** Drops the connection at once; every pending request rejects with `closed`. */
  destroy(): void {
    if (!this.closing) this.closing = new Promise<void>((r) => this.closeWaiters.push(r));
    this.failAll(new EventRouterError('closed', 'client destroyed', { local: true }));
    this.shutdown();
  }

  /* --------------------------------------------------------- internal */

  private enqueue<T>(op: number, body: Uint8Array, ids: string[], ping = false): Promise<T> {
    if (this.closing) return Promise.reject(new EventRouterError('closed', 'client closed', { local: true }));
    return new Promise<T>((resolve, reject) => {
      const answered = ping || this.options.ack !== 'none';
      this.waiting.push({
        op,
        body,
        ids,
        answered,
        counted: answered && !ping,
        rid: 0,
        resolve: resolve as (v: never) => void,
        reject,
      });
      this.reconnectTimer?.ref();
      this.schedulePump();
    });
  }

  private stream(op: number, filter: Filter): RowStream {
    const s = new RowStream(this, this.allocRid(), op);
    if (this.closing) {
      s._end(null, new EventRouterError('closed', 'client closed', { local: true }));
      return s;
    }
    let body: Uint8Array;
    try {
      body = encodeFilter(filter);
    } catch (err) {
      s._end(null, err as Error);
      return s;
    }
    const frame = encodeFrame(op, s.rid, body);
    this.streams.set(s.rid, s);
    if (this.state === 'ready' && this.sock) {
      this.sock.write(frame);
    } else if (this.options.reconnect && this.state !== 'closed') {
      /* Sent once a connection is back (a QUERY or TAIL is not lost with one
       * that was never sent on it). */
      this.unsent.set(s.rid, frame);
      this.reconnectTimer?.ref();
    } else {
      this.streams.delete(s.rid);
      s._end(null, new EventRouterError('disconnected', 'not connected', { local: true }));
    }
    return s;
  }

  /** @internal: CANCEL for a stream */
  _cancel(s: RowStream): void {
    if (this.unsent.delete(s.rid) || !this.streams.has(s.rid) || !this.sock || this.state === 'closed') {
      this.streams.delete(s.rid);
      s._end(null, null);
      this.maybeFinishClose();
    } else {
      this.sock.write(encodeFrame(Op.CANCEL, s.rid, NIL));
    }
  }

  /** @internal: a consumer took rows; read the socket again once they are few */
  _rowsTaken(): void {
    if (!this.readPaused) return;
    let buffered = 0;
    for (const s of this.streams.values()) buffered += s.buffered;
    if (buffered <= this.options.rowHighWater / 2) {
      this.readPaused = false;
      this.sock?.resume();
    }
  }

  private allocRid(): number {
    for (;;) {
      const r = this.nextRid;
      this.nextRid = this.nextRid >= 0xffffffff ? 1 : this.nextRid + 1;
      if (!this.inflight.has(r) && !this.streams.has(r)) return r;
    }
  }

  private maxInflight(): number {
    return this.options.maxInflight ?? this.welcome?.limits.maxInflight ?? DEFAULT_LIMITS.maxInflight;
  }

  /* One pump per turn of the loop: the publishes of one synchronous loop,
   * or the ACKs of one read, go out in one corked write. */
  private pumpScheduled = false;
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    process.nextTick(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Sends waiting requests while there is room: in-flight below the limit, socket draining. */
  private pump(): void {
    if (this.state !== 'ready' || !this.sock || this.congested) return;
    const sock = this.sock;
    const maxFrame = this.welcome?.limits.maxFrame ?? DEFAULT_LIMITS.maxFrame;
    const limit = this.maxInflight();
    let corked = false;
    while (this.waitHead < this.waiting.length) {
      const req = this.waiting[this.waitHead];
      if (req.counted && this.counted >= limit) break;
      this.waitHead++;
      const rid = this.allocRid();
      if (headerSize(rid) + req.body.length > maxFrame) {
        req.reject(
          new EventRouterError('too_large', `frame of ${headerSize(rid) + req.body.length} bytes: above max_frame ${maxFrame}`, {
            local: true,
          }),
        );
        continue;
      }
      if (!corked) {
        sock.cork();
        corked = true;
      }
      req.rid = rid;
      const frame = encodeFrame(req.op, rid, req.body);
      let ok: boolean;
      if (req.answered) {
        this.inflight.set(rid, req);
        if (req.counted) this.counted++;
        ok = sock.write(frame);
      } else {
        ok = sock.write(frame, (err) => {
          if (err) req.reject(new EventRouterError('disconnected', `not written: ${err.message}`, { local: true }));
          else req.resolve(this.unacked(req) as never);
        });
      }
      if (!ok) {
        this.congested = true;
        break;
      }
    }
    if (this.waitHead > 1024 && this.waitHead * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.waitHead);
      this.waitHead = 0;
    } else if (this.waitHead === this.waiting.length) {
      this.waiting = [];
      this.waitHead = 0;
    }
    if (corked) process.nextTick(() => sock.uncork());
    this.maybeFinishClose();
  }

  private unacked(req: Request): PublishResult | BatchResult {
    if (req.op === Op.PUBLISH) return { id: req.ids[0], seq: null, duplicate: false };
    return { ids: req.ids, seqs: req.ids.map(() => null), duplicates: [] };
  }

  private answerAck(req: Request, a: Ack): void {
    if (req.op === Op.PUBLISH) {
      const dup = a.dups.length > 0;
      req.resolve({ id: req.ids[0], seq: dup ? a.dups[0][1] : a.seq, duplicate: dup } as never);
      return;
    }
    const seqs: Array<bigint | null> = new Array(req.ids.length).fill(null);
    const dups: number[] = [];
    for (const [i, s] of a.dups) {
      if (i < seqs.length) {
        seqs[i] = s;
        dups.push(i);
      }
    }
    let next = a.seq;
    for (let i = 0; i < seqs.length; i++) if (seqs[i] === null) seqs[i] = next++;
    if (req.op === Op.PUBLISH) req.resolve({ id: req.ids[0], seq: seqs[0], duplicate: dups.length > 0 } as never);
    else req.resolve({ ids: req.ids, seqs, duplicates: dups } as never);
  }

  private open(): Promise<void> {
    this.state = 'connecting';
    return new Promise<void>((resolve, reject) => {
      this.connectSettle = { resolve: resolve as (v: never) => void, reject };
      const sock = net.createConnection(this.options.socket);
      this.sock = sock;
      this.reader = new FrameReader(DEFAULT_LIMITS.maxFrame);
      this.congested = false;
      this.readPaused = false;
      const timer = setTimeout(() => {
        this.lost(sock, new EventRouterError('unavailable', `no WELCOME within ${this.options.connectTimeoutMs} ms`, { local: true }));
      }, this.options.connectTimeoutMs);
      sock.once('connect', () => {
        /* HELLO after one turn of the loop: a daemon refusing the
         * connection at accept (max_connections) writes its NACK and
         * closes, and a write then fails with EPIPE, which destroys the
         * socket before the NACK saying why is read. One poll phase of
         * the loop (the second setImmediate runs after it) reads it first,
         * in all but a narrow race (then: "closed before WELCOME"). */
        setImmediate(() =>
          setImmediate(() => {
            if (this.sock !== sock || sock.destroyed) return;
            sock.write(
              encodeFrame(Op.HELLO, 0, encodeHello({ version: 1, client: this.options.clientName, ack: this.options.ack })),
            );
          }),
        );
      });
      sock.on('data', (chunk: Buffer) => {
        if (this.sock !== sock) return;
        try {
          for (const f of this.reader.push(chunk)) {
            this.onFrame(f);
            if (this.sock !== sock) return;
          }
        } catch (err) {
          this.lost(sock, err as Error);
        }
      });
      sock.on('drain', () => {
        if (this.sock !== sock) return;
        this.congested = false;
        this.pump();
      });
      sock.on('error', (err: NodeJS.ErrnoException) => {
        if (this.state === 'connecting' && (err.code === 'EPIPE' || err.code === 'ECONNRESET'))
          return this.lost(sock, new EventRouterError('unavailable', `the daemon closed the connection before WELCOME (${err.code})`, { local: true }));
        this.lost(sock, err);
      });
      sock.on('close', () => {
        clearTimeout(timer);
        this.lost(sock, new EventRouterError('disconnected', 'connection closed by the daemon', { local: true }));
      });
      this.once('_welcome', () => clearTimeout(timer));
    });
  }

  private onFrame(payload: Buffer): void {
    const m = parseDaemonFrame(payload);
    if (this.state === 'connecting') {
      if (m.op === Op.WELCOME) {
        this.welcome = m.welcome;
        if (m.welcome.version !== 1) throw new ProtocolError('body', 'ERULE', `WELCOME.version ${m.welcome.version}`);
        this.reader.maxFrame = m.welcome.limits.maxFrame;
        this.state = 'ready';
        this.attempt = 0;
        this.retryHintMs = 0;
        this.emit('_welcome');
        this.emit('connect', m.welcome);
        const s = this.connectSettle;
        this.connectSettle = null;
        s?.resolve(undefined as never);
        for (const f of this.unsent.values()) this.sock!.write(f);
        this.unsent.clear();
        this.pump();
        return;
      }
      if (m.op === Op.NACK) {
        this.retryHintMs = m.nack.retryAfterMs ?? 0;
        throw new EventRouterError(m.nack.code, m.nack.message, { ...m.nack, requestId: m.requestId });
      }
      throw new ProtocolError('header', 'EFRAME', `op ${m.op} before WELCOME`);
    }
    switch (m.op) {
      case Op.NACK: {
        const err = new EventRouterError(m.nack.code, m.nack.message, { ...m.nack, requestId: m.requestId });
        const req = this.inflight.get(m.requestId);
        if (req) return this.nacked(req, err);
        const s = this.streams.get(m.requestId);
        if (s) {
          this.streams.delete(m.requestId);
          s._end(null, err);
          this._rowsTaken();
          return this.maybeFinishClose();
        }
        /* Request id 0: the connection (the daemon closes it next); else a
         * request under ack none, which nobody waits for. */
        this.emit('nack', err);
        return;
      }
      case Op.ACK:
      case Op.PONG: {
        const req = this.inflight.get(m.requestId);
        if (!req) throw new ProtocolError('header', 'EFRAME', `answer to request ${m.requestId}, which is not in flight`);
        if ((m.op === Op.PONG) !== (req.op === Op.PING))
          throw new ProtocolError('header', 'EFRAME', `op ${m.op} does not answer request ${m.requestId}`);
        this.inflight.delete(m.requestId);
        if (req.counted) this.counted--;
        if (m.op === Op.PONG) req.resolve(undefined as never);
        else this.answerAck(req, m.ack);
        this.schedulePump();
        return;
      }
      case Op.ROWS: {
        const s = this.streams.get(m.requestId);
        if (!s) throw new ProtocolError('header', 'EFRAME', `ROWS for request ${m.requestId}, which is not streaming`);
        s._push(m.rows);
        this.checkRowPressure();
        return;
      }
      case Op.END: {
        const s = this.streams.get(m.requestId);
        if (!s) throw new ProtocolError('header', 'EFRAME', `END for request ${m.requestId}, which is not streaming`);
        this.streams.delete(m.requestId);
        s._end(m.count, null);
        this._rowsTaken();
        this.maybeFinishClose();
        return;
      }
      case Op.GOAWAY:
        this.state = 'draining';
        this.emit('goaway', m.reason);
        return;
      default:
        throw new ProtocolError('header', 'EFRAME', `unexpected op ${m.op}`);
    }
  }

  private nacked(req: Request, err: EventRouterError): void {
    this.inflight.delete(req.rid);
    if (req.counted) this.counted--;
    if (PASS_CODES.has(err.code) && this.options.reconnect && req.counted) {
      /* The daemon is stopping: nothing more on this connection; the
       * request goes again to the next one. */
      if (this.state === 'ready') this.state = 'draining';
      this.requeue([req]);
    } else {
      req.reject(err);
    }
    this.pump();
  }

  private requeue(reqs: Request[]): void {
    const rest = this.waiting.slice(this.waitHead);
    this.waiting = [...reqs, ...rest];
    this.waitHead = 0;
  }

  private checkRowPressure(): void {
    if (this.readPaused) return;
    let buffered = 0;
    for (const s of this.streams.values()) buffered += s.buffered;
    if (buffered > this.options.rowHighWater) {
      this.readPaused = true;
      this.sock?.pause();
    }
  }

  /** The connection `sock` is over (error, close, protocol violation, timeout). */
  private lost(sock: net.Socket, err: Error): void {
    if (this.sock !== sock) return;
    this.sock = null;
    sock.destroy();
    const wasConnecting = this.state === 'connecting';
    this.state = this.state === 'closed' ? 'closed' : 'idle';
    this.congested = false;
    this.readPaused = false;
    this.welcomeLostCleanup();
    if (wasConnecting && this.connectSettle) {
      const s = this.connectSettle;
      this.connectSettle = null;
      /* A reconnect attempt that fails is retried; the first one is the caller's. */
      if (this.attempt === 0 && this.welcome === null) {
        this.failAll(err);
        this.state = 'closed';
        s.reject(err);
        this.finishClose();
        return;
      }
      s.resolve(undefined as never);
    }
    const answered = [...this.inflight.values()];
    this.inflight.clear();
    this.counted = 0;
    const resend: Request[] = [];
    for (const r of answered) {
      if (r.op === Op.PING) r.reject(new EventRouterError('disconnected', err.message, { local: true }));
      else resend.push(r);
    }
    for (const [rid, s] of this.streams) {
      if (this.unsent.has(rid)) continue;
      this.streams.delete(rid);
      s._end(null, new EventRouterError('disconnected', err.message, { local: true }));
    }
    if (!this.options.reconnect) {
      for (const r of resend) r.reject(new EventRouterError('disconnected', err.message, { local: true }));
      this.failAll(new EventRouterError('disconnected', err.message, { local: true }));
      this.state = 'closed';
      this.emit('disconnect', err);
      this.finishClose();
      return;
    }
    this.requeue(resend);
    this.emit('disconnect', err);
    if (this.closing && this.queuedCount === 0 && this.streams.size === 0) {
      this.state = 'closed';
      this.finishClose();
      return;
    }
    this.scheduleReconnect();
  }

  private welcomeLostCleanup(): void {
    this.removeAllListeners('_welcome');
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.state === 'closed') return;
    const b = this.options.backoff;
    const base = Math.min(b.maxMs, b.initialMs * Math.pow(b.factor, this.attempt));
    const delay = Math.max(this.retryHintMs, Math.round(base * (0.8 + 0.4 * Math.random())));
    this.attempt++;
    const timer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state === 'closed') return;
      this.open().then(
        () => {
          if (this.state !== 'ready' && this.state !== 'closed') this.scheduleReconnect();
        },
        () => this.scheduleReconnect(),
      );
    }, delay);
    /* Nothing waits to be sent: the attempt alone does not keep the process alive. */
    if (this.queuedCount === 0 && this.streams.size === 0) timer.unref();
    this.reconnectTimer = timer;
  }

  private failAll(err: Error): void {
    const reqs = [...this.inflight.values(), ...this.waiting.slice(this.waitHead)];
    this.inflight.clear();
    this.counted = 0;
    this.waiting = [];
    this.waitHead = 0;
    for (const r of reqs) r.reject(err);
    for (const s of this.streams.values()) s._end(null, err);
    this.streams.clear();
    this.unsent.clear();
  }

  private maybeFinishClose(): void {
    if (!this.closing || this.state === 'closed') return;
    if (this.queuedCount > 0 || this.inflight.size > 0 || this.streams.size > 0) return;
    if (this.state === 'ready' || this.state === 'draining') {
      const sock = this.sock!;
      this.sock = null;
      this.state = 'closed';
      sock.end();
      sock.once('close', () => this.finishClose());
      /* 'close' may have fired already */
      if (sock.destroyed) this.finishClose();
    } else {
      this.shutdown();
    }
  }

  private shutdown(): void {
    this.state = 'closed';
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const s = this.sock;
    this.sock = null;
    s?.destroy();
    if (this.connectSettle) {
      const c = this.connectSettle;
      this.connectSettle = null;
      c.reject(new EventRouterError('closed', 'client closed', { local: true }));
    }
    this.finishClose();
  }

  private finishClose(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const w = this.closeWaiters;
    this.closeWaiters = [];
    for (const f of w) f();
  }
}
