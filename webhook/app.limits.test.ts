// A body over the limit gets an HTTP 413 with a JSON body over real HTTPS, read by a client that sends its whole
// body before it looks at the answer (as curl and the apiserver's client do), not a reset connection.
import t from 'tap';
import { connect } from 'node:tls';
import { servedOverHttps } from '../test/support/webhook-https.ts';
import { ROUTES } from './app.ts';

const LIMIT = 64 * 1024;

interface Exchange {
  writeError?: string;
  socketError?: string;
  status?: number;
  headers: string;
  body: string;
}

/** Sends the request head and the whole body and reads the answer, until the server closes the connection. */
function exchange(port: number, ca: string, size: number, chunked: boolean, close = false): Promise<Exchange> {
  return new Promise((resolve) => {
    const out: Exchange = { headers: '', body: '' };
    const chunks: Buffer[] = [];
    let pending = 2; // the write callback and the end of the connection
    const finish = () => {
      if (--pending > 0) return;
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      out.headers = split === -1 ? text : text.slice(0, split);
      out.body = split === -1 ? '' : text.slice(split + 4);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(out.headers);
      if (status) out.status = Number(status[1]);
      resolve(out);
    };
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const head =
        `POST ${ROUTES.mutateWorkload} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n${close ? 'Connection: close\r\n' : ''}` +
        (chunked ? 'Transfer-Encoding: chunked\r\n\r\n' : `Content-Length: ${size}\r\n\r\n`);
      const body = Buffer.alloc(size, 'x');
      const payload = chunked
        ? Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')])
        : body;
      s.write(head);
      s.write(payload, (err) => {
        if (err) out.writeError = err.message;
        finish();
      });
    });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (err) => {
      out.socketError = err.message;
    });
    s.on('close', finish);
  });
}

t.test('a body over the limit gets 413 with a JSON body over HTTPS', async (t) => {
  const { port, certs } = await servedOverHttps(t, { bodyLimit: LIMIT });
  // Sizes well past the socket buffers, so a server that closes before reading the rest resets the sender.
  for (const [size, chunked] of [
    [LIMIT + 1, false],
    [64 * LIMIT, false],
    [256 * LIMIT, false],
    [64 * LIMIT, true],
  ] as const) {
    const name = `${size} bytes${chunked ? ', chunked' : ''}`;
    const began = Date.now();
    const x = await exchange(port, certs.caPem, size, chunked);
    t.comment(`${name}: ${Date.now() - began} ms`);
    t.equal(x.writeError, undefined, `${name}: the whole body was sent`);
    t.equal(x.socketError, undefined, `${name}: no reset`);
    t.equal(x.status, 413, name);
    t.match(x.headers, /content-type: application\/json/i, `${name}: JSON`);
    t.match(
      JSON.parse(x.body),
      { error: 'payload too large', message: new RegExp(`limit of ${LIMIT} bytes`) },
      `${name}: says why`,
    );
  }
  // Within the limit, the same server answers as usual.
  const ok = await exchange(port, certs.caPem, 10, false, true);
  t.equal(ok.status, 400, 'a small non-JSON body is a plain bad request');
});
