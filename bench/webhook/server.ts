// One bench target, run as its own process: `app` is our admission server (buildApp over HTTPS, its access log
// written to a file through pino's asynchronous destination, the setting suggested for main.ts), `bare` is a fastify
// HTTPS handler that decodes the review and answers allowed. Prints the port; SIGUSR2 prints the CPU time so far.
//   node bench/webhook/server.ts app|bare CERT KEY LOGFILE
import { readFileSync } from 'node:fs';
import fastify from 'fastify';
import { pino } from 'pino';
import { createLogger } from '../../shared/log.ts';
import { buildApp } from '../../webhook/app.ts';
import { benchIndex, INJECT } from './workload.ts';

const [mode, certFile, keyFile, logFile] = process.argv.slice(2);
if ((mode !== 'app' && mode !== 'bare') || !certFile || !keyFile || !logFile) {
  process.stderr.write('usage: server.ts app|bare CERT KEY LOGFILE\n');
  process.exit(2);
}

let app;
if (mode === 'app') {
  const logger = createLogger({ destination: pino.destination({ dest: logFile, sync: false, minLength: 4096 }) as unknown as NodeJS.WritableStream });
  app = buildApp({ invokers: benchIndex(), inject: INJECT, logger, tls: { certFile, keyFile } });
} else {
  app = fastify({ https: { cert: readFileSync(certFile), key: readFileSync(keyFile) }, bodyLimit: 8 * 1024 * 1024 });
  app.post('/mutate-workload', (req, reply) => {
    const uid = (req.body as { request?: { uid?: string } }).request?.uid ?? '';
    void reply.send({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
  });
}
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${(app.server.address() as { port: number }).port}\n`);
// CPU time is far less disturbed by other processes than wall-clock throughput: the bench reports both.
process.on('SIGUSR2', () => {
  const c = process.cpuUsage();
  process.stdout.write(`cpu ${c.user + c.system}\n`);
});
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
