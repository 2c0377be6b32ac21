// Pure status logic shared by the operator and the agent: phase derivation and merge-by-key helpers.
export * from './conditions.ts';
export * from './duration.ts';
export * from './backup.ts';
export * from './restore.ts';
