// The commands the images run (their ENTRYPOINT, relative to WORKDIR /app) — the local world runs the very
// same commands from the repository root, and a test keeps the Dockerfiles and manifests in step with them.
export const OPERATOR_ENTRYPOINT = ['node', 'webhook/main.ts'] as const;
export const AGENT_ENTRYPOINT = ['node', 'agent/main.ts'] as const;
export const OPERATOR_IMAGE = 'stash-ts/operator:0.1.0';
export const AGENT_IMAGE = 'stash-ts/agent:0.1.0';
