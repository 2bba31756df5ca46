/*
 * The original in-process event bus's shapes — DomainEvent, EventPriority,
 * createEventBus — backed by the daemon. The mapping between a DomainEvent
 * and the wire event (README.md, "Mapping") lives here and nowhere else:
 * toWireEvent() one way, fromStoredEvent() the other.
 */
import { BatchResult, Client, ClientOptions, PublishResult, RowStream } from './client';
import { AckMode, DEFAULT_LIMITS, encodeEvent, Filter, PRIORITY_NAMES, PriorityName, StoredEvent, WireEvent } from './codec';
import { uuidv7 } from './uuid';

export enum EventPriority {
  LOW = 0,
  NORMAL = 1,
  HIGH = 2,
  CRITICAL = 3,
}

/** An event's metadata: the envelope fields the wire has, and any others (→ meta). */
export interface EventMetadata {
  /** → id (set at construction when not given: UUIDv7) */
  eventId?: string;
  /** → correlation_id */
  correlationId?: string;
  /** → causation_id */
  causationId?: string;
  /** → stream */
  stream?: string;
  /** → source */
  source?: string;
  /** → traceparent (W3C trace context) */
  traceparent?: string;
  /** → tracestate */
  tracestate?: string;
  /** → time (JS ms ↔ wire µs); set at construction when not given */
  timestamp?: Date | number;
  /** read back only: the daemon's seq */
  seq?: bigint;
  /** read back only: when the daemon took it */
  receivedAt?: Date;
  /** anything else → meta, as strings */
  [key: string]: unknown;
}

/** The metadata keys with a place of their own on the wire (not meta). */
const META_FIELDS: Readonly<Record<string, keyof WireEvent | null>> = {
  eventId: 'id',
  correlationId: 'correlation_id',
  causationId: 'causation_id',
  stream: 'stream',
  source: 'source',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  timestamp: null,
  seq: null,
  receivedAt: null,
};

/** The envelope properties of a DomainEvent: never part of `data`. */
const ENVELOPE = new Set(['eventType', 'version', 'topic', 'priority', 'metadata']);

/**
 * The base class of application events. A subclass names its type with
 * an `eventType` property (or a static `eventType`; else its class name)
 * and keeps its payload in its own properties:
 *
 *     class UserLoggedIn extends DomainEvent {
 *       readonly eventType = 'UserLoggedIn';
 *       constructor(readonly userId: string, metadata?: EventMetadata) { super(metadata); }
 *     }
 */
export abstract class DomainEvent {
  eventType!: string;
  version = 1;
  topic?: string;
  priority: EventPriority = EventPriority.NORMAL;
  metadata: EventMetadata;

  constructor(metadata: EventMetadata = {}) {
    this.metadata = { eventId: uuidv7(), timestamp: new Date(), ...metadata };
    const ctor = this.constructor as unknown as { eventType?: unknown; name: string };
    Object.defineProperty(this, 'eventType', {
      value: typeof ctor.eventType === 'string' ? ctor.eventType : ctor.name,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }
}

/** What getEvents() returns for a type no class was registered for. */
export class StoredDomainEvent extends DomainEvent {}

function timeMs(t: Date | number | undefined): number | undefined {
  if (t === undefined) return undefined;
  const ms = t instanceof Date ? t.getTime() : t;
  if (!Number.isFinite(ms)) throw new TypeError('metadata.timestamp: a Date or milliseconds');
  return ms;
}

function jsonReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

/**
 * The wire event for a DomainEvent, read at this moment: the envelope
 * properties to their fields, metadata per META_FIELDS (other entries to
 * meta as strings), every other own enumerable property into `data` as
 * JSON (content_type application/json).
 */
export function toWireEvent(ev: DomainEvent): WireEvent {
  if (typeof ev?.eventType !== 'string') throw new TypeError('event: a DomainEvent with an eventType');
  const md = ev.metadata ?? {};
  const w: WireEvent = { type: ev.eventType };
  if (ev.version !== undefined) w.version = ev.version;
  if (ev.priority !== undefined) {
    const p = PRIORITY_NAMES[ev.priority as number];
    w.priority = p ?? (ev.priority as unknown as PriorityName);
  }
  const ms = timeMs(md.timestamp);
  if (ms !== undefined) w.time = Math.round(ms * 1000);
  if (ev.topic !== undefined) w.topic = ev.topic;
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(md)) {
    if (v === undefined) continue;
    if (k in META_FIELDS) {
      const f = META_FIELDS[k];
      if (f !== null) w[f] = v;
    } else {
      meta[k] = typeof v === 'string' ? v : JSON.stringify(v, jsonReplacer);
    }
  }
  const data: Record<string, unknown> = {};
  for (const k of Object.keys(ev)) {
    if (!ENVELOPE.has(k)) data[k] = (ev as unknown as Record<string, unknown>)[k];
  }
  w.content_type = 'application/json';
  w.data = Buffer.from(JSON.stringify(data, jsonReplacer), 'utf8');
  if (Object.keys(meta).length > 0) w.meta = meta;
  return w;
}

type EventClass = { prototype: DomainEvent; name: string; eventType?: unknown };

/**
 * A stored event as a DomainEvent again: an instance of the class
 * registered for its type (its constructor is not run) or a
 * StoredDomainEvent, with the JSON payload's properties as its own, and
 * metadata with seq and receivedAt added.
 */
export function fromStoredEvent(s: StoredEvent, classes?: ReadonlyMap<string, EventClass>): DomainEvent {
  const cls = classes?.get(s.type);
  const ev = Object.create((cls ?? StoredDomainEvent).prototype) as DomainEvent & Record<string, unknown>;
  const isJson = s.content_type === undefined || s.content_type === 'application/json' || /\+json$/.test(s.content_type);
  if (s.data !== undefined) {
    const text = typeof s.data === 'string' ? s.data : Buffer.from(s.data).toString('utf8');
    let parsed: unknown = undefined;
    if (isJson) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) Object.assign(ev, parsed);
    else ev.data = parsed !== undefined ? parsed : s.data;
  }
  const md: EventMetadata = { eventId: s.id };
  for (const [k, f] of Object.entries(META_FIELDS)) {
    if (f !== null && f !== 'id' && s[f] !== undefined) md[k] = s[f];
  }
  md.timestamp = new Date(Math.floor(Number(s.time) / 1000));
  if (s.meta) for (const [k, v] of Object.entries(s.meta)) if (!(k in md)) md[k] = v;
  md.seq = s.seq;
  if (s.received !== undefined) md.receivedAt = new Date(Math.floor(Number(s.received) / 1000));
  ev.eventType = s.type;
  ev.version = s.version;
  ev.topic = s.topic;
  ev.priority = PRIORITY_NAMES.indexOf(s.priority) as EventPriority;
  ev.metadata = md;
  return ev;
}

export interface EventBusOptions {
  /** the daemon's publish socket */
  socket: string;
  /**
   * where getEvents() and friends query: the admin socket, or (default)
   * the publish socket, which serves QUERY to peers an `acl` rule grants read
   */
  adminSocket?: string;
  /** default `durable` */
  ack?: AckMode;
  clientName?: string;
  reconnect?: boolean;
  backoff?: ClientOptions['backoff'];
}

export interface EventBus {
  /** Publishes one event; resolves once the daemon acknowledged it (ack mode). */
  publish(event: DomainEvent): Promise<PublishResult>;
  /**
   * Publishes events in PUBLISH_BATCH frames of at most WELCOME's
   * max_batch events and max_frame bytes, pipelined. Each frame is
   * all-or-nothing; when one is refused, the other frames are stored all
   * the same, and the error (the first refused frame's) has as index the
   * event's position in `events`.
   */
  publishBatch(events: readonly DomainEvent[]): Promise<BatchResult>;
  /** Every stored event of a stream, in seq order. */
  getEvents(stream: string): Promise<DomainEvent[]>;
  /** Every stored event with this correlation id, in seq order. */
  getEventsByCorrelationId(correlationId: string): Promise<DomainEvent[]>;
  /** getEvents() and getEventsByCorrelationId() return instances of these classes, by eventType. */
  register(...classes: EventClass[]): void;
  /** The protocol clients underneath (connected on first use). */
  client(): Promise<Client>;
  queryClient(): Promise<Client>;
  /** Stored events by any QUERY filter, as wire events. */
  query(filter: Filter): Promise<RowStream>;
  /** New events as they are stored (TAIL), as wire events. */
  tail(filter: Filter): Promise<RowStream>;
  /** Waits for every publish made before it, then closes the connections. */
  close(): Promise<void>;
}

class Bus implements EventBus {
  private pub: Promise<Client> | null = null;
  private adm: Promise<Client> | null = null;
  private classes = new Map<string, EventClass>();
  private closed = false;

  constructor(private readonly opts: EventBusOptions) {
    if (typeof opts?.socket !== 'string') throw new TypeError('createEventBus: { socket } is required');
  }

  client(): Promise<Client> {
    if (this.closed) return Promise.reject(new Error('event bus closed'));
    if (!this.pub) {
      this.pub = Client.connect({ ...this.opts, socket: this.opts.socket });
      this.pub.catch(() => (this.pub = null));
    }
    return this.pub;
  }

  queryClient(): Promise<Client> {
    if (this.opts.adminSocket === undefined || this.opts.adminSocket === this.opts.socket) return this.client();
    if (this.closed) return Promise.reject(new Error('event bus closed'));
    if (!this.adm) {
      this.adm = Client.connect({ ...this.opts, socket: this.opts.adminSocket });
      this.adm.catch(() => (this.adm = null));
    }
    return this.adm;
  }

  register(...classes: EventClass[]): void {
    for (const c of classes) {
      const t = typeof c.eventType === 'string' ? c.eventType : (Object.create(c.prototype).eventType ?? c.name);
      this.classes.set(t, c);
    }
  }

  async publish(event: DomainEvent): Promise<PublishResult> {
    const w = toWireEvent(event);
    return (await this.client()).publish(w);
  }

  async publishBatch(events: readonly DomainEvent[]): Promise<BatchResult> {
    const wire = events.map(toWireEvent);
    const c = await this.client();
    const limits = c.welcome?.limits ?? DEFAULT_LIMITS;
    /* Chunks within max_batch events and max_frame bytes (each event's
     * encoded size plus the array and frame headers, 16 bytes spare). */
    const chunks: Array<[number, WireEvent[]]> = [];
    let cur: WireEvent[] = [];
    let size = 16;
    let start = 0;
    wire.forEach((w, i) => {
      const n = encodeEvent(w).length;
      if (cur.length > 0 && (cur.length >= limits.maxBatch || size + n > limits.maxFrame)) {
        chunks.push([start, cur]);
        cur = [];
        size = 16;
        start = i;
      }
      cur.push(w);
      size += n;
    });
    if (cur.length > 0) chunks.push([start, cur]);
    const results = chunks.map(([at, evs]) =>
      c.publishBatch(evs).catch((e: unknown) => {
        if (e && typeof e === 'object' && 'index' in e && typeof e.index === 'number')
          Object.defineProperty(e, 'index', { value: e.index + at });
        throw e;
      }),
    );
    /* Every frame is answered before the first refusal (in order) is thrown. */
    const settled = await Promise.allSettled(results);
    const out: BatchResult = { ids: [], seqs: [], duplicates: [] };
    for (let k = 0; k < settled.length; k++) {
      const s = settled[k];
      if (s.status === 'rejected') throw s.reason;
      const r = s.value;
      const at = chunks[k][0];
      out.ids.push(...r.ids);
      out.seqs.push(...r.seqs);
      out.duplicates.push(...r.duplicates.map((i) => i + at));
    }
    return out;
  }

  async query(filter: Filter): Promise<RowStream> {
    return (await this.queryClient()).query(filter);
  }

  async tail(filter: Filter): Promise<RowStream> {
    return (await this.queryClient()).tail(filter);
  }

  private async collect(filter: Filter): Promise<DomainEvent[]> {
    const rows = await (await this.query(filter)).toArray();
    return rows.map((r) => fromStoredEvent(r, this.classes));
  }

  getEvents(stream: string): Promise<DomainEvent[]> {
    return this.collect({ stream });
  }

  getEventsByCorrelationId(correlationId: string): Promise<DomainEvent[]> {
    return this.collect({ correlation_id: correlationId });
  }

  async close(): Promise<void> {
    this.closed = true;
    const cs = await Promise.allSettled([this.pub, this.adm].filter((p): p is Promise<Client> => p !== null));
    await Promise.all(cs.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
  }
}

/** The original bus's factory: connects on first use. */
export function createEventBus(opts: EventBusOptions): EventBus {
  return new Bus(opts);
}
