// The agent binary: `run-backup` (sidecar), `restore` (init-container or Job), `create-backupsession`
// (trigger CronJob). Flags follow upstream Stash so injected pod specs work unchanged; flags that only
// matter upstream (pushgateway, AKS, glog) are accepted and ignored.
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentEnv } from '../shared/config.ts';
import { Kube } from '../shared/kube/client.ts';
import { createAgentLogger } from './log.ts';
import { errorMessage } from '../shared/errors.ts';
import { flagBool, flagInt, parseArgs } from './args.ts';
import { AgentError, type AgentContext } from './common.ts';
import { createBackupSession } from './create-session.ts';
import { runRestore } from './restore.ts';
import type { OpenRepo } from './host-backup.ts';
import { Sidecar, sidecarHost } from './sidecar.ts';
import type { BackupInvoker } from './types.ts';
import { apiVersionOf } from '../shared/api/constants.ts';
import { parseGoDuration } from '../shared/status/duration.ts';

/**
 * The restic wrapper, execa and what a run needs are loaded when the first run starts: an idle sidecar
 * (most of a backed-up pod's life) stays without them (~20 MiB less resident memory).
 */
const openRepo: OpenRepo = async (...a) => (await import('./restic.ts')).openRepo(...a);

const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const USAGE = `usage: agent <run-backup|restore|create-backupsession> --invoker-kind=K --invoker-name=N [--target-kind=K --target-name=N --target-namespace=NS] [--host=H] [--kubeconfig=F] [--enable-cache=true] [--max-connections=N] [--restore-model=init-container|job] [--backupsession=S (backup Job)] [--member-index=N (restore Job)]`;

function durationFlag(v: string | undefined, fallback: number): number {
  if (!v) return fallback;
  const ms = parseGoDuration(v);
  if (ms === undefined || ms < 0) throw new AgentError(`not a duration: "${v}" (use Go syntax such as 30s, 5m)`);
  return ms;
}

function podNamespace(flag: string | undefined, env: string | undefined): string {
  if (flag) return flag;
  if (env) return env;
  try {
    return readFileSync(SA_NAMESPACE, 'utf8').trim();
  } catch {
    throw new AgentError('cannot tell the namespace: set POD_NAMESPACE or run with a service account');
  }
}

export async function main(argv: string[]): Promise<number> {
  const { command, flags } = parseArgs(argv);
  const env = agentEnv();
  const log = createAgentLogger({ level: flags.get('v') === '5' ? 'debug' : env.logLevel, name: 'stash-agent' });
  if (!command || flags.has('help')) {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  const kube = Kube.load(flags.get('kubeconfig') || env.kubeconfig, 'stash-agent');
  const namespace = podNamespace(flags.get('namespace'), env.namespace);
  const invokerKind = flags.get('invoker-kind') ?? flags.get('invoker-type') ?? '';
  const invokerName = flags.get('invoker-name') ?? '';
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  // restic's `unlock` probes lock holders with SIGHUP; it must never kill us.
  process.on('SIGHUP', () => undefined);

  try {
    if (command === 'create-backupsession') {
      const s = await createBackupSession(kube, namespace, invokerKind, invokerName);
      log.info({ session: s.metadata?.name }, 'backup session created');
      return 0;
    }
    if (!invokerKind || !invokerName) throw new AgentError(`--invoker-kind and --invoker-name are required\n${USAGE}`);
    const scratch =
      flags.get('scratch-dir') ??
      (existsSync('/stash-tmp') ? '/stash-tmp' : join(tmpdir(), `stash-agent-${env.podName}`));
    const ctx: AgentContext = {
      kube,
      log,
      namespace,
      podName: env.podName,
      nodeName: env.nodeName,
      podOrdinal: env.podOrdinal,
      invokerKind,
      invokerName,
      targetKind: flags.get('target-kind') ?? '',
      targetName: flags.get('target-name') ?? '',
      targetNamespace: flags.get('target-namespace') || namespace,
      hostOverride: flags.get('host') || undefined,
      memberIndex: flags.has('member-index') ? flagInt(flags, 'member-index', -1) : undefined,
      enableCache: flagBool(flags, 'enable-cache', true),
      maxConnections: flagInt(flags, 'max-connections', 0),
      resticBinary: env.resticBinary,
      tmpDir: scratch,
      isolateHostname: flagBool(flags, 'restic-hostname-isolation', false),
      lockWaitMs: durationFlag(flags.get('lock-wait'), 5 * 60_000),
      backendTimeoutMs: durationFlag(flags.get('backend-timeout'), 30_000),
      priority: { nice: env.niceAdjustment, ioClass: env.ioniceClass, ioClassData: env.ioniceClassData },
    };
    if (command === 'run-backup' && flags.get('backupsession')) {
      // Job model (docs/api.md §12): one session's share for a volume or database, then exit with its outcome.
      const { runBackupJob } = await import('./job.ts');
      return await runBackupJob(ctx, openRepo, flags.get('backupsession') ?? '', stop.signal);
    }
    if (command === 'run-backup') {
      const invoker = await kube.get<BackupInvoker>(
        apiVersionOf(invokerKind as 'BackupBatch'),
        invokerKind,
        namespace,
        invokerName,
      );
      const host = sidecarHost(ctx, invoker);
      log.info(
        { invoker: `${invokerKind}/${invokerName}`, target: `${ctx.targetKind}/${ctx.targetName}`, host },
        'backup sidecar starting',
      );
      await new Sidecar(ctx, openRepo, host, invoker).run(stop.signal);
      return 0;
    }
    if (command === 'restore') {
      const model = flags.get('restore-model') === 'job' ? 'job' : 'init-container';
      return await runRestore(ctx, openRepo, { model, signal: stop.signal });
    }
    throw new AgentError(`unknown command "${command}"\n${USAGE}`);
  } catch (err) {
    log.error({ err: errorMessage(err) }, 'agent failed');
    return 1;
  } finally {
    kube.close();
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`fatal: ${errorMessage(err)}\n`);
      process.exit(1);
    },
  );
}
