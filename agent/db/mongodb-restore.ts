// Replays a MongoDB member's dump (mongodb-client.ts) from stdin, as `restic dump`'s consumer: exit 0 only when
// the whole stream, trailer included, is in the server. Flags and login: mongodb-child.ts.
import { createInterface } from 'node:readline';
import { restoreMongo } from './mongodb-client.ts';
import { runMongoChild } from './mongodb-child.ts';

runMongoChild('restore', async (client, { drop, db }) => {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  const { collections, documents } = await restoreMongo(client, lines, { drop, ...(db !== undefined ? { db } : {}) });
  return `restored ${documents} documents in ${collections} collections`;
});
