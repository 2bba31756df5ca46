// node_publish.mjs: events/s from one Node.js process through
// eventrouter-client, the Node counterpart of `eventctl publish --count N
// --batch B` (bench/run.sh, scenario `node`): the same event (type
// BenchIngest, stream bench:ingest, data {"user":"123","ok":true}), ack
// durable, pipelined; the client keeps within WELCOME's max_inflight and
// this loop keeps at most --window calls pending (so a million Promises do
// not pile up). Prints eventctl's summary line on stderr:
//   N events in S s: R events/s
//
//   node node_publish.mjs --client DIR --socket SOCK --count N --batch B [--window W]
//
// DIR: a built eventrouter-client (clients/node/stage.sh's DEST).
import { createRequire } from 'node:module';
import path from 'node:path';

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
for (const k of ['client', 'socket', 'count', 'batch']) {
  if (!args[k]) {
    console.error(`usage: node_publish.mjs --client DIR --socket SOCK --count N --batch B [--window W] (missing --${k})`);
    process.exit(2);
  }
}
const require = createRequire(import.meta.url);
const { Client } = require(path.resolve(args.client, 'dist', 'index.js'));
const n = Number(args.count);
const batch = Number(args.batch);
const window = Number(args.window || 8192);

const event = () => ({ type: 'BenchIngest', stream: 'bench:ingest', data: '{"user":"123","ok":true}' });

const c = await Client.connect({ socket: args.socket, ack: 'durable', clientName: 'node_publish' });
let sent = 0;
let acked = 0;
let failed = null;
const t0 = process.hrtime.bigint();
await new Promise((resolve) => {
  let pending = 0;
  const more = () => {
    while (pending < window && sent < n && failed === null) {
      const k = Math.min(batch, n - sent);
      sent += k;
      pending++;
      const p = batch === 1 ? c.publish(event()) : c.publishBatch(Array.from({ length: k }, event));
      p.then(
        () => {
          acked += k;
          pending--;
          if (acked === n) resolve();
          else more();
        },
        (e) => {
          failed = e;
          resolve();
        },
      );
    }
  };
  more();
});
const s = Number(process.hrtime.bigint() - t0) / 1e9;
await c.close();
if (failed) {
  console.error(`node_publish: ${failed.message}`);
  process.exit(1);
}
console.error(`${n} events in ${s.toFixed(3)} s: ${Math.round(n / s)} events/s`);
