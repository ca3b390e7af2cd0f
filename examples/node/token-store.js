// The connector's `wso2:twitter/token-store` import for Node: one JSON file
// per token family in a directory (X_TOKEN_DIR, default ./x-state), with
// the same guarantees as the runtime's stores at small scale:
// - `save` is a compare-and-swap on the version (a holder with stale
//   tokens is refused and told the current version);
// - one refresh lease per family at a time, until released or lapsed;
// - a change is written to a temp file, synced, and renamed over the old
//   one before `save` returns, under a lock file created exclusively (two
//   Node processes sharing the directory take turns).
// jco maps the import here (`--map`, see package.json). A failed call
// throws the WIT `store-error` value; jco hands it to the component.

import { createHash } from 'node:crypto';
import {
  closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync,
  rmSync, statSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';

const dir = process.env.X_TOKEN_DIR ?? 'x-state';
const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 10_000;

function fileName(family) {
  const h = createHash('sha256');
  for (const part of [family.connection, family.clientId, family.apiOrigin]) {
    h.update(`${Buffer.byteLength(part)}:${part}`);
  }
  return h.digest('hex').slice(0, 32);
}

function unavailable(message) {
  return { tag: 'unavailable', val: `token directory ${dir}: ${message}` };
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function withLock(name, fn) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lock = join(dir, `${name}.lock`);
  const started = Date.now();
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw unavailable(`cannot lock: ${e.code}`);
      let age = 0;
      try { age = Date.now() - statSync(lock).mtimeMs; } catch { continue; }
      if (age > STALE_LOCK_MS) { rmSync(lock, { force: true }); continue; }
      if (Date.now() - started > LOCK_WAIT_MS) throw unavailable('still locked after 10 s');
      sleep(2);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function read(name, family) {
  let text;
  try {
    text = readFileSync(join(dir, `${name}.json`), 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return null;
    throw unavailable(`cannot read: ${e.code}`);
  }
  let f;
  try { f = JSON.parse(text); } catch { throw unavailable('a family file does not parse'); }
  if (f.family.connection !== family.connection || f.family.clientId !== family.clientId
      || f.family.apiOrigin !== family.apiOrigin) {
    throw unavailable('a family file holds another family');
  }
  return f;
}

function write(name, f) {
  const path = join(dir, `${name}.json`);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(f));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function update(family, change) {
  const name = fileName(family);
  return withLock(name, () => {
    const f = read(name, family)
      ?? { family, version: '0', tokens: null, lease: null, nextLease: '1' };
    const [out, changed] = change(f);
    if (changed) write(name, f);
    return out;
  });
}

// Token sets cross as JSON with their u64 fields as decimal strings.
const toJson = (t) => ({
  ...t,
  expiresAtMs: t.expiresAtMs?.toString(),
  obtainedAtMs: t.obtainedAtMs?.toString(),
});
const fromJson = (t) => ({
  ...t,
  expiresAtMs: t.expiresAtMs === undefined ? undefined : BigInt(t.expiresAtMs),
  obtainedAtMs: t.obtainedAtMs === undefined ? undefined : BigInt(t.obtainedAtMs),
});

export function load(family) {
  const f = read(fileName(family), family);
  if (!f || !f.tokens) return undefined;
  return { version: BigInt(f.version), tokens: fromJson(f.tokens) };
}

export function save(family, expectedVersion, tokens) {
  return update(family, (f) => {
    if (BigInt(f.version) !== expectedVersion) {
      throw { tag: 'conflict', val: BigInt(f.version) };
    }
    f.version = (expectedVersion + 1n).toString();
    f.tokens = toJson(tokens);
    return [BigInt(f.version), true];
  });
}

export function acquireLease(family, ttlMs) {
  const now = Date.now();
  return update(family, (f) => {
    if (f.lease && f.lease.expiresAtMs > now) return [undefined, false];
    const id = BigInt(f.nextLease);
    f.nextLease = (id + 1n).toString();
    f.lease = { id: id.toString(), expiresAtMs: now + ttlMs };
    return [id, true];
  });
}

export function releaseLease(family, lease) {
  try {
    update(family, (f) => {
      if (f.lease && BigInt(f.lease.id) === lease) {
        f.lease = null;
        return [undefined, true];
      }
      return [undefined, false];
    });
  } catch {
    // The WIT gives release no error: a lease not given back lapses.
  }
}
