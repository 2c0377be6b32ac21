// The operator process: admission webhook on every replica, control loops on the Lease holder only.
import { pino } from 'pino';
import { createLogger } from '../shared/log.ts';
import { operatorConfig } from '../shared/config.ts';
import { errorMessage } from '../shared/errors.ts';
import { Kube } from '../shared/kube/client.ts';
import { LeaseLock, runLeaderElection } from '../shared/kube/lease.ts';
import { buildApp } from './app.ts';
import { InformerInvokerIndex } from './invoker-index.ts';
import { repositoryUsersFrom, sessionPhaseInformer } from './repository-in-use.ts';
import { startControllers } from './controllers/index.ts';
import { serveMetrics } from './metrics.ts';
import type { InjectOptions } from './admission/inject.ts';

const config = operatorConfig();
// Asynchronous, buffered stdout (sonic-boom writes once 4 KiB are held), so a slow log reader never blocks
// admission and the access line of each review costs no write of its own; flushed on the way out.
const log = createLogger({
  level: config.logLevel,
  name: 'stash-operator',
  destination: pino.destination({ dest: 1, sync: false, minLength: 4096 }) as unknown as NodeJS.WritableStream,
});
// A quiet operator fills 4 KiB slowly: flushed every second too, so `kubectl logs` is never more than that behind.
setInterval(() => log.flush(), 1000).unref();
process.on('unhandledRejection', (err) => {
  log.fatal({ err: errorMessage(err) }, 'unhandled rejection');
  log.flush();
  process.exit(1);
});

const kube = Kube.load(config.kubeconfig, 'stash-operator');
const index = new InformerInvokerIndex(kube, log).start();
// Snapshot deletes are refused while a session uses the Repository: admission reads sessions from this cache.
const sessionPhases = sessionPhaseInformer(kube, { log }).start();
// Admission and the reconcile path must build identical containers, so both get the same options.
const inject: InjectOptions = { image: config.agentImage, pushgatewayUrl: '', useKubeapiserverFqdnForAks: false };
const app = buildApp({
  invokers: index,
  inject,
  logger: log,
  tls: { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile },
  ready: () => index.synced,
  repositoryUsers: () => repositoryUsersFrom(index, sessionPhases),
});
await app.listen({ host: config.host, port: config.port });
log.info({ host: config.host, port: config.port, identity: config.identity }, 'admission webhook listening');
// Plain HTTP for Prometheus; session gauges are filled on the leader only.
const metricsServer = await serveMetrics({ host: config.host, port: config.metricsPort });

const stop = new AbortController();
const leading = config.leaderElection
  ? runLeaderElection(
      // A 10 s lease (renewed every 2 s, given up after 7 s without renewal) lets a standby take over within
      // about 12 s of the leader's death.
      new LeaseLock(kube, {
        namespace: config.namespace,
        name: config.leaseName,
        identity: config.identity,
        log,
        leaseDurationMs: 10_000,
        renewDeadlineMs: 7_000,
        retryPeriodMs: 2_000,
      }),
      {
        onStartedLeading: async (lost) => {
          await index.waitForSync();
          await startControllers({ kube, log, config, index, inject }, lost);
        },
      },
      stop.signal,
    )
  : index.waitForSync().then(() => startControllers({ kube, log, config, index, inject }, stop.signal));

async function shutdown(sig: string): Promise<void> {
  log.info({ signal: sig }, 'shutting down');
  stop.abort();
  await leading.catch(() => undefined);
  await app.close();
  await metricsServer.close();
  log.flush();
  await index.stop();
  await sessionPhases.stop();
  kube.close();
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
