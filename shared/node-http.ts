// An ESM import of node:http evaluates all its exports, lazy ones included, which loads the bundled
// fetch/WebSocket client (~35 ms CPU at every agent start); the CommonJS module object does not.
export const http = process.getBuiltinModule('node:http');
export const https = process.getBuiltinModule('node:https');
