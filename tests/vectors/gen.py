#!/usr/bin/env python3
"""Regenerate the protocol test vectors of eventrouter-protocol(7).

Writes tests/vectors/*.json (format described in README.md). The files are
committed: the project's tests read them and never need Python. This script
is a second, independent implementation of the wire encoding (a small
msgpack encoder, stdlib only), so tests/unit/check_vectors.c comparing the C
codec with these bytes is a real cross-check, not the C code agreeing with
itself.

    python3 tests/vectors/gen.py            # rewrite the files
    python3 tests/vectors/gen.py --check    # exit 1 if a file is stale
"""

import json
import os
import struct
import sys

FORMAT = 1

# The daemon limits every file assumes (the `limits:` section of the
# daemon's config in the integration test; WELCOME reports the first three).
LIMITS = {
    "max_frame": 4096,
    "max_event_size": 2048,
    "max_batch": 8,
    "frame_timeout": "500ms",
}
MAX_FRAME = LIMITS["max_frame"]
MAX_EVENT = LIMITS["max_event_size"]
MAX_BATCH = LIMITS["max_batch"]

OPS = {
    1: "HELLO", 2: "PUBLISH", 3: "PUBLISH_BATCH", 4: "PING", 5: "QUERY",
    6: "TAIL", 7: "CANCEL", 8: "ADMIN", 64: "WELCOME", 65: "ACK",
    66: "NACK", 67: "PONG", 68: "ROWS", 69: "END", 70: "REPLY", 71: "GOAWAY",
}
OP = {v: k for k, v in OPS.items()}

# Canonical key order of an event map (what the C encoder writes).
EVENT_ORDER = [
    "type", "version", "priority", "time", "topic", "id", "stream",
    "correlation_id", "causation_id", "source", "traceparent", "tracestate",
    "content_type", "data", "meta", "seq", "received", "origin", "via", "hops",
]

# ------------------------------------------------------------------ msgpack


class Bin(bytes):
    """msgpack bin."""


class Str(bytes):
    """msgpack str holding exactly these bytes (may be invalid UTF-8)."""


class Raw(bytes):
    """Bytes spliced into the output verbatim (hand-made encodings)."""


class Float(float):
    """msgpack float 64."""


class Fixed:
    """An integer in a chosen encoding: code is the msgpack type byte."""

    def __init__(self, value, code):
        self.value = value
        self.code = code


def pack_int(v):
    if 0 <= v <= 0x7F:
        return bytes([v])
    if v >= 0:
        for code, fmt, lim in ((0xCC, ">B", 0xFF), (0xCD, ">H", 0xFFFF),
                               (0xCE, ">I", 0xFFFFFFFF),
                               (0xCF, ">Q", 0xFFFFFFFFFFFFFFFF)):
            if v <= lim:
                return bytes([code]) + struct.pack(fmt, v)
        raise ValueError(v)
    if v >= -32:
        return struct.pack(">b", v)
    for code, fmt, lim in ((0xD0, ">b", 1 << 7), (0xD1, ">h", 1 << 15),
                           (0xD2, ">i", 1 << 31), (0xD3, ">q", 1 << 63)):
        if v >= -lim:
            return bytes([code]) + struct.pack(fmt, v)
    raise ValueError(v)


def pack_len(n, fix, fixmax, codes):
    if fix is not None and n <= fixmax:
        return bytes([fix | n])
    for code, fmt, lim in codes:
        if n <= lim:
            return bytes([code]) + struct.pack(fmt, n)
    raise ValueError(n)


def pack(v):
    """Canonical msgpack: the shortest form of every length and integer."""
    if isinstance(v, Raw):
        return bytes(v)
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, Fixed):
        fmt = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
               0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}[v.code]
        return bytes([v.code]) + struct.pack(fmt, v.value)
    if isinstance(v, Float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, int):
        return pack_int(v)
    if isinstance(v, Bin):
        return pack_len(len(v), None, 0, ((0xC4, ">B", 0xFF), (0xC5, ">H", 0xFFFF),
                                          (0xC6, ">I", 0xFFFFFFFF))) + bytes(v)
    if isinstance(v, (str, Str)):
        b = v.encode("utf-8") if isinstance(v, str) else bytes(v)
        return pack_len(len(b), 0xA0, 31, ((0xD9, ">B", 0xFF), (0xDA, ">H", 0xFFFF),
                                           (0xDB, ">I", 0xFFFFFFFF))) + b
    if isinstance(v, (list, tuple)):
        return pack_len(len(v), 0x90, 15, ((0xDC, ">H", 0xFFFF),
                                           (0xDD, ">I", 0xFFFFFFFF))) + \
            b"".join(pack(x) for x in v)
    if isinstance(v, dict):
        return pack_len(len(v), 0x80, 15, ((0xDE, ">H", 0xFFFF),
                                           (0xDF, ">I", 0xFFFFFFFF))) + \
            b"".join(pack(k) + pack(x) for k, x in v.items())
    raise TypeError(type(v))


def canonical(v):
    """True when v packs canonically (no Raw, Fixed or Str pieces)."""
    if isinstance(v, (Raw, Fixed, Str)):
        return False
    if isinstance(v, (list, tuple)):
        return all(canonical(x) for x in v)
    if isinstance(v, dict):
        return all(canonical(k) and canonical(x) for k, x in v.items())
    return True


SAFE = (1 << 53) - 1


def to_json(v):
    """The typed JSON form of a msgpack value (README, "Bodies")."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, Fixed):
        v = v.value
    if isinstance(v, Float):
        raise TypeError("floats are not used in vector bodies")
    if isinstance(v, int):
        if -SAFE <= v <= SAFE:
            return v
        return {"$uint" if v > 0 else "$int": str(v)}
    if isinstance(v, Bin):
        return {"$bin": bytes(v).hex()}
    if isinstance(v, Str):
        return bytes(v).decode("utf-8")  # raises for invalid UTF-8
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    if isinstance(v, dict):
        return {to_json(k): to_json(x) for k, x in v.items()}
    raise TypeError(type(v))


def length(n):
    return struct.pack(">I", n)


def framed(payload):
    return length(len(payload)) + payload


def frame(op, req, body):
    return framed(pack([op, req, Raw(pack(body))]))


def ev(**fields):
    """An event map with its keys in canonical order."""
    for k in fields:
        assert k in EVENT_ORDER, k
    return {k: fields[k] for k in EVENT_ORDER if k in fields}


# ------------------------------------------------------------- vector sets


class Group:
    def __init__(self, name, description):
        self.name = name
        self.description = description
        self.vectors = []
        self.names = set()

    def add(self, name, description, direction, data, *, session=None,
            op=None, req=None, body=None, has_body=True, is_canonical=None,
            error=None, daemon=None, then=None):
        assert name not in self.names, name
        self.names.add(name)
        v = {"name": name, "description": description, "direction": direction}
        if direction == "to_daemon":
            v["session"] = session or "ready"
        v["hex"] = data.hex()
        if op is not None:
            f = {"op": op, "op_name": OPS.get(op), "request_id": req}
            v["frame"] = f
            if has_body and error is None:
                f["body"] = to_json(body)
                v["canonical"] = canonical(body) if is_canonical is None else is_canonical
                if v["canonical"]:
                    assert data == frame(op, req, body), name
        if error is not None:
            v["error"] = error
        if daemon is not None:
            v["daemon"] = daemon
        if then is not None:
            v["then"] = then
        self.vectors.append(v)

    def dump(self):
        return {
            "format": FORMAT,
            "group": self.name,
            "description": self.description,
            "limits": LIMITS,
            "vectors": self.vectors,
        }


def err(stage, cls, field=None, index=None, message=None):
    e = {"stage": stage, "class": cls}
    if field is not None:
        e["field"] = field
    if index is not None:
        e["index"] = index
    if message is not None:
        e["message"] = message
    return e


def nack(req, code, close, message=None, index=None):
    d = {"answer": "NACK", "request_id": req, "code": code, "index": index,
         "close": close}
    if message is not None:
        d["message"] = message
    return d


def ack(req, count):
    return {"answer": "ACK", "request_id": req, "count": count, "close": False}


def pong(req):
    return {"answer": "PONG", "request_id": req, "close": False}


def welcome():
    return {"answer": "WELCOME", "request_id": 0, "close": False,
            "limits": {k: LIMITS[k] for k in ("max_frame", "max_event_size", "max_batch")}}


SILENT_CLOSE = {"answer": None, "close": True}

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


# ------------------------------------------------------------------ session


def session_group():
    g = Group("session", "HELLO/WELCOME, PING/PONG, GOAWAY, and the session "
              "rules: HELLO first, once.")
    hello = {"version": 1, "client": "vectors", "ack": "received"}
    g.add("hello-received", "The HELLO that opens every \"ready\" session: "
          "version 1, a client name, ack mode received.", "to_daemon",
          frame(1, 1, hello), session="new", op=1, req=1, body=hello, daemon=welcome())
    for mode in ("none", "durable"):
        b = {"version": 1, "client": "vectors", "ack": mode}
        g.add("hello-" + mode, "HELLO asking for ack mode " + mode + ".", "to_daemon",
              frame(1, 1, b), session="new", op=1, req=1, body=b, daemon=welcome())
    b = {"version": 1, "ack": "received"}
    g.add("hello-no-client", "The client name is optional.", "to_daemon",
          frame(1, 1, b), session="new", op=1, req=1, body=b, daemon=welcome())
    b = {"version": 1, "client": "vectors"}
    g.add("hello-default-ack", "Without `ack` the mode is received. Not "
          "canonical: encoders always write `ack`.", "to_daemon", frame(1, 1, b),
          session="new", op=1, req=1, body=b, is_canonical=False, daemon=welcome())
    b = {"ack": "received", "client": "", "version": Fixed(1, 0xCE)}
    g.add("hello-any-order", "Keys in any order, any integer width, an empty "
          "client name: all accepted.", "to_daemon",
          framed(pack([Fixed(1, 0xCD), Fixed(7, 0xCF), Raw(pack(b))])), session="new",
          op=1, req=7, body=b, daemon=welcome())

    def bad_hello(name, desc, body_bytes, cls, field, message=None, req=3):
        g.add(name, desc + " Refused: the daemon answers NACK with request id 0 "
              "and closes.", "to_daemon", framed(pack([1, req, Raw(body_bytes)])),
              session="new", op=1, req=req, error=err("body", cls, field),
              daemon=nack(0, "protocol" if cls in ("ETRUNC", "ETRAILING") else "invalid",
                          True, message))

    bad_hello("hello-unknown-key", "HELLO is strict: an unknown key.",
              pack({"version": 1, "compress": True}), "EUNKNOWNKEY", "compress",
              "unknown key \"compress\"")
    bad_hello("hello-duplicate-key", "A key twice.",
              pack({"version": 1, "ack": "none", "Xck": "none"}).replace(b"Xck", b"ack"),
              "EDUPKEY", "ack", "duplicate key \"ack\"")
    bad_hello("hello-bad-ack", "An ack mode that does not exist.",
              pack({"version": 1, "ack": "always"}), "ERULE", "ack", "HELLO.ack")
    bad_hello("hello-ack-with-nul", "An ack mode with a NUL after a valid name.",
              pack({"version": 1, "ack": Str(b"none\x00")}), "ERULE", "ack", "HELLO.ack")
    bad_hello("hello-ack-wrong-type", "ack must be a str.",
              pack({"version": 1, "ack": 1}), "ETYPE", "ack", "HELLO.ack")
    bad_hello("hello-missing-version", "version is required.",
              pack({"client": "vectors", "ack": "none"}), "EMISSING", "version",
              "HELLO.version: required")
    bad_hello("hello-version-wrong-type", "version must be a uint.",
              pack({"version": "1"}), "ETYPE", "version", "HELLO.version")
    bad_hello("hello-client-wrong-type", "client must be a str.",
              pack({"version": 1, "client": Bin(b"x")}), "ETYPE", "client", "HELLO.client")
    bad_hello("hello-client-too-long", "client is at most 255 bytes.",
              pack({"version": 1, "client": "c" * 256}), "ERULE", "client", "HELLO.client")
    bad_hello("hello-client-invalid-utf8", "client is text.",
              pack({"version": 1, "client": Str(b"x\xc0\xaf")}), "EUTF8", "client",
              "HELLO.client")
    bad_hello("hello-client-nul", "client must not contain NUL.",
              pack({"version": 1, "client": Str(b"x\x00y")}), "ENUL", "client", "HELLO.client")
    bad_hello("hello-body-not-map", "The body must be a map.", pack(None), "ETYPE", None,
              "body must be a map")
    bad_hello("hello-trailing-bytes", "Bytes after the body: a framing error.",
              pack({"version": 1}) + b"\xc0", "ETRAILING", None, "trailing bytes")
    bad_hello("hello-truncated", "The body ends inside a value: a framing error.",
              pack({"version": 1, "ack": "none"})[:-3], "ETRUNC", None, "truncated")

    b = {"version": 2, "client": "vectors", "ack": "received"}
    g.add("hello-version-2", "A protocol version this daemon does not speak: "
          "decodes, then NACK unsupported (request id 0) and close.", "to_daemon",
          frame(1, 4, b), session="new", op=1, req=4, body=b,
          daemon=nack(0, "unsupported", True, "protocol version 2"))
    g.add("hello-twice", "A second HELLO on a ready session: NACK protocol "
          "with its request id; the connection stays open.", "to_daemon",
          frame(1, 5, hello), session="ready", op=1, req=5, body=hello,
          daemon=nack(5, "protocol", False, "HELLO already received"))
    g.add("ping-before-hello", "Any frame but HELLO first: NACK protocol, "
          "request id 0, close.", "to_daemon", frame(4, 6, None), session="new",
          op=4, req=6, body=None, daemon=nack(0, "protocol", True, "before HELLO"))
    e = ev(type="UserLoggedIn")
    g.add("publish-before-hello", "PUBLISH before HELLO: NACK protocol, request "
          "id 0, close.", "to_daemon", frame(2, 7, e), session="new", op=2, req=7,
          body=e, daemon=nack(0, "protocol", True, "before HELLO"))

    g.add("ping", "PING (nil body) answered by PONG with the same request id.",
          "to_daemon", frame(4, 9, None), op=4, req=9, body=None, daemon=pong(9))
    g.add("ping-max-request-id", "The largest request id.", "to_daemon",
          frame(4, 0xFFFFFFFF, None), op=4, req=0xFFFFFFFF, body=None,
          daemon=pong(0xFFFFFFFF))
    g.add("ping-body-not-nil", "PING's body must be nil: a content error, the "
          "connection stays open.", "to_daemon", frame(4, 10, {}), op=4, req=10,
          error=err("body", "ETYPE", None, message="PING: expected nil"),
          daemon=nack(10, "invalid", False, "PING: expected nil"))
    g.add("ping-trailing-bytes", "A second nil after PING's body: trailing "
          "bytes, a framing error.", "to_daemon", framed(pack([4, 11, Raw(b"\xc0\xc0")])), op=4, req=11,
          error=err("body", "ETRAILING", None, message="trailing bytes"),
          daemon=nack(0, "protocol", True, "trailing bytes"))

    # The worked example of eventrouter-protocol(7), EXAMPLES.
    b = {"version": 1, "client": "app", "ack": "durable"}
    g.add("example-hello", "The HELLO of the man page's worked example.", "to_daemon",
          frame(1, 1, b), session="new", op=1, req=1, body=b, daemon=welcome())
    w = {"version": 1, "durable": False,
         "limits": {"max_frame": 1048576, "max_event_size": 524288, "max_batch": 1024,
                    "max_inflight": 4096}}
    g.add("example-welcome", "The WELCOME of the man page's worked example.",
          "to_client", frame(64, 0, w), op=64, req=0, body=w)
    g.add("pong", "PONG (nil body).", "to_client", frame(67, 9, None), op=67, req=9,
          body=None)
    w = {"version": 1, "durable": False,
         "limits": {"max_frame": 1048576, "max_event_size": 524288, "max_batch": 1024,
                    "max_inflight": 4096}}
    g.add("welcome-defaults", "WELCOME with the default limits, no durable store.",
          "to_client", frame(64, 0, w), op=64, req=0, body=w)
    w = {"version": 1, "durable": True,
         "limits": {"max_frame": MAX_FRAME, "max_event_size": MAX_EVENT,
                    "max_batch": MAX_BATCH, "max_inflight": 16}}
    g.add("welcome-durable", "WELCOME from a daemon whose store is durable.",
          "to_client", frame(64, 0, w), op=64, req=0, body=w)
    w = {"version": 1, "features": ["query", {"tail": True}], "durable": False,
         "limits": {"max_frame": MAX_FRAME, "max_rate": 100, "max_event_size": MAX_EVENT},
         "server": "eventrouterd 9.9"}
    g.add("welcome-newer-daemon", "A newer daemon adds keys (at both levels) and "
          "may leave limits out: clients skip what they do not know; a missing "
          "limit is the protocol default.", "to_client", frame(64, 0, w), op=64, req=0,
          body=w, is_canonical=False)
    g.add("welcome-durable-wrong-type", "durable must be a bool: a client reports "
          "a protocol violation.", "to_client",
          frame(64, 0, {"version": 1, "durable": 1}), op=64, req=0,
          error=err("body", "ETYPE", "durable"))
    g.add("welcome-duplicate-key", "Lenient is not sloppy: a duplicate key is "
          "refused.", "to_client",
          frame(64, 0, {"version": 1, "Xersion": 1}).replace(b"Xersion", b"version"),
          op=64, req=0, error=err("body", "EDUPKEY", "version"))
    gw = {"reason": "shutting down"}
    g.add("goaway", "GOAWAY: the daemon is shutting down; the client stops "
          "sending, reads until close, reconnects later.", "to_client",
          frame(71, 0, gw), op=71, req=0, body=gw)
    gw = {"reconnect_after_ms": 500, "reason": "reload"}
    g.add("goaway-newer-daemon", "GOAWAY with a key this client does not know.",
          "to_client", frame(71, 0, gw), op=71, req=0, body=gw, is_canonical=False)
    g.add("goaway-trailing-bytes", "Trailing bytes after a daemon's body.",
          "to_client", framed(pack([71, 0, Raw(pack({"reason": "x"}) + b"\xc0")])),
          op=71, req=0, error=err("body", "ETRAILING"))
    return g


# ------------------------------------------------------------------ publish


def publish_group():
    g = Group("publish", "PUBLISH: valid events, and every rule of the event "
              "(DESIGN §3) broken once. Content errors answer NACK with the "
              "request id and keep the connection.")
    req = [100]

    def next_req():
        req[0] += 1
        return req[0]

    def ok(name, desc, body, is_canonical=None):
        r = next_req()
        g.add(name, desc, "to_daemon", frame(2, r, body), op=2, req=r, body=body,
              is_canonical=is_canonical, daemon=ack(r, 1))

    def bad(name, desc, body, cls, field, message, code=None):
        r = next_req()
        closes = cls in ("ETRUNC", "ETRAILING")
        code = code or ("protocol" if closes else "too_large" if cls == "ETOOBIG"
                        else "invalid")
        g.add(name, desc, "to_daemon", frame(2, r, body), op=2, req=r,
              error=err("body", cls, field, message=message),
              daemon=nack(0 if closes else r, code, closes, message))

    e = ev(type="UserLoggedIn", stream="user:42", data=Bin(b'{"id":42}'))
    g.add("example-publish", "The PUBLISH of the man page's worked example.", "to_daemon",
          frame(2, 2, e), op=2, req=2, body=e, daemon=ack(2, 1))
    ok("publish-minimal", "The smallest event: only `type`.", ev(type="UserLoggedIn"))
    full = ev(type="OrderCreated", version=2, priority="high", time=1700000000123456,
              topic="orders.created", id="01890a5d-ac96-774b-bcce-b302099a8057",
              stream="order:42", correlation_id="req-7f3a", causation_id="cmd-19",
              source="shop-api", traceparent=TRACEPARENT,
              tracestate="rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
              content_type="application/json", data=Bin(b'{"total":42}'),
              meta={"tenant": "acme", "region": "eu-west-1"})
    ok("publish-all-fields", "Every field a client may set.", full)
    ok("publish-data-str", "data as str (UTF-8 text).",
       ev(type="Note", content_type="text/plain", data="h\u00e9llo \U0001F600"))
    ok("publish-data-bin-binary", "data as bin: any bytes.",
       ev(type="Blob", content_type="application/octet-stream",
          data=Bin(bytes([0, 0xFF, 0xC1, 0x80]))))
    for i, p in enumerate(("low", "normal", "high", "critical")):
        ok("publish-priority-" + p, "priority by name.", ev(type="T", priority=p))
        ok("publish-priority-int-%d" % i, "priority as 0-3 (not canonical: "
           "encoders write the name).", {"type": "T", "priority": i}, is_canonical=False)
    ok("publish-noncanonical-widths", "Integers in wider encodings than needed "
       "decode the same.", {"type": "T", "version": Fixed(3, 0xCF), "time": Fixed(5, 0xD3)})
    ok("publish-keys-any-order", "Keys in any order.",
       {"topic": "a.b", "type": "T", "version": 1}, is_canonical=False)
    ok("publish-boundaries", "Every length at its maximum.",
       ev(type="T" * 128, version=0xFFFFFFFF, time=(1 << 63) - 1,
          topic=".".join(["x" * 15] * 16), id="i" * 64, stream="s" * 255,
          correlation_id="c" * 128, causation_id="c" * 128, source="s" * 255,
          content_type="t" * 127))
    ok("publish-time-zero", "time 0 is the epoch.", ev(type="T", time=0))
    ok("publish-stream-unicode", "A stream is text: any printable character.",
       ev(type="T", stream="caf\u00e9:\u20ac"))
    ok("publish-dollar-inside-stream", "Only a leading '$' is reserved.",
       ev(type="T", stream="a$b"))
    ok("publish-traceparent-future", "A future traceparent version may append "
       "fields.", ev(type="T", traceparent="01" + TRACEPARENT[2:] + "-extra"))
    ok("publish-meta-64", "64 meta entries, the most allowed.",
       ev(type="T", meta={"k%d" % i: "v" for i in range(64)}))
    ok("publish-meta-empty", "An empty meta map (not canonical: encoders omit "
       "it).", ev(type="T", meta={}), is_canonical=False)
    # Exactly max_event_size: data fills it up.
    base = len(pack(ev(type="T", data=Bin(b""))))
    n = MAX_EVENT - base
    e = ev(type="T", data=Bin(b"d" * n))
    while len(pack(e)) > MAX_EVENT:
        n -= 1
        e = ev(type="T", data=Bin(b"d" * n))
    while len(pack(ev(type="T", data=Bin(b"d" * (n + 1))))) <= MAX_EVENT:
        n += 1
        e = ev(type="T", data=Bin(b"d" * n))
    assert len(pack(e)) == MAX_EVENT
    ok("publish-max-event-size", "An event of exactly max_event_size bytes.", e)
    e = ev(type="T", data=Bin(b"d" * (n + 1)))
    assert len(pack(e)) == MAX_EVENT + 1
    bad("publish-oversized", "An event one byte over max_event_size: NACK "
        "too_large, the connection stays open.", e, "ETOOBIG", None,
        "larger than max_event_size")

    # type
    bad("publish-type-missing", "type is required.", ev(version=1), "EMISSING", "type",
        "type: required")
    bad("publish-type-empty", "type is 1-128 characters.", ev(type=""), "ERULE", "type",
        "type:")
    bad("publish-type-129", "type is 1-128 characters.", ev(type="T" * 129), "ERULE",
        "type", "type:")
    bad("publish-type-bad-char", "type is [A-Za-z0-9_.-].", ev(type="User Logged In"),
        "ERULE", "type", "type:")
    # version
    bad("publish-version-0", "version is at least 1.", ev(type="T", version=0), "ERULE",
        "version", "version:")
    bad("publish-version-negative", "version is a uint.", ev(type="T", version=-1),
        "ERULE", "version", "version:")
    # topic
    for name, t in (("double-dot", "a..b"), ("leading-dot", ".a"), ("trailing-dot", "a."),
                    ("bad-char", "a/b"), ("space", "a b"), ("empty", ""),
                    ("256", "t" * 256)):
        bad("publish-topic-" + name, "topic: segments of [A-Za-z0-9_-]+ joined by "
            "'.', at most 255 bytes.", ev(type="T", topic=t), "ERULE", "topic", "topic:")
    # priority
    bad("publish-priority-unknown-name", "priority names are low, normal, high, "
        "critical.", ev(type="T", priority="urgent"), "ERULE", "priority", "priority:")
    bad("publish-priority-4", "priority numbers are 0-3.", {"type": "T", "priority": 4},
        "ERULE", "priority", "priority:")
    bad("publish-priority-negative", "priority numbers are 0-3.",
        {"type": "T", "priority": -1}, "ERULE", "priority", "priority:")
    # id
    bad("publish-id-65", "id is 1-64 characters.", ev(type="T", id="i" * 65), "ERULE",
        "id", "id:")
    bad("publish-id-empty", "id is 1-64 characters.", ev(type="T", id=""), "ERULE", "id",
        "id:")
    bad("publish-id-space", "id is printable ASCII without space.",
        ev(type="T", id="a b"), "ERULE", "id", "id:")
    bad("publish-id-control", "id is printable ASCII.", ev(type="T", id="a\x01"),
        "ERULE", "id", "id:")
    bad("publish-id-non-ascii", "id is ASCII.", ev(type="T", id="caf\u00e9"), "ERULE",
        "id", "id:")
    # time
    bad("publish-time-negative", "time is µs since the epoch, >= 0.",
        ev(type="T", time=-1), "ERULE", "time", "time:")
    bad("publish-time-too-big", "time must fit int64.",
        ev(type="T", time=1 << 63), "ERULE", "time", "time:")
    # stream
    bad("publish-stream-dollar", "Streams starting with '$' are reserved for "
        "the daemon and plugins.", ev(type="T", stream="$audit"), "ERESERVED", "stream",
        "reserved")
    bad("publish-stream-control", "stream has no control characters.",
        ev(type="T", stream="user:\x1b[31m"), "ERULE", "stream", "stream:")
    bad("publish-stream-c1-control", "C1 control characters (U+0080-U+009F) "
        "are control characters too.", ev(type="T", stream="user:\u009b"), "ERULE",
        "stream", "stream:")
    bad("publish-stream-256", "stream is at most 255 bytes.", ev(type="T", stream="s" * 256),
        "ERULE", "stream", "stream:")
    bad("publish-stream-empty", "stream is at least 1 byte.", ev(type="T", stream=""),
        "ERULE", "stream", "stream:")
    # text fields
    for f, mx in (("correlation_id", 128), ("causation_id", 128), ("source", 255),
                  ("content_type", 127)):
        bad("publish-%s-%d" % (f.replace("_", "-"), mx + 1), "%s is at most %d bytes."
            % (f, mx), ev(type="T", **{f: "x" * (mx + 1)}), "ERULE", f, f + ":")
    # trace context
    for name, t in (("uppercase", TRACEPARENT.upper()), ("version-ff", "ff" + TRACEPARENT[2:]),
                    ("zero-trace-id", "00-" + "0" * 32 + TRACEPARENT[35:]),
                    ("zero-parent-id", TRACEPARENT[:36] + "0" * 16 + TRACEPARENT[52:]),
                    ("short", TRACEPARENT[:-1]), ("v00-extra", TRACEPARENT + "-x"),
                    ("garbage", "not-a-traceparent")):
        bad("publish-traceparent-" + name, "traceparent follows W3C trace context.",
            ev(type="T", traceparent=t), "ERULE", "traceparent", "traceparent:")
    for name, t in (("no-equals", "rojo"), ("uppercase-key", "Rojo=1"),
                    ("33-members", ",".join("k%d=v" % i for i in range(33))),
                    ("control", "rojo=a\x01"), ("too-long", "k=" + "v" * 600)):
        bad("publish-tracestate-" + name, "tracestate follows W3C trace context.",
            ev(type="T", tracestate=t), "ERULE", "tracestate", "tracestate:")
    # data
    bad("publish-data-str-invalid-utf8", "data sent as str must be UTF-8 (send "
        "bytes as bin).", ev(type="T", data=Str(b"\xff\xfe")), "EUTF8", "data", "data:")
    # meta
    bad("publish-meta-65", "meta has at most 64 entries.",
        ev(type="T", meta={"k%d" % i: "v" for i in range(65)}), "ERULE", "meta", "meta:")
    bad("publish-meta-duplicate-key", "meta keys are unique.",
        {"type": "T", "meta": Raw(b"\x83" + pack("a") + pack("1") + pack("b") +
                                  pack("2") + pack("a") + pack("3"))},
        "EDUPKEY", "meta", "meta: duplicate key")
    bad("publish-meta-value-not-str", "meta values are str.",
        ev(type="T", meta={"a": 1}), "ETYPE", "meta", "meta value:")
    bad("publish-meta-key-not-str", "meta keys are str.",
        {"type": "T", "meta": Raw(b"\x81\x01\xa1v")}, "ETYPE", "meta", "meta key:")
    bad("publish-meta-value-nul", "meta values are text without NUL.",
        ev(type="T", meta={"k": Str(b"a\x00")}), "ENUL", "meta", "meta.k:")
    # strings
    bad("publish-source-invalid-utf8", "Every str is valid UTF-8.",
        ev(type="T", source=Str(b"shop\xc3")), "EUTF8", "source", "source:")
    bad("publish-stream-overlong-utf8", "Overlong UTF-8 is invalid.",
        ev(type="T", stream=Str(b"\xc0\xaf")), "EUTF8", "stream", "stream:")
    bad("publish-stream-surrogate", "UTF-8-encoded surrogates are invalid.",
        ev(type="T", stream=Str(b"\xed\xa0\x80")), "EUTF8", "stream", "stream:")
    bad("publish-correlation-id-nul", "No str may contain NUL.",
        ev(type="T", correlation_id=Str(b"a\x00b")), "ENUL", "correlation_id",
        "correlation_id:")
    bad("publish-content-type-nul", "No str may contain NUL.",
        ev(type="T", content_type=Str(b"text/plain\x00")), "ENUL", "content_type",
        "content_type:")
    # daemon fields
    for f, v in (("seq", 1), ("received", 1700000000000000),
                 ("origin", {"pid": 1, "uid": 0, "gid": 0}), ("via", {"broker": "b"}),
                 ("hops", 1)):
        bad("publish-daemon-field-" + f, "`%s` is set by the daemon; a client "
            "that sends it is refused." % f, ev(type="T", **{f: v}), "EDAEMONFIELD", f,
            f + ": set by the daemon")
    # shape
    bad("publish-unknown-field", "Unknown keys are refused, named.",
        {"type": "T", "colour": "blue"}, "EUNKNOWNKEY", "colour", "unknown field \"colour\"")
    bad("publish-duplicate-field", "A key twice.",
        {"type": "T", "Xype": "U"}, "EDUPKEY", "type", "duplicate field \"type\"")
    # (the dict above cannot hold a key twice: patch the bytes)
    v = g.vectors[-1]
    v["hex"] = v["hex"].replace(b"Xype".hex(), b"type".hex())
    bad("publish-key-not-str", "Event keys are str.",
        {"type": "T", 1: "x"}, "ETYPE", None, "keys must be str")
    bad("publish-not-a-map", "The body is one event map.", ["type", "T"], "ETYPE", None,
        "event: expected map")
    wrong = (("type", 1, "uint"), ("version", "1", "str"), ("topic", Bin(b"a"), "bin"),
             ("priority", True, "bool"), ("id", 7, "uint"), ("time", "now", "str"),
             ("time", Float(1.5), "float"), ("stream", None, "nil"),
             ("correlation_id", -1, "int"), ("causation_id", False, "bool"),
             ("source", {}, "map"), ("traceparent", Bin(b"t"), "bin"),
             ("tracestate", ["a"], "array"), ("content_type", 1, "uint"),
             ("data", 1, "uint"), ("data", None, "nil"), ("meta", ["a", "b"], "array"),
             ("meta", "a=b", "str"))
    for f, v, tn in wrong:
        body = {"type": "T", f: v} if f != "type" else {"type": v}
        bad("publish-%s-%s" % (f.replace("_", "-"), tn), "%s does not take a %s."
            % (f, tn), body, "ETYPE", f, f + ":")

    # framing errors inside the body
    r = next_req()
    g.add("publish-trailing-bytes", "Bytes after the event map: a framing error "
          "(NACK protocol, request id 0, close).", "to_daemon",
          framed(pack([2, r, Raw(pack(ev(type="T")) + b"\xc0")])), op=2, req=r,
          error=err("body", "ETRAILING", message="trailing bytes"),
          daemon=nack(0, "protocol", True, "trailing bytes"))
    r = next_req()
    g.add("publish-truncated-event", "The event ends inside a value (the frame "
          "is complete, its msgpack is not): a framing error.", "to_daemon",
          framed(pack([2, r, Raw(pack(ev(type="T", source="shop"))[:-2])])), op=2, req=r,
          error=err("body", "ETRUNC", message="truncated"),
          daemon=nack(0, "protocol", True, "truncated"))
    r = next_req()
    g.add("publish-container-count-too-large", "meta claims 4 billion entries in a "
          "few bytes: truncated, nothing is allocated; a framing error.", "to_daemon",
          framed(pack([2, r, Raw(b"\x82" + pack("type") + pack("T") + pack("meta") +
                                 b"\xdf\xff\xff\xff\xff")])), op=2, req=r,
          error=err("body", "ETRUNC", "meta", message="truncated"),
          daemon=nack(0, "protocol", True, "truncated"))
    r = next_req()
    g.add("publish-data-length-too-large", "data claims more bytes than the frame "
          "has.", "to_daemon",
          framed(pack([2, r, Raw(b"\x82" + pack("type") + pack("T") + pack("data") +
                                 b"\xc6\x00\x01\x00\x00abc")])), op=2, req=r,
          error=err("body", "ETRUNC", "data", message="truncated"),
          daemon=nack(0, "protocol", True, "truncated"))
    return g


# -------------------------------------------------------------------- batch


def batch_group():
    g = Group("batch", "PUBLISH_BATCH: an array of events, all validated before "
              "any is taken; one bad event refuses the whole batch and NACK.index "
              "names it.")
    evs = [ev(type="OrderCreated", stream="order:1"), ev(type="OrderPaid", stream="order:1")]
    g.add("batch-two", "Two events: one ACK for both.", "to_daemon", frame(3, 200, evs),
          op=3, req=200, body=evs, daemon=ack(200, 2))
    evs = [ev(type="T%d" % i) for i in range(MAX_BATCH)]
    g.add("batch-max", "max_batch events.", "to_daemon", frame(3, 201, evs), op=3, req=201,
          body=evs, daemon=ack(201, MAX_BATCH))
    evs = [ev(type="T")]
    g.add("batch-one", "A batch of one.", "to_daemon", frame(3, 202, evs), op=3, req=202,
          body=evs, daemon=ack(202, 1))
    g.add("batch-empty", "An empty batch is refused (content error).", "to_daemon",
          frame(3, 203, []), op=3, req=203,
          error=err("body", "ERULE", message="empty batch"),
          daemon=nack(203, "invalid", False, "empty batch"))
    evs = [ev(type="T%d" % i) for i in range(MAX_BATCH + 1)]
    g.add("batch-over-max", "One event more than max_batch: NACK too_large, "
          "refused before any event is read.", "to_daemon", frame(3, 204, evs), op=3,
          req=204, error=err("body", "ETOOBIG", message="above max_batch"),
          daemon=nack(204, "too_large", False, "above max_batch"))
    g.add("batch-not-array", "The body is an array of events.", "to_daemon",
          frame(3, 205, ev(type="T")), op=3, req=205,
          error=err("body", "ETYPE", message="expected array"),
          daemon=nack(205, "invalid", False, "expected array"))
    evs = [ev(type="A"), ev(type="B b"), ev(type="C")]
    g.add("batch-bad-event-index-1", "The event at index 1 breaks the type rule: "
          "the whole batch is refused, index 1.", "to_daemon", frame(3, 206, evs), op=3,
          req=206, error=err("body", "ERULE", "type", index=1, message="type:"),
          daemon=nack(206, "invalid", False, "type:", index=1))
    evs = [ev(type="A"), ev(type="B"), ev(type="C", seq=9)]
    g.add("batch-daemon-field-index-2", "A daemon field in the event at index 2.",
          "to_daemon", frame(3, 207, evs), op=3, req=207,
          error=err("body", "EDAEMONFIELD", "seq", index=2, message="seq: set by the daemon"),
          daemon=nack(207, "invalid", False, "seq: set by the daemon", index=2))
    evs = [ev(type="A", data=Bin(b"x" * (MAX_EVENT + 10))), ev(type="B")]
    g.add("batch-oversized-event-index-0", "An event over max_event_size in a "
          "batch: too_large, index 0.", "to_daemon", frame(3, 208, evs), op=3, req=208,
          error=err("body", "ETOOBIG", index=0, message="larger than max_event_size"),
          daemon=nack(208, "too_large", False, "larger than max_event_size", index=0))
    evs = [ev(type="A"), ev(type="B", stream="$internal")]
    g.add("batch-dollar-stream-index-1", "A reserved stream in a batch.", "to_daemon",
          frame(3, 209, evs), op=3, req=209,
          error=err("body", "ERESERVED", "stream", index=1, message="reserved"),
          daemon=nack(209, "invalid", False, "reserved", index=1))
    g.add("batch-trailing-bytes", "Bytes after the array: a framing error.",
          "to_daemon", framed(pack([3, 210, Raw(pack([ev(type="A")]) + b"\x00")])), op=3,
          req=210, error=err("body", "ETRAILING", message="trailing bytes"),
          daemon=nack(0, "protocol", True, "trailing bytes"))
    g.add("batch-count-too-large", "An array claiming 4 billion events in a few "
          "bytes: truncated, nothing allocated; a framing error.", "to_daemon",
          framed(pack([3, 211, Raw(b"\xdd\xff\xff\xff\xff\x81")])), op=3, req=211,
          error=err("body", "ETRUNC", message="truncated"),
          daemon=nack(0, "protocol", True, "truncated"))
    g.add("batch-truncated-event-index-1", "The second event ends early: a "
          "framing error.", "to_daemon",
          framed(pack([3, 212, Raw(b"\x92" + pack(ev(type="A")) + pack(ev(type="B"))[:-1])])),
          op=3, req=212, error=err("body", "ETRUNC", index=1, message="truncated"),
          daemon=nack(0, "protocol", True, "truncated"))
    # Over max_frame: refused from the length alone (only the header is sent).
    evs = [ev(type="T", data=Bin(b"x" * 1500)) for _ in range(3)]
    full = frame(3, 213, evs)
    assert len(full) - 4 > MAX_FRAME
    g.add("batch-over-max-frame", "A batch whose frame is larger than max_frame: "
          "refused from the 4 length bytes alone (only they are sent), NACK "
          "too_large, request id 0, close.", "to_daemon", full[:4],
          error=err("framer", "ETOOBIG"),
          daemon=nack(0, "too_large", True, "above max_frame"))
    return g


# ------------------------------------------------------------------ answers


def answers_group():
    g = Group("answers", "ACK and NACK as the daemon sends them; clients decode "
              "them leniently (unknown keys skipped).")
    a = {"seq": 1, "count": 1, "dups": None}
    g.add("example-ack", "The ACK of the man page's worked example.", "to_client",
          frame(65, 2, a), op=65, req=2, body=a)
    g.add("ack-one", "One event stored as seq 1.", "to_client", frame(65, 101, a), op=65,
          req=101, body=a)
    a = {"seq": 1000, "count": 8, "dups": None}
    g.add("ack-batch", "A batch of 8 stored as seqs 1000-1007.", "to_client",
          frame(65, 201, a), op=65, req=201, body=a)
    a = {"seq": 57, "count": 2, "dups": [[1, 12], [3, 40]]}
    g.add("ack-with-dups", "Events 1 and 3 of a batch of 4 were duplicates of "
          "seqs 12 and 40; 0 and 2 were stored as 57 and 58.", "to_client",
          frame(65, 300, a), op=65, req=300, body=a)
    a = {"seq": 0, "count": 0, "dups": [[0, 9]]}
    g.add("ack-all-dups", "Nothing new: the only event was a duplicate of seq 9.",
          "to_client", frame(65, 301, a), op=65, req=301, body=a)
    a = {"seq": (1 << 63) + 5, "count": 1, "dups": None}
    g.add("ack-seq-64-bit", "seq uses all 64 bits (JSON: {\"$uint\": ...}).",
          "to_client", frame(65, 302, a), op=65, req=302, body=a)
    a = {"seq": 5, "commit_us": 120, "count": 1}
    g.add("ack-newer-daemon", "An unknown key is skipped; no dups key is no "
          "duplicates.", "to_client", frame(65, 303, a), op=65, req=303, body=a,
          is_canonical=False)
    g.add("ack-dups-wrong-type", "dups must be nil or an array.", "to_client",
          frame(65, 304, {"seq": 1, "count": 1, "dups": "none"}), op=65, req=304,
          error=err("body", "ETYPE", "dups"))
    g.add("ack-dup-entry-shape", "Each dup is [index, seq].", "to_client",
          frame(65, 305, {"seq": 1, "count": 1, "dups": [[1, 2, 3]]}), op=65, req=305,
          error=err("body", "ERULE", "dups"))
    g.add("ack-trailing-bytes", "Trailing bytes after an ACK body.", "to_client",
          framed(pack([65, 306, Raw(pack({"seq": 1}) + b"\x01")])), op=65, req=306,
          error=err("body", "ETRAILING"))

    n = {"code": "invalid", "message": "type: required", "index": None,
         "retry_after_ms": None}
    g.add("nack-invalid", "A refused PUBLISH.", "to_client", frame(66, 110, n), op=66,
          req=110, body=n)
    n = {"code": "invalid", "message": "event 1: type: must be 1-128 characters of "
         "[A-Za-z0-9_.-]", "index": 1, "retry_after_ms": None}
    g.add("nack-with-index", "A refused batch: index names the event.", "to_client",
          frame(66, 206, n), op=66, req=206, body=n)
    n = {"code": "busy", "message": "too many connections (max_connections)",
         "index": None, "retry_after_ms": 1000}
    g.add("nack-busy-retry", "busy with a retry hint, request id 0.", "to_client",
          frame(66, 0, n), op=66, req=0, body=n)
    n = {"code": "protocol", "message": "frame length 0", "index": None,
         "retry_after_ms": None}
    g.add("nack-protocol", "A framing error: request id 0, the daemon closes "
          "after it.", "to_client", frame(66, 0, n), op=66, req=0, body=n)
    n = {"code": "store_full"}
    g.add("nack-code-only", "Only a code: message empty, index and "
          "retry_after_ms absent.", "to_client", frame(66, 7, n), op=66, req=7, body=n,
          is_canonical=False)
    n = {"code": "invalid", "field": "type", "message": "m", "hint": {"see": "docs"}}
    g.add("nack-newer-daemon", "Unknown keys skipped, nested values included.",
          "to_client", frame(66, 8, n), op=66, req=8, body=n, is_canonical=False)
    g.add("nack-index-negative", "index is nil or a uint.", "to_client",
          frame(66, 9, {"code": "invalid", "index": -1}), op=66, req=9,
          error=err("body", "ETYPE", "index"))
    return g


# ------------------------------------------------------------ other ops


def other_ops_group():
    g = Group("ops", "QUERY, TAIL, CANCEL and ADMIN on the publish socket, and "
              "ops only the daemon sends.")
    q = {"stream": "user:123", "limit": 10}
    g.add("query", "QUERY is served on the admin socket, and on the publish socket "
          "only to peers an acl rule grants read (none here): NACK forbidden, "
          "connection open.",
          "to_daemon", frame(5, 400, q), op=5, req=400, body=q,
          daemon=nack(400, "forbidden", False, "admin socket"))
    t = {"type": "OrderCreated"}
    g.add("tail", "TAIL, like QUERY, is served on the admin socket, and on the "
          "publish socket only to peers an acl rule grants read (none here): NACK "
          "forbidden, connection open.", "to_daemon", frame(6, 401, t), op=6,
          req=401, body=t, daemon=nack(401, "forbidden", False, "admin socket"))
    g.add("cancel", "CANCEL (nil body) ends a QUERY or TAIL, served where they are: "
          "NACK forbidden.", "to_daemon",
          frame(7, 400, None), op=7, req=400, body=None,
          daemon=nack(400, "forbidden", False, "admin socket"))
    a = {"cmd": "stats", "args": {}}
    g.add("admin-on-publish-socket", "ADMIN is served on the admin socket only: "
          "NACK forbidden, connection open.", "to_daemon", frame(8, 402, a), op=8,
          req=402, body=a, daemon=nack(402, "forbidden", False, "admin socket only"))
    body = {"seq": 1, "count": 1, "dups": None}
    g.add("client-sends-ack", "An op the daemon sends, sent by a client: a "
          "framing error (NACK protocol, request id 0, close).", "to_daemon",
          frame(65, 403, body), op=65, req=403, body=body,
          daemon=nack(0, "protocol", True, "sent by the daemon"))
    g.add("client-sends-pong", "PONG from a client.", "to_daemon", frame(67, 404, None),
          op=67, req=404, body=None, daemon=nack(0, "protocol", True, "sent by the daemon"))
    return g


# ------------------------------------------------------------------ framing


def framing_group():
    g = Group("framing", "Frames that are not one [op, request_id, body] array "
              "in a 4-byte length: every one is a framing error (NACK with "
              "request id 0, then close).")

    def bad(name, desc, data, stage, cls, code="protocol", message=None, **kw):
        # The framer reports a class only; the daemon words the message.
        g.add(name, desc, "to_daemon", data,
              error=err(stage, cls, message=None if stage == "framer" else message),
              daemon=nack(0, code, True, message), **kw)

    bad("length-zero", "A length of 0.", length(0), "framer", "EFRAME",
        message="frame length 0")
    bad("length-above-max-frame", "max_frame + 1: refused from the 4 length bytes "
        "alone.", length(MAX_FRAME + 1), "framer", "ETOOBIG", "too_large", "above max_frame")
    bad("length-4gib", "A length of 4 GiB - 1: refused at once, nothing "
        "allocated.", length(0xFFFFFFFF), "framer", "ETOOBIG", "too_large",
        "above max_frame")
    g.add("truncated-frame-eof", "The length promises 10 bytes, 3 arrive, then "
          "the client shuts down its write side: the partial frame is dropped "
          "and the daemon closes without an answer.", "to_daemon",
          length(10) + b"\x93\x04\x01", error=err("framer", "ETRUNC"), then="eof",
          daemon=SILENT_CLOSE)
    g.add("truncated-frame-timeout", "The same, but the client waits: after "
          "frame_timeout the daemon answers NACK protocol (request id 0) and "
          "closes.", "to_daemon", length(10) + b"\x93\x04\x01",
          error=err("framer", "ETRUNC"), then="wait",
          daemon=nack(0, "protocol", True, "incomplete frame"))
    bad("garbage", "A reserved msgpack byte (0xc1).", framed(b"\xc1"), "header", "EFRAME",
        message="not msgpack")
    bad("garbage-after-header", "0xc1 where the array should be, then more "
        "bytes.", framed(b"\xc1\x04\x01\xc0"), "header", "EFRAME", message="not msgpack")
    bad("not-an-array-map", "A map instead of the array.", framed(pack({"op": 4})),
        "header", "EFRAME", message="expected an array")
    bad("not-an-array-nil", "nil instead of the array.", framed(pack(None)), "header",
        "EFRAME", message="expected an array")
    bad("not-an-array-str", "A str instead of the array.", framed(pack("PING")), "header",
        "EFRAME", message="expected an array")
    bad("array-of-2", "[op, request_id] without a body.", framed(pack([4, 1])), "header",
        "EFRAME", message="expected an array")
    bad("array-of-4", "[op, request_id, body, extra].", framed(pack([4, 1, None, None])),
        "header", "EFRAME", message="expected an array")
    bad("op-not-uint", "op as a str.", framed(pack(["PING", 1, None])), "header", "EFRAME",
        message="op must be a uint")
    bad("op-negative", "op as a negative int.", framed(pack([-4, 1, None])), "header",
        "EFRAME", message="op must be a uint")
    for op in (0, 9, 63, 72, 99):
        bad("unknown-op-%d" % op, "op %d is not in the table." % op,
            framed(pack([op, 5, None])), "header", "EBADOP", message="unknown op %d" % op,
            op=op, req=5, has_body=False)
    bad("request-id-above-uint32", "request_id 2^32.", framed(pack([4, 1 << 32, None])),
        "header", "EFRAME", message="request_id must be a uint32")
    bad("request-id-negative", "request_id -1.", framed(pack([4, -1, None])), "header",
        "EFRAME", message="request_id must be a uint32")
    bad("request-id-str", "request_id as a str.", framed(pack([4, "1", None])), "header",
        "EFRAME", message="request_id must be a uint32")
    bad("array-count-larger-than-frame", "An array header claiming 16 million "
        "elements in a 5-byte frame: truncated, never allocated.",
        framed(b"\xdd\x00\xff\xff\xff"), "header", "EFRAME", message="truncated")
    bad("array-truncated", "[op, request_id, ...] cut short inside the frame.",
        framed(b"\x93\x04"), "header", "EFRAME", message="truncated")
    bad("body-missing", "The array claims 3 elements; op and request_id use "
        "every byte.", framed(b"\x93\xcd\x00\x04\x07"), "header", "EFRAME",
        message="body missing")
    return g


GROUPS = (session_group, publish_group, batch_group, answers_group, other_ops_group,
          framing_group)


def render(g):
    return json.dumps(g.dump(), indent=1, ensure_ascii=True) + "\n"


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    check = "--check" in argv
    stale = []
    for make in GROUPS:
        g = make()
        path = os.path.join(here, g.name + ".json")
        text = render(g)
        if check:
            try:
                with open(path, encoding="ascii") as f:
                    if f.read() != text:
                        stale.append(path)
            except FileNotFoundError:
                stale.append(path)
        else:
            with open(path, "w", encoding="ascii") as f:
                f.write(text)
            print("wrote %s (%d vectors)" % (path, len(g.vectors)))
    if stale:
        print("stale: " + " ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
