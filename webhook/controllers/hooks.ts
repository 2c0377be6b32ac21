// Global hooks run by the operator (docs/api.md §2.10, §17): exec into a pod through the Kubernetes API (pods/exec over a
// websocket), or an HTTP GET/POST, or a TCP connect — each bounded by a timeout so a hung endpoint cannot hold
// a session forever. The "executor pod" of a global hook is the operator's own pod, so a missing host means
// loopback.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Writable } from 'node:stream';
// client-node is heavy to load; only an exec hook needs it, so it is imported then.
import type { Kube, KubeObject } from '../../shared/kube/client.ts';
import { errorMessage } from '../../shared/errors.ts';
import { renderHookText } from '../../shared/template/engine.ts';

export interface HookHandler {
  exec?: { command?: string[] };
  httpGet?: {
    host?: string;
    port?: number | string;
    path?: string;
    scheme?: string;
    httpHeaders?: Array<{ name: string; value: string }>;
  };
  httpPost?: {
    host?: string;
    port?: number | string;
    path?: string;
    scheme?: string;
    httpHeaders?: Array<{ name: string; value: string }>;
    body?: string;
    form?: Array<{ key: string; values?: string[] }>;
  };
  tcpSocket?: { host?: string; port?: number | string };
  containerName?: string;
  executionPolicy?: string;
}

/** The summary hook templates are rendered against (docs/api.md §2.10), with upstream's Go field names. */
export interface HookSummary {
  Name: string;
  Namespace: string;
  Invoker: { APIGroup: string; Kind: string; Name: string };
  Target?: { APIVersion?: string; Kind?: string; Name?: string; Namespace?: string };
  Status: { Phase: string; Duration?: string; Error?: string };
  RetryLeft?: number;
}

export interface HookContext {
  kube: Kube;
  /** Pod for exec and for resolving named ports; the operator's own pod for global hooks. */
  executorPod?: { namespace: string; name: string };
  timeoutMs: number;
  summary: HookSummary;
}

/** Which executionPolicy lets a post hook run, given the outcome so far. */
export function postHookAllowed(policy: string | undefined, outcome: 'Succeeded' | 'Failed', retryLeft = 0): boolean {
  switch (policy || 'Always') {
    case 'OnSuccess':
      return outcome === 'Succeeded';
    case 'OnFailure':
      return outcome === 'Failed';
    case 'OnFinalRetryFailure':
      return outcome === 'Failed' && retryLeft <= 0;
    default:
      return true;
  }
}

async function withTimeout<T>(what: string, ms: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort();
      reject(new Error(`${what} timed out after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([run(ac.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function resolvePort(
  ctx: HookContext,
  port: number | string | undefined,
  containerName: string | undefined,
): Promise<number> {
  if (typeof port === 'number') return port;
  if (port !== undefined && /^\d+$/.test(port)) return Number(port);
  if (!port) throw new Error('hook has no port');
  if (!ctx.executorPod) throw new Error(`named port ${port} needs an executor pod to resolve it`);
  const pod = await ctx.kube.get<
    KubeObject & {
      spec?: { containers?: Array<{ name: string; ports?: Array<{ name?: string; containerPort: number }> }> };
    }
  >('v1', 'Pod', ctx.executorPod.namespace, ctx.executorPod.name);
  const containers = (pod.spec?.containers ?? []).filter((c) => !containerName || c.name === containerName);
  for (const c of containers) for (const p of c.ports ?? []) if (p.name === port) return p.containerPort;
  throw new Error(
    `named port ${port} not found in pod ${ctx.executorPod.namespace}/${ctx.executorPod.name}${containerName ? ` container ${containerName}` : ''}`,
  );
}

async function httpCall(
  ctx: HookContext,
  method: 'GET' | 'POST',
  a: NonNullable<HookHandler['httpPost']>,
  containerName: string | undefined,
): Promise<string> {
  const port = await resolvePort(ctx, a.port, containerName);
  const scheme = (a.scheme || 'HTTP').toUpperCase() === 'HTTPS' ? 'https' : 'http';
  const host = a.host || '127.0.0.1';
  const path = a.path ? (a.path.startsWith('/') ? a.path : `/${a.path}`) : '/';
  const url = new URL(`${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${path}`);
  const headers: Record<string, string> = {};
  for (const h of a.httpHeaders ?? []) headers[h.name] = h.value;
  let body: string | undefined;
  if (method === 'POST') {
    if (a.form?.length) {
      const form = new URLSearchParams();
      for (const f of a.form) for (const v of f.values ?? ['']) form.append(f.key, v);
      body = form.toString();
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
    } else {
      body = await renderHookText(a.body ?? '', ctx.summary);
    }
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  return await withTimeout(
    `${method} ${url.href}`,
    ctx.timeoutMs,
    (signal) =>
      new Promise<string>((resolve, reject) => {
        const mod = scheme === 'https' ? https : http;
        // Hook endpoints are the user's own services; a self-signed certificate is theirs to choose.
        const req = mod.request(url, { method, headers, signal, rejectUnauthorized: false }, (res) => {
          res.resume();
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 400) resolve(`${method} ${url.href} returned ${code}`);
          else reject(new Error(`${method} ${url.href} returned ${code}`));
        });
        req.on('error', (err) => reject(new Error(`${method} ${url.href}: ${err.message}`)));
        if (body !== undefined) req.write(body);
        req.end();
      }),
  );
}

async function tcpCall(
  ctx: HookContext,
  a: NonNullable<HookHandler['tcpSocket']>,
  containerName: string | undefined,
): Promise<string> {
  const port = await resolvePort(ctx, a.port, containerName);
  const host = a.host || '127.0.0.1';
  return await withTimeout(
    `tcp ${host}:${port}`,
    ctx.timeoutMs,
    () =>
      new Promise<string>((resolve, reject) => {
        const sock = net.connect({ host, port });
        sock.once('connect', () => {
          sock.destroy();
          resolve(`tcp ${host}:${port} is open`);
        });
        sock.once('error', (err) => {
          sock.destroy();
          reject(new Error(`tcp ${host}:${port}: ${err.message}`));
        });
      }),
  );
}

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    if (this.text.length < 4096) this.text += chunk.toString('utf8');
    cb();
  }
}

async function execCall(ctx: HookContext, command: string[], containerName: string | undefined): Promise<string> {
  if (!ctx.executorPod)
    throw new Error('exec hook needs an executor pod (set POD_NAME/POD_NAMESPACE for the operator)');
  const { namespace, name } = ctx.executorPod;
  let container = containerName;
  if (!container) {
    const pod = await ctx.kube.get<KubeObject & { spec?: { containers?: Array<{ name: string }> } }>(
      'v1',
      'Pod',
      namespace,
      name,
    );
    container = pod.spec?.containers?.[0]?.name;
    if (!container) throw new Error(`pod ${namespace}/${name} has no containers`);
  }
  const argv = await Promise.all(command.map((c) => renderHookText(c, ctx.summary)));
  const out = new Collect();
  const err = new Collect();
  const { Exec } = await import('@kubernetes/client-node');
  const exec = new Exec(await ctx.kube.clientNodeConfig());
  let socket: { close(): void } | undefined;
  try {
    return await withTimeout(
      `exec in ${namespace}/${name}`,
      ctx.timeoutMs,
      () =>
        new Promise<string>((resolve, reject) => {
          exec
            .exec(namespace, name, container, argv, out, err, null, false, (status) => {
              if (status.status === 'Success') resolve(out.text.trim().slice(0, 512));
              else
                reject(
                  new Error(
                    `exec ${argv[0] ?? ''} in ${namespace}/${name}/${container} failed: ${status.message ?? status.reason ?? 'non-zero exit'}${err.text ? `: ${err.text.trim().slice(0, 512)}` : ''}`,
                  ),
                );
            })
            .then(
              (ws) => {
                socket = ws;
                ws.on('close', () =>
                  setTimeout(() => reject(new Error(`exec in ${namespace}/${name} closed without a status`)), 100),
                );
              },
              (e: unknown) => reject(new Error(`exec in ${namespace}/${name}/${container}: ${errorMessage(e)}`)),
            );
        }),
    );
  } finally {
    socket?.close();
  }
}

/** Runs one hook; resolves with a short description on success, throws with the reason on failure. */
export async function executeHook(h: HookHandler, ctx: HookContext): Promise<string> {
  if (h.exec?.command?.length) return await execCall(ctx, h.exec.command, h.containerName);
  if (h.httpGet) return await httpCall(ctx, 'GET', h.httpGet, h.containerName);
  if (h.httpPost) return await httpCall(ctx, 'POST', h.httpPost, h.containerName);
  if (h.tcpSocket) return await tcpCall(ctx, h.tcpSocket, h.containerName);
  throw new Error('hook sets none of exec, httpGet, httpPost, tcpSocket');
}
