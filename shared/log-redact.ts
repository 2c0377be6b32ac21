// Log keys whose values are always censored, wherever a logger in this project writes them: pino's
// redact paths of the operator's logger (shared/log.ts) and of the agent's (agent/log.ts).
export const REDACT_PATHS = [
  'password', '*.password', 'token', '*.token', 'authorization', '*.authorization',
  'headers.authorization', 'req.headers.authorization', 'req.headers.cookie',
  'env', '*.env', 'secret', '*.secret', 'data', 'stringData', '*.data', '*.stringData',
  'RESTIC_PASSWORD', '*.RESTIC_PASSWORD', 'AWS_SECRET_ACCESS_KEY', '*.AWS_SECRET_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID', '*.AWS_ACCESS_KEY_ID', 'AZURE_ACCOUNT_KEY', '*.AZURE_ACCOUNT_KEY',
  'B2_ACCOUNT_KEY', '*.B2_ACCOUNT_KEY', 'GOOGLE_SERVICE_ACCOUNT_JSON_KEY', '*.GOOGLE_SERVICE_ACCOUNT_JSON_KEY',
  'REST_SERVER_PASSWORD', '*.REST_SERVER_PASSWORD', 'OS_PASSWORD', '*.OS_PASSWORD', 'ST_KEY', '*.ST_KEY',
  'keyData', '*.keyData', 'certData', '*.certData', 'privateKey', '*.privateKey',
];
