// Hook templates as Stash renders them: Go text/template with the sprig functions, run here as WebAssembly
// (shared/template/go, built by hack/build-bins.sh template; docs/decisions/0009-hook-templates-in-wasm.md).
// The module runs in this process under a minimal WASI host: no files, no sockets, an empty environment
// (sprig's `env` renders empty, so a template cannot read the operator's or agent's secrets), stdout and
// stderr kept only for error messages. One instance serves every render; calls are synchronous.
import { randomFillSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { StashError } from '../errors.ts';

/** Where the images put the engine; STASH_TEMPLATE_WASM overrides it (the local world's cache). */
export const DEFAULT_ENGINE_PATH = '/usr/local/lib/stash/template.wasm';

/** The data hook templates see: Stash's summary with its Go field names (docs/api.md §2.10). */
export interface TemplateData {
  Name?: string;
  Namespace?: string;
  Invoker?: { APIGroup?: string; Kind?: string; Name?: string };
  Target?: { APIVersion?: string; Kind?: string; Name?: string; Namespace?: string };
  Status?: { Phase?: string; Duration?: string; Error?: string };
  RetryLeft?: number;
}

export class TemplateError extends StashError {
  constructor(message: string) {
    super('HOOK_TEMPLATE', message);
  }
}

export interface TemplateEngine {
  /** The rendered text; throws TemplateError when the template does not parse or fails to execute. */
  render(template: string, data: TemplateData): string;
  /** The parse error of a template, or undefined when it parses. */
  parseError(template: string): string | undefined;
}

// The WebAssembly API of Node, typed here: the project's TypeScript libs (no DOM) do not declare it.
type WasmModule = object;
const Wasm = (
  globalThis as unknown as {
    WebAssembly: {
      compile(bytes: Uint8Array): Promise<WasmModule>;
      Instance: new (module: WasmModule, imports: object) => { exports: unknown };
    };
  }
).WebAssembly;

interface Exports {
  memory: { buffer: ArrayBuffer };
  _initialize(): void;
  alloc(n: number): number;
  release(p: number): void;
  render(p: number, n: number): bigint;
}

const ERRNO_SUCCESS = 0;
const ERRNO_BADF = 8;
const ERRNO_NOSYS = 52;

class ProcExit extends Error {}

/** The WASI preview1 calls Go's runtime makes, answered without touching the host; the rest fail with ENOSYS. */
function wasiImports(mem: () => Exports['memory'], output: string[]): Record<string, (...a: never[]) => unknown> {
  const view = () => new DataView(mem().buffer);
  const zeroSizes = (argc: number, bufSize: number) => {
    view().setUint32(argc, 0, true);
    view().setUint32(bufSize, 0, true);
    return ERRNO_SUCCESS;
  };
  const known: Record<string, (...a: never[]) => unknown> = {
    args_sizes_get: zeroSizes,
    environ_sizes_get: zeroSizes,
    args_get: () => ERRNO_SUCCESS,
    environ_get: () => ERRNO_SUCCESS,
    clock_time_get: (id: number, _precision: bigint, out: number) => {
      // 0 is the realtime clock (sprig's `now`), the others monotonic.
      view().setBigUint64(out, id === 0 ? BigInt(Date.now()) * 1_000_000n : process.hrtime.bigint(), true);
      return ERRNO_SUCCESS;
    },
    random_get: (buf: number, len: number) => {
      randomFillSync(new Uint8Array(mem().buffer, buf, len));
      return ERRNO_SUCCESS;
    },
    fd_write: (fd: number, iovs: number, iovsLen: number, written: number) => {
      if (fd !== 1 && fd !== 2) return ERRNO_BADF;
      const v = view();
      let n = 0;
      for (let i = 0; i < iovsLen; i++) {
        const ptr = v.getUint32(iovs + i * 8, true);
        const len = v.getUint32(iovs + i * 8 + 4, true);
        output.push(Buffer.from(mem().buffer, ptr, len).toString('utf8'));
        n += len;
      }
      v.setUint32(written, n, true);
      return ERRNO_SUCCESS;
    },
    fd_fdstat_get: (fd: number, out: number) => {
      if (fd > 2) return ERRNO_BADF;
      new Uint8Array(mem().buffer, out, 24).fill(0);
      view().setUint8(out, 2); // character device
      return ERRNO_SUCCESS;
    },
    fd_prestat_get: () => ERRNO_BADF,
    sched_yield: () => ERRNO_SUCCESS,
    proc_exit: (code: number) => {
      throw new ProcExit(`template engine exited with ${code}: ${output.join('').slice(-500)}`);
    },
  };
  return new Proxy(known, {
    get: (target, name: string) => target[name] ?? (() => ERRNO_NOSYS),
  });
}

function instantiate(module: WasmModule): TemplateEngine {
  let exports: Exports | undefined;
  const output: string[] = [];
  const instance = new Wasm.Instance(module, {
    wasi_snapshot_preview1: wasiImports(() => exports!.memory, output),
  });
  exports = instance.exports as unknown as Exports;
  exports._initialize();
  const call = (request: object): { output: string; error?: string } => {
    const input = Buffer.from(JSON.stringify(request), 'utf8');
    const e = exports;
    const p = e.alloc(input.length);
    new Uint8Array(e.memory.buffer, p, input.length).set(input);
    const r = e.render(p, input.length);
    e.release(p);
    const outPtr = Number(r >> 32n);
    const outLen = Number(r & 0xffffffffn);
    const text = Buffer.from(e.memory.buffer, outPtr, outLen).toString('utf8');
    e.release(outPtr);
    return JSON.parse(text) as { output: string; error?: string };
  };
  return {
    render(template, data) {
      const r = call({ template, data });
      if (r.error !== undefined) throw new TemplateError(r.error);
      return r.output;
    },
    parseError(template) {
      return call({ template, parseOnly: true }).error;
    },
  };
}

let loading: Promise<TemplateEngine> | undefined;

/** The process's engine, compiled once (≈11 MiB of WebAssembly) on first use. */
export function templateEngine(path = process.env.STASH_TEMPLATE_WASM || DEFAULT_ENGINE_PATH): Promise<TemplateEngine> {
  loading ??= readFile(path)
    .catch((err: unknown) => {
      throw new StashError(
        'HOOK_TEMPLATE',
        `the hook template engine is missing at ${path} (set STASH_TEMPLATE_WASM; built by hack/build-bins.sh template)`,
        { cause: err },
      );
    })
    .then((bytes) => Wasm.compile(bytes))
    .then(instantiate);
  loading.catch(() => (loading = undefined));
  return loading;
}

/** Stash renders only text that contains an action; everything else is used as written. */
export function isTemplate(text: string): boolean {
  return text.includes('{{');
}

/** A hook's text as Stash sends it: rendered when it contains an action, else as written. */
export async function renderHookText(text: string, data: TemplateData | undefined): Promise<string> {
  if (!isTemplate(text)) return text;
  return (await templateEngine()).render(text, data ?? {});
}
