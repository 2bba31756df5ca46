/*
 * eventrouter-client: a Node.js client for eventrouterd. Two levels:
 * Client (the wire protocol, eventrouter-protocol(7)) and createEventBus
 * (the original in-process bus's shapes on top of it).
 */
export { Client, RowStream } from './client';
export type { ClientOptions, PublishResult, BatchResult } from './client';
export { createEventBus, DomainEvent, EventPriority, StoredDomainEvent, toWireEvent, fromStoredEvent } from './bus';
export type { EventBus, EventBusOptions, EventMetadata } from './bus';
export { EventRouterError, ProtocolError } from './errors';
export type { NackCode, ProtocolErrorClass } from './errors';
export * as codec from './codec';
export type { AckMode, Filter, Limits, PriorityName, StoredEvent, Welcome, WireEvent } from './codec';
export { uuidv7 } from './uuid';
