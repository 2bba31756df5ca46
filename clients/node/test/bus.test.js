'use strict';
/*
 * The original bus's shapes against the real daemon: DomainEvent
 * subclasses published through createEventBus, read back through the wire
 * (the mapping of README.md, field by field) and through getEvents /
 * getEventsByCorrelationId as instances of their registered classes.
 */
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Client, createEventBus, DomainEvent, EventPriority, StoredDomainEvent, EventRouterError } = require('../dist');
const { Daemon, scaled, SUITE_MS } = require('./harness');

class UserLoggedIn extends DomainEvent {
  eventType = 'UserLoggedIn';
  constructor(userId, ip, metadata) {
    super(metadata);
    this.userId = userId;
    this.ip = ip;
  }
}

class OrderPlaced extends DomainEvent {
  static eventType = 'OrderPlaced';
  version = 3;
  topic = 'orders.placed';
  priority = EventPriority.CRITICAL;
  constructor(orderId, total, metadata) {
    super(metadata);
    this.orderId = orderId;
    this.total = total;
  }
}

describe('createEventBus (store memory, max_batch 16)', { timeout: SUITE_MS }, () => {
  const d = new Daemon({ store: 'memory', yaml: 'limits:\n  max_batch: 16' });
  let bus;
  let admin;
  before(async () => {
    await d.start();
    bus = createEventBus({ socket: d.socket, adminSocket: d.adminSocket });
    bus.register(UserLoggedIn, OrderPlaced);
    admin = await Client.connect({ socket: d.adminSocket });
  });
  after(async () => {
    await bus.close();
    await admin.close();
    assert.deepStrictEqual(await d.stop(), { code: 0, signal: null }, d.log());
  });

  it('publish: the mapping, field by field, on the wire', async () => {
    const ts = new Date('2024-05-01T12:00:00.123Z');
    const ev = new UserLoggedIn('u-1', '10.0.0.7', {
      correlationId: 'req-1',
      causationId: 'cmd-1',
      stream: 'user:u-1',
      source: 'auth-service',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      timestamp: ts,
      tenant: 'acme',
      attempt: 2,
    });
    ev.priority = EventPriority.HIGH;
    ev.sessionAge = 42; /* set after construction: read at publish time */
    const r = await bus.publish(ev);
    assert.strictEqual(r.id, ev.metadata.eventId);
    const [w] = await admin.query({ id: r.id }).toArray();
    assert.strictEqual(w.seq, r.seq);
    assert.strictEqual(w.type, 'UserLoggedIn');
    assert.strictEqual(w.topic, 'UserLoggedIn');
    assert.strictEqual(w.version, 1);
    assert.strictEqual(w.priority, 'high');
    assert.strictEqual(w.time, ts.getTime() * 1000);
    assert.strictEqual(w.correlation_id, 'req-1');
    assert.strictEqual(w.causation_id, 'cmd-1');
    assert.strictEqual(w.stream, 'user:u-1');
    assert.strictEqual(w.source, 'auth-service');
    assert.strictEqual(w.traceparent, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    assert.strictEqual(w.content_type, 'application/json');
    assert.deepStrictEqual(JSON.parse(Buffer.from(w.data).toString()), { userId: 'u-1', ip: '10.0.0.7', sessionAge: 42 });
    assert.deepStrictEqual(w.meta, { tenant: 'acme', attempt: '2' });
  });

  it('EventPriority and class-level envelope: LOW..CRITICAL as names, version, topic', async () => {
    const names = [];
    for (const p of [EventPriority.LOW, EventPriority.NORMAL, EventPriority.HIGH, EventPriority.CRITICAL]) {
      const ev = new OrderPlaced('o-1', 10, { stream: 'prio:1' });
      ev.priority = p;
      await bus.publish(ev);
    }
    for (const w of await admin.query({ stream: 'prio:1' }).toArray()) {
      names.push(w.priority);
      assert.strictEqual(w.type, 'OrderPlaced');
      assert.strictEqual(w.version, 3);
      assert.strictEqual(w.topic, 'orders.placed');
    }
    assert.deepStrictEqual(names, ['low', 'normal', 'high', 'critical']);
  });

  it('getEvents(stream): instances of the registered classes, in order, metadata back', async () => {
    const t0 = Date.UTC(2024, 0, 1);
    const sent = [
      new UserLoggedIn('u-2', '10.0.0.8', { stream: 'user:u-2', correlationId: 'flow-2', timestamp: t0 }),
      new OrderPlaced('o-2', 99.5, { stream: 'user:u-2', correlationId: 'flow-2', causationId: 'x', timestamp: t0 + 5 }),
      new UserLoggedIn('u-2', '10.0.0.9', { stream: 'user:u-2', timestamp: t0 + 9 }),
    ];
    const rs = [];
    for (const e of sent) rs.push(await bus.publish(e));
    const got = await bus.getEvents('user:u-2');
    assert.strictEqual(got.length, 3);
    got.forEach((g, i) => {
      const s = sent[i];
      assert.ok(g instanceof s.constructor, `event ${i}: an instance of ${s.constructor.name}`);
      assert.ok(g instanceof DomainEvent);
      assert.strictEqual(g.eventType, s.eventType);
      assert.strictEqual(g.version, s.version);
      assert.strictEqual(g.priority, s.priority);
      assert.strictEqual(g.metadata.eventId, s.metadata.eventId);
      assert.strictEqual(g.metadata.correlationId, s.metadata.correlationId);
      assert.strictEqual(g.metadata.causationId, s.metadata.causationId);
      assert.strictEqual(g.metadata.stream, 'user:u-2');
      assert.strictEqual(g.metadata.timestamp.getTime(), s.metadata.timestamp);
      assert.strictEqual(g.metadata.seq, rs[i].seq);
      assert.ok(g.metadata.receivedAt instanceof Date);
    });
    assert.strictEqual(got[0].userId, 'u-2');
    assert.strictEqual(got[1].orderId, 'o-2');
    assert.strictEqual(got[1].total, 99.5);
    const flow = await bus.getEventsByCorrelationId('flow-2');
    assert.deepStrictEqual(
      flow.map((g) => g.metadata.eventId),
      sent.slice(0, 2).map((e) => e.metadata.eventId),
    );
  });

  it('an unregistered type comes back as a StoredDomainEvent', async () => {
    const w = await (await bus.client()).publish({ type: 'Unknown', stream: 'plain:1', data: '{"a":1}' });
    const [g] = await bus.getEvents('plain:1');
    assert.ok(g instanceof StoredDomainEvent);
    assert.strictEqual(g.eventType, 'Unknown');
    assert.strictEqual(g.a, 1);
    assert.strictEqual(g.metadata.seq, w.seq);
  });

  it('publishBatch: split within max_batch, every event stored in order', async () => {
    const n = scaled(1000, 40);
    const evs = Array.from({ length: n }, (_, i) => new UserLoggedIn(`u-${i}`, '10.0.0.1', { stream: 'bulk:bus' }));
    const r = await bus.publishBatch(evs);
    assert.strictEqual(r.seqs.length, n);
    const got = await bus.getEvents('bulk:bus');
    assert.deepStrictEqual(
      got.map((g) => [g.metadata.eventId, g.metadata.seq, g.userId]),
      evs.map((e, i) => [e.metadata.eventId, r.seqs[i], `u-${i}`]),
    );
  });

  it('publishBatch: a refused event names its index in the whole list', async () => {
    const evs = Array.from({ length: 40 }, (_, i) => new UserLoggedIn(`v-${i}`, 'x', { stream: 'bad:bus' }));
    evs[37].metadata.stream = '$reserved';
    await assert.rejects(bus.publishBatch(evs), (e) => {
      assert.ok(e instanceof EventRouterError);
      assert.strictEqual(e.code, 'invalid');
      assert.strictEqual(e.index, 37);
      return true;
    });
    /* Frames are all-or-nothing: the two others are stored, the refused one not at all. */
    assert.strictEqual((await bus.getEvents('bad:bus')).length, 32);
  });
});
