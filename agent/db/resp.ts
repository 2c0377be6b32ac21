// A minimal Redis client (RESP2 over TCP) for the Redis member's own dump: commands are pipelined, replies
// parsed without copying a large bulk string more than once (chunks are kept until the whole reply is
// there), and errors carry the server's text. It speaks only what the dump and the restore's flush need.
import { connect, type Socket } from 'node:net';

export type Reply = string | number | Buffer | null | Reply[] | RedisReplyError;

/** An error reply (`-ERR …`): returned in place, so one failing command of a pipeline does not hide the rest. */
export class RedisReplyError extends Error {}

/** One command as RESP: `*<n>` then each argument as a bulk string. */
export function encodeCommand(args: ReadonlyArray<string | Buffer | number>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Parses one reply at `pos`; undefined when the buffer does not hold all of it yet. */
export function parseReply(buf: Buffer, pos: number): { value: Reply; next: number } | undefined {
  if (pos >= buf.length) return undefined;
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[pos]!);
  const line = buf.toString('utf8', pos + 1, eol);
  const after = eol + 2;
  switch (type) {
    case '+':
      return { value: line, next: after };
    case '-':
      return { value: new RedisReplyError(line), next: after };
    case ':':
      return { value: Number(line), next: after };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, next: after };
      if (buf.length < after + n + 2) return undefined;
      return { value: buf.subarray(after, after + n), next: after + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, next: after };
      const items: Reply[] = [];
      let p = after;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p);
        if (!r) return undefined;
        items.push(r.value);
        p = r.next;
      }
      return { value: items, next: p };
    }
    default:
      throw new Error(`unexpected RESP reply type ${JSON.stringify(type)}`);
  }
}

/** How many bytes the reply at the start of `buf` needs at least (a bulk string's full length), if known. */
function bytesNeeded(buf: Buffer): number {
  if (buf[0] !== 0x24 /* $ */) return 0;
  const eol = buf.indexOf('\r\n');
  if (eol < 0) return 0;
  const n = Number(buf.toString('utf8', 1, eol));
  return n < 0 ? 0 : eol + 2 + n + 2;
}

export interface RedisClientOptions {
  host: string;
  port: number;
  user?: string;
  password?: string;
  connectTimeoutMs?: number;
}

export class RedisClient {
  readonly #socket: Socket;
  readonly #waiting: Array<{ resolve(r: Reply): void; reject(e: Error): void }> = [];
  #chunks: Buffer[] = [];
  #length = 0;
  #need = 0;
  #failed: Error | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (c: Buffer) => this.#onData(c));
    const fail = (err: Error) => {
      this.#failed ??= err;
      for (const w of this.#waiting.splice(0)) w.reject(this.#failed);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection to Redis closed')));
  }

  static async connect(o: RedisClientOptions): Promise<RedisClient> {
    const socket = connect({ host: o.host, port: o.port });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`cannot connect to Redis at ${o.host}:${o.port}: timed out`));
      }, o.connectTimeoutMs ?? 30_000);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to Redis at ${o.host}:${o.port}: ${err.message}`));
      });
    });
    socket.setNoDelay(true);
    const client = new RedisClient(socket);
    if (o.password) {
      const auth = o.user ? ['AUTH', o.user, o.password] : ['AUTH', o.password];
      const r = await client.call(auth);
      if (r instanceof RedisReplyError) {
        client.close();
        throw new Error(`Redis refused the login: ${r.message}`);
      }
    }
    return client;
  }

  #onData(c: Buffer): void {
    this.#chunks.push(c);
    this.#length += c.length;
    if (this.#length < this.#need) return;
    let buf = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#length);
    let pos = 0;
    while (this.#waiting.length > 0) {
      const r = parseReply(buf, pos);
      if (!r) break;
      pos = r.next;
      this.#waiting.shift()!.resolve(r.value);
    }
    buf = buf.subarray(pos);
    this.#chunks = buf.length ? [buf] : [];
    this.#length = buf.length;
    this.#need = bytesNeeded(buf);
  }

  /** Sends every command at once and resolves with their replies in order. */
  pipeline(commands: ReadonlyArray<ReadonlyArray<string | Buffer | number>>): Promise<Reply[]> {
    if (this.#failed) return Promise.reject(this.#failed);
    const replies = commands.map(
      () => new Promise<Reply>((resolve, reject) => this.#waiting.push({ resolve, reject })),
    );
    this.#socket.write(Buffer.concat(commands.map(encodeCommand)));
    return Promise.all(replies);
  }

  async call(args: ReadonlyArray<string | Buffer | number>): Promise<Reply> {
    return (await this.pipeline([args]))[0]!;
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** The reply, or a thrown Error for an error reply (for commands that must succeed). */
export function ok(r: Reply, what: string): Exclude<Reply, RedisReplyError> {
  if (r instanceof RedisReplyError) throw new Error(`${what}: ${r.message}`);
  return r;
}
