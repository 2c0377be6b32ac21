// The bench's server, run as its own process: buildApp over HTTPS with the operator's logging (pino on an
// asynchronous, buffered destination; here a file instead of stdout). Prints the port; SIGUSR2 prints the CPU time
// so far.
//   node bench/webhook/server.ts CERT KEY LOGFILE
import { pino } from 'pino';
import { createLogger } from '../../shared/log.ts';
import { buildApp } from '../../webhook/app.ts';
import { benchIndex, INJECT } from './workload.ts';

const [certFile, keyFile, logFile] = process.argv.slice(2);
if (!certFile || !keyFile || !logFile) {
  process.stderr.write('usage: server.ts CERT KEY LOGFILE\n');
  process.exit(2);
}

const logger = createLogger({
  destination: pino.destination({ dest: logFile, sync: false, minLength: 4096 }) as unknown as NodeJS.WritableStream,
});
const app = buildApp({ invokers: benchIndex(), inject: INJECT, logger, tls: { certFile, keyFile } });
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${(app.server.address() as { port: number }).port}\n`);
// CPU time is far less disturbed by other processes than wall-clock throughput: the bench reports both.
process.on('SIGUSR2', () => {
  const c = process.cpuUsage();
  process.stdout.write(`cpu ${c.user + c.system}\n`);
});
process.on(
  'SIGTERM',
  () =>
    void app.close().then(() => {
      logger.flush();
      process.exit(0);
    }),
);
