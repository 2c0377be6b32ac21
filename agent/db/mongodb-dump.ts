// Writes the dump of a MongoDB server (mongodb-client.ts) to stdout, for `restic backup --stdin`: exit 0 only
// when every collection was read to its end and the trailer is written, so a dump cut short never becomes a
// snapshot. Flags and login: mongodb-child.ts.
import { dumpMongo } from './mongodb-client.ts';
import { runMongoChild } from './mongodb-child.ts';

runMongoChild('dump', async (client, { db }) => {
  const { collections, documents } = await dumpMongo(client, process.stdout, db !== undefined ? { db } : {});
  await new Promise<void>((resolve, reject) => process.stdout.write('', (e) => (e ? reject(e) : resolve())));
  return `dumped ${documents} documents in ${collections} collections`;
});
