'use strict';
/*
 * The real daemon for the tests, as tests/integration/lib.sh starts it: a
 * temporary directory, a config with free socket paths in it, the daemon
 * from the build tree (ER_BUILDDIR, or $ER_DAEMON) under $ER_TEST_WRAPPER
 * (valgrind in `make check-valgrind`), stopped by PID. Every daemon still
 * running when the process exits is killed; every directory is removed.
 *
 * ER_TEST_SCALE shrinks counts (under valgrind), never assertions.
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const BUILDDIR = process.env.ER_BUILDDIR || path.resolve(__dirname, '..', '..', '..', 'build');
const DAEMON = process.env.ER_DAEMON || path.join(BUILDDIR, 'daemon', 'eventrouterd');
const WRAPPER = (process.env.ER_TEST_WRAPPER || '').split(/\s+/).filter(Boolean);
const SCALE = Number(process.env.ER_TEST_SCALE || '1') || 1;
/* How long a daemon may take to start or stop: valgrind is slow. */
const START_MS = WRAPPER.length ? 180000 : 30000;
/* A suite that has not ended by then hangs: it fails instead (not a timing
 * assertion — nothing here takes a tenth of it). */
const SUITE_MS = WRAPPER.length ? 3600000 : 300000;

/** n scaled by ER_TEST_SCALE, at least min. */
function scaled(n, min = 1) {
  return Math.max(min, Math.round(n * SCALE));
}

const live = new Set();
const dirs = new Set();
function cleanup() {
  for (const p of live) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanup);
/* Killed (a timeout, ^C): the daemons and directories go too. */
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    cleanup();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

function tmpdir() {
  const d = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'er-node-'));
  dirs.add(d);
  return d;
}

function canConnect(sock) {
  return new Promise((resolve) => {
    const s = net.createConnection(sock);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One daemon on a directory of its own (or `dir`, to restart on the same
 * store). store: 'memory' or 'lmdb'; yaml: more top-level config (e.g. a
 * limits block).
 */
class Daemon {
  constructor({ store = 'memory', yaml = '', dir } = {}) {
    this.dir = dir || tmpdir();
    this.socket = path.join(this.dir, 'events.sock');
    this.adminSocket = path.join(this.dir, 'admin.sock');
    this.config = path.join(this.dir, 'eventrouter.yaml');
    this.logFile = path.join(this.dir, 'daemon.log');
    const storeYaml =
      store === 'lmdb'
        ? `store:\n  plugin: lmdb\n  path: ${path.join(this.dir, 'store')}\n  map_size: 4GiB\n`
        : 'store:\n  plugin: memory\n';
    fs.writeFileSync(
      this.config,
      `listen:\n  socket: ${this.socket}\n  admin_socket: ${this.adminSocket}\nlog:\n  level: info\n${storeYaml}${yaml}\n`,
    );
    this.proc = null;
    this.exit = null;
  }

  get pid() {
    return this.proc ? this.proc.pid : null;
  }

  /** Starts it and waits until both sockets accept. */
  async start() {
    if (!fs.existsSync(DAEMON)) throw new Error(`no daemon at ${DAEMON} (set ER_BUILDDIR)`);
    const log = fs.openSync(this.logFile, 'a');
    const argv = [...WRAPPER, DAEMON, '-c', this.config];
    const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.proc = proc;
    this.exit = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    live.add(proc.pid);
    let exited = false;
    this.exit.then(() => {
      exited = true;
      live.delete(proc.pid);
    });
    const deadline = Date.now() + START_MS;
    for (;;) {
      if (exited) throw new Error(`the daemon exited at start:\n${this.log()}`);
      if ((await canConnect(this.socket)) && (await canConnect(this.adminSocket))) return this;
      if (Date.now() > deadline) throw new Error(`the daemon did not start within ${START_MS} ms:\n${this.log()}`);
      await sleep(20);
    }
  }

  /** Signals it (TERM: a clean stop; KILL: a crash) and waits: resolves with {code, signal}. */
  async stop(signal = 'SIGTERM') {
    if (!this.proc) return null;
    const proc = this.proc;
    this.proc = null;
    proc.kill(signal);
    const r = await this.exit;
    return r;
  }

  log() {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}

module.exports = { Daemon, scaled, sleep, tmpdir, SCALE, WRAPPER, SUITE_MS };
