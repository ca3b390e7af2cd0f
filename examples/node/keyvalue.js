// A `wasi:keyvalue` 0.2.0-draft2 host for Node (`store` and `atomics`),
// for the connector composed with the key-value token store
// (dist/twitter-connector-keyvalue.wasm). It stands in for a host's store
// (Spin's, wasmCloud's) where none can be installed: one file per key in
// X_KV_DIR (default ./x-kv), each with a version; `swap` replaces a value
// only if its version is still the one `Cas.new` saw, under a lock file
// created exclusively, so processes sharing the directory get a real
// compare-and-swap.

import {
  closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync,
  rmSync, statSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';

const root = process.env.X_KV_DIR ?? 'x-kv';
const other = (message) => ({ tag: 'other', val: message });

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

class Bucket {
  constructor(name) {
    this.dir = join(root, Buffer.from(name).toString('hex'));
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  path(key) {
    return join(this.dir, Buffer.from(key).toString('hex'));
  }

  read(key) {
    try {
      const entry = JSON.parse(readFileSync(this.path(key), 'utf8'));
      return { version: entry.version, value: Buffer.from(entry.value, 'base64') };
    } catch (e) {
      if (e.code === 'ENOENT') return { version: 0, value: undefined };
      throw other(`cannot read ${key}: ${e.code ?? e.message}`);
    }
  }

  write(key, version, value) {
    const path = this.path(key);
    const fd = openSync(`${path}.tmp`, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ version, value: Buffer.from(value).toString('base64') }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(`${path}.tmp`, path);
  }

  locked(key, fn) {
    const lock = `${this.path(key)}.lock`;
    for (let waited = 0; ; waited += 2) {
      try {
        closeSync(openSync(lock, 'wx', 0o600));
        break;
      } catch (e) {
        if (e.code !== 'EEXIST') throw other(`cannot lock ${key}: ${e.code}`);
        try {
          if (Date.now() - statSync(lock).mtimeMs > 30_000) rmSync(lock, { force: true });
        } catch { /* gone meanwhile */ }
        if (waited > 10_000) throw other(`${key} stayed locked`);
        sleep(2);
      }
    }
    try { return fn(); } finally { rmSync(lock, { force: true }); }
  }

  get(key) { return this.read(key).value; }

  set(key, value) {
    this.locked(key, () => this.write(key, this.read(key).version + 1, value));
  }

  delete(key) { this.locked(key, () => rmSync(this.path(key), { force: true })); }

  exists(key) { return this.read(key).value !== undefined; }

  listKeys() { throw other('list-keys is not offered by this test host'); }
}

class Cas {
  static new(bucket, key) {
    const cas = new Cas();
    cas.bucket = bucket;
    cas.key = key;
    const { version, value } = bucket.read(key);
    cas.version = version;
    cas.value = value;
    return cas;
  }

  current() { return this.value; }
}

export const store = {
  Bucket,
  open(identifier) {
    if (!/^[\w.-]{1,64}$/.test(identifier)) throw { tag: 'no-such-store' };
    return new Bucket(identifier);
  },
};

export const atomics = {
  Cas,
  increment(bucket, key, delta) {
    return bucket.locked(key, () => {
      const { version, value } = bucket.read(key);
      const next = (value === undefined ? 0n : BigInt(Buffer.from(value).toString())) + delta;
      bucket.write(key, version + 1, Buffer.from(next.toString()));
      return next;
    });
  },
  swap(cas, value) {
    const swapped = cas.bucket.locked(cas.key, () => {
      if (cas.bucket.read(cas.key).version !== cas.version) return false;
      cas.bucket.write(cas.key, cas.version + 1, value);
      return true;
    });
    if (!swapped) throw { tag: 'cas-failed', val: Cas.new(cas.bucket, cas.key) };
  },
};
