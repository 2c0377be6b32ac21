// Serving certificate and key from files (a mounted Secret in the cluster, certs/ output locally), swapped into the
// running HTTPS server when the files change: rotation must not need a restart, because a restart of every replica
// at once is exactly the webhook outage the design avoids. Connections already open keep their old certificate;
// new handshakes get the new one.
//
// Kubelet updates a Secret volume by swapping a `..data` symlink inside the directory, which a watch on the file
// itself would miss, so the directories are watched; a slow poll backs the watch up (watches can be lost, e.g. on
// some network file systems). A half-written pair (new cert, old key) fails to load and is retried on the next
// event or tick, while the server keeps serving the last good pair.
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { createSecureContext, type Server as TlsServer } from 'node:tls';
import { ConfigError, errorMessage } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Poll interval backing up the directory watch; default 10 s. */
  pollMs?: number;
}

export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

/** Reads and checks a pair; throws when unreadable or when the key does not belong to the certificate. */
export function loadKeyPair(files: TlsFiles): KeyPair {
  const cert = readFileSync(files.certFile);
  const key = readFileSync(files.keyFile);
  createSecureContext({ cert, key });
  return { cert, key };
}

export class CertificateReloader {
  readonly files: TlsFiles;
  private pair: KeyPair;
  private server: TlsServer | undefined;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private readonly log: Logger | undefined;
  /** Incremented on every successful swap; tests and metrics read it. */
  generation = 0;

  constructor(files: TlsFiles, log?: Logger) {
    this.files = files;
    this.log = log;
    try {
      this.pair = loadKeyPair(files);
    } catch (err) {
      throw new ConfigError([
        `cannot load TLS certificate ${files.certFile} and key ${files.keyFile}: ${errorMessage(err)}`,
      ]);
    }
  }

  current(): KeyPair {
    return this.pair;
  }

  /** Starts watching and applies future changes to `server`. */
  attach(server: TlsServer): void {
    this.server = server;
    const dirs = new Set([dirname(this.files.certFile), dirname(this.files.keyFile)]);
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => this.schedule());
        w.on('error', (err) =>
          this.log?.warn({ dir, err: errorMessage(err) }, 'certificate watch failed; polling only'),
        );
        this.watchers.push(w);
      } catch (err) {
        this.log?.warn({ dir, err: errorMessage(err) }, 'cannot watch certificate directory; polling only');
      }
    }
    this.timer = setInterval(() => this.reload(), this.files.pollMs ?? 10_000);
    this.timer.unref();
  }

  private schedule(): void {
    if (this.debounce) clearTimeout(this.debounce);
    // Writers replace cert and key one after the other; wait for both before loading.
    this.debounce = setTimeout(() => this.reload(), 50);
    this.debounce.unref();
  }

  /** Loads the files and swaps them in when they changed. Returns true when a new pair is now served. */
  reload(): boolean {
    let next: KeyPair;
    try {
      next = loadKeyPair(this.files);
    } catch (err) {
      this.log?.warn(
        { certFile: this.files.certFile, err: errorMessage(err) },
        'certificate reload failed; keeping the current pair',
      );
      return false;
    }
    if (next.cert.equals(this.pair.cert) && next.key.equals(this.pair.key)) return false;
    this.server?.setSecureContext({ cert: next.cert, key: next.key });
    this.pair = next;
    this.generation++;
    this.log?.info({ certFile: this.files.certFile, generation: this.generation }, 'serving certificate reloaded');
    return true;
  }

  close(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }
}
