// Local hooks (docs/api.md §2.10, §17): run by the agent inside the workload pod. `exec` runs as a local process when it
// targets the agent's own container, and through the pods/exec API otherwise; http and tcp probes default to
// the pod's own network (loopback). Every action has a timeout so a hung hook cannot hold a session forever.
import { connect } from 'node:net';
import { Writable } from 'node:stream';
// client-node is heavy to load; only an exec hook needs it, so it is imported then.
import type { Handler, HookExecutionPolicy } from '../shared/api/index.ts';
import type { Kube, KubeObject } from '../shared/kube/client.ts';
import { errorMessage } from '../shared/errors.ts';
import { renderHookText } from '../shared/template/engine.ts';
import { http, https } from '../shared/node-http.ts';

/** What hook templates see (docs/api.md §2.10), with Go field names. */
export interface HookSummary {
  Name: string;
  Namespace: string;
  Invoker: { APIGroup?: string; Kind: string; Name: string };
  Target: { APIVersion?: string; Kind: string; Name: string; Namespace?: string };
  Status: { Phase?: string; Duration?: string; Error?: string };
  RetryLeft?: number;
}

export interface HookContext {
  kube?: Kube;
  namespace: string;
  podName: string;
  /** The agent's own container; exec into it (or with no containerName) runs locally. */
  ownContainer: string;
  /** Default host for httpGet/httpPost/tcpSocket: the pod's own network namespace. */
  defaultHost?: string;
  timeoutMs?: number;
  summary?: HookSummary;
}

export interface HookResult {
  output: string;
}

export class HookError extends Error {
  readonly output: string;
  constructor(message: string, output = '', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HookError';
    this.output = output;
  }
}

const MAX_OUTPUT = 16 * 1024;

function capped(buf: string, more: string): string {
  const s = buf + more;
  return s.length > MAX_OUTPUT ? s.slice(s.length - MAX_OUTPUT) : s;
}

async function execLocal(command: string[], timeoutMs: number): Promise<HookResult> {
  const [file, ...args] = command;
  if (!file) throw new HookError('exec hook has an empty command');
  // The process runner (execa) is loaded when a hook first runs, not by an idle sidecar.
  const { startChild } = await import('../shared/restic/child.ts');
  // A hook runs as a process of the agent's container would (kubelet exec): with the container's env.
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  const stop = AbortSignal.timeout(timeoutMs);
  const child = startChild({
    file,
    args,
    env,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    group: true,
    stopSignal: 'SIGKILL',
    graceMs: 1000,
    signal: stop,
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = capped(output, d.toString())));
  child.stderr?.on('data', (d: Buffer) => (output = capped(output, d.toString())));
  const r = await child.done;
  if (r.spawnError)
    throw new HookError(`exec hook "${file}" could not start: ${r.spawnError.message}`, output, {
      cause: r.spawnError,
    });
  if (stop.aborted) throw new HookError(`exec hook "${command.join(' ')}" timed out after ${timeoutMs} ms`, output);
  if (r.exitCode === 0) return { output };
  throw new HookError(
    `exec hook "${command.join(' ')}" exited with ${r.exitCode ?? r.signal}: ${output.trim().slice(-500)}`,
    output,
  );
}

async function execRemote(
  ctx: HookContext,
  container: string,
  command: string[],
  timeoutMs: number,
): Promise<HookResult> {
  if (!ctx.kube) throw new HookError('exec into another container needs the Kubernetes API');
  let output = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      output = capped(output, chunk.toString());
      cb();
    },
  });
  const { Exec } = await import('@kubernetes/client-node');
  const exec = new Exec(await ctx.kube.clientNodeConfig());
  return await new Promise<HookResult>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve({ output });
    };
    const timer = setTimeout(
      () => finish(new HookError(`exec hook in container ${container} timed out after ${timeoutMs} ms`, output)),
      timeoutMs,
    );
    exec
      .exec(ctx.namespace, ctx.podName, container, command, sink, sink, null, false, (status) => {
        if (status.status === 'Success') finish();
        else
          finish(
            new HookError(
              `exec hook "${command.join(' ')}" in container ${container} failed: ${status.message ?? status.reason ?? 'non-zero exit'} ${output.trim().slice(-500)}`,
              output,
            ),
          );
      })
      .then((ws) => {
        ws.on('close', () =>
          finish(new HookError(`exec hook in container ${container}: connection closed before a result`, output)),
        );
      })
      .catch((err: unknown) =>
        finish(
          new HookError(
            `exec hook in container ${container} of pod ${ctx.namespace}/${ctx.podName}: ${errorMessage(err)}`,
            output,
            { cause: err },
          ),
        ),
      );
  });
}

async function resolvePort(
  ctx: HookContext,
  port: number | string | undefined,
  containerName: string | undefined,
): Promise<number> {
  if (typeof port === 'number') return port;
  if (port === undefined || port === '') throw new HookError('hook has no port');
  if (/^\d+$/.test(port)) return Number(port);
  if (!ctx.kube || !containerName) throw new HookError(`named port "${port}" needs containerName to be resolved`);
  const pod = await ctx.kube.get<
    KubeObject & {
      spec?: { containers?: Array<{ name: string; ports?: Array<{ name?: string; containerPort: number }> }> };
    }
  >('v1', 'Pod', ctx.namespace, ctx.podName);
  const c = pod.spec?.containers?.find((x) => x.name === containerName);
  const p = c?.ports?.find((x) => x.name === port);
  if (!p) throw new HookError(`named port "${port}" not found in container ${containerName} of pod ${ctx.podName}`);
  return p.containerPort;
}

interface HttpSpec {
  host?: string;
  port?: number | string;
  path?: string;
  scheme?: string;
  httpHeaders?: Array<{ name: string; value: string }>;
}

async function httpCall(
  ctx: HookContext,
  method: 'GET' | 'POST',
  spec: HttpSpec,
  containerName: string | undefined,
  body: { text?: string; form?: Array<{ key: string; values?: string[] }> } | undefined,
  timeoutMs: number,
): Promise<HookResult> {
  const port = await resolvePort(ctx, spec.port, containerName);
  const scheme = (spec.scheme ?? 'HTTP').toLowerCase() === 'https' ? 'https' : 'http';
  const host = spec.host || ctx.defaultHost || '127.0.0.1';
  const path = spec.path ? (spec.path.startsWith('/') ? spec.path : `/${spec.path}`) : '/';
  const url = new URL(`${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${path}`);
  const headers: Record<string, string> = {};
  for (const h of spec.httpHeaders ?? []) headers[h.name] = h.value;
  let payload: string | undefined;
  if (body?.form?.length) {
    const params = new URLSearchParams();
    for (const f of body.form) for (const v of f.values ?? []) params.append(f.key, v);
    payload = params.toString();
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
  } else if (body?.text !== undefined) {
    payload = body.text;
    headers['content-type'] ??= 'application/json';
  }
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
  const mod = scheme === 'https' ? https : http;
  return await new Promise<HookResult>((resolve, reject) => {
    const req = mod.request(url, { method, headers, rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      let output = '';
      res.on('data', (d: Buffer) => (output = capped(output, d.toString())));
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 400) resolve({ output });
        else
          reject(
            new HookError(
              `${method} ${url.origin}${url.pathname} answered ${code}: ${output.trim().slice(0, 300)}`,
              output,
            ),
          );
      });
      res.on('error', (err) => reject(new HookError(`${method} ${url.origin}${url.pathname}: ${err.message}`, output)));
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (err) =>
      reject(new HookError(`${method} ${url.origin}${url.pathname} failed: ${err.message}`, '', { cause: err })),
    );
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

async function tcpProbe(
  ctx: HookContext,
  spec: { host?: string; port?: number | string },
  containerName: string | undefined,
  timeoutMs: number,
): Promise<HookResult> {
  const port = await resolvePort(ctx, spec.port, containerName);
  const host = spec.host || ctx.defaultHost || '127.0.0.1';
  return await new Promise<HookResult>((resolve, reject) => {
    const sock = connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new HookError(`tcpSocket ${host}:${port} did not connect within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.end();
      resolve({ output: '' });
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(new HookError(`tcpSocket ${host}:${port} failed: ${err.message}`, '', { cause: err }));
    });
  });
}

/** Go text/template + sprig as Stash renders it (shared/template); a template that fails is the hook's failure. */
async function render(text: string, summary: HookSummary | undefined): Promise<string> {
  try {
    return await renderHookText(text, summary);
  } catch (err) {
    throw new HookError(`hook template: ${errorMessage(err)}`, '', { cause: err });
  }
}

/** Runs one hook handler; resolves on success, throws HookError with a message a person can act on. */
export async function runHook(handler: Handler, ctx: HookContext): Promise<HookResult> {
  const timeoutMs = ctx.timeoutMs ?? 5 * 60_000;
  const h = handler as Handler & { exec?: { command?: string[] } };
  if (h.exec) {
    const command = await Promise.all((h.exec.command ?? []).map((c) => render(c, ctx.summary)));
    if (!h.containerName || h.containerName === ctx.ownContainer) return await execLocal(command, timeoutMs);
    return await execRemote(ctx, h.containerName, command, timeoutMs);
  }
  if (h.httpGet) return await httpCall(ctx, 'GET', h.httpGet as HttpSpec, h.containerName, undefined, timeoutMs);
  if (h.httpPost) {
    const p = h.httpPost as HttpSpec & { body?: string; form?: Array<{ key: string; values?: string[] }> };
    return await httpCall(
      ctx,
      'POST',
      p,
      h.containerName,
      { text: p.body === undefined ? undefined : await render(p.body, ctx.summary), form: p.form },
      timeoutMs,
    );
  }
  if (h.tcpSocket)
    return await tcpProbe(ctx, h.tcpSocket as { host?: string; port?: number | string }, h.containerName, timeoutMs);
  throw new HookError('hook sets none of exec, httpGet, httpPost, tcpSocket');
}

/**
 * Whether a post hook runs for this outcome. OnFinalRetryFailure: the target failed and no retry is left.
 * Returns the reason a skipped hook is recorded with, or undefined when it runs.
 */
export function postHookSkipReason(
  policy: HookExecutionPolicy | undefined,
  succeeded: boolean,
  retryLeft: number,
): string | undefined {
  switch (policy ?? 'Always') {
    case 'Always':
      return undefined;
    case 'OnSuccess':
      return succeeded ? undefined : 'Skipped: executionPolicy is OnSuccess but the target failed.';
    case 'OnFailure':
      return succeeded ? 'Skipped: executionPolicy is OnFailure but the target succeeded.' : undefined;
    case 'OnFinalRetryFailure':
      if (succeeded) return 'Skipped: executionPolicy is OnFinalRetryFailure but the target succeeded.';
      return retryLeft > 0
        ? `Skipped: executionPolicy is OnFinalRetryFailure and ${retryLeft} retries are left.`
        : undefined;
    default:
      return undefined;
  }
}
