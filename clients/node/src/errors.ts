/*
 * The two kinds of failure a caller sees: the daemon refused a request
 * (EventRouterError, carrying the NACK as it came), or the bytes on the
 * socket broke the protocol (ProtocolError, named like the C library's
 * ER_E* codes so both implementations report the same class for the same
 * test vector).
 */

/** NACK codes the daemon sends (eventrouter-protocol(7)), plus the client's own. */
export type NackCode =
  | 'invalid'
  | 'too_large'
  | 'forbidden'
  | 'busy'
  | 'unavailable'
  | 'store_full'
  | 'unsupported'
  | 'shutting_down'
  | 'protocol'
  /* Raised by the client itself, never sent by a daemon: */
  | 'closed'
  | 'disconnected'
  | string;

/**
 * A request the daemon refused (NACK), or one the client could not send.
 * `local` is true when the client decided without asking the daemon (a
 * frame above WELCOME's max_frame, a closed client, a lost connection
 * under ack mode none).
 */
export class EventRouterError extends Error {
  readonly code: NackCode;
  /** In a batch: the position of the refused event, else null. */
  readonly index: number | null;
  /** The daemon's hint: retry after this many milliseconds, else null. */
  readonly retryAfterMs: number | null;
  /** The request id the NACK answered (0: the connection itself). */
  readonly requestId: number;
  readonly local: boolean;

  constructor(
    code: NackCode,
    message: string,
    opts: { index?: number | null; retryAfterMs?: number | null; requestId?: number; local?: boolean } = {},
  ) {
    super(message === '' ? code : `${code}: ${message}`);
    this.name = 'EventRouterError';
    this.code = code;
    this.index = opts.index ?? null;
    this.retryAfterMs = opts.retryAfterMs ?? null;
    this.requestId = opts.requestId ?? 0;
    this.local = opts.local ?? false;
  }
}

/** Error classes of the test vectors (tests/vectors/README.md, Errors). */
export type ProtocolErrorClass =
  | 'ETRUNC'
  | 'ETYPE'
  | 'EUNKNOWNKEY'
  | 'EDUPKEY'
  | 'ETOOBIG'
  | 'EUTF8'
  | 'ENUL'
  | 'ETRAILING'
  | 'ERULE'
  | 'EMISSING'
  | 'EDAEMONFIELD'
  | 'ERESERVED'
  | 'EBADOP'
  | 'EFRAME';

/**
 * Bytes that are not the protocol: from a daemon, the client drops the
 * connection. `stage` is where it was found (framer, header, body);
 * `field` names the key when there is one.
 */
export class ProtocolError extends Error {
  readonly cls: ProtocolErrorClass;
  readonly stage: 'framer' | 'header' | 'body';
  readonly field: string | null;

  constructor(stage: 'framer' | 'header' | 'body', cls: ProtocolErrorClass, message: string, field?: string) {
    super(message);
    this.name = 'ProtocolError';
    this.cls = cls;
    this.stage = stage;
    this.field = field ?? null;
  }
}
