import t from 'tap';
import { operatorConfig, agentEnv } from './config.ts';
import { ConfigError } from './errors.ts';

t.test('operator config: defaults, overrides, and every problem at once', async (t) => {
  const d = operatorConfig({});
  t.equal(d.port, 8443);
  t.equal(d.leaderElection, true);
  t.ok(Object.isFrozen(d));
  const c = operatorConfig({ STASH_WEBHOOK_PORT: '9443', STASH_NAMESPACE: 'ops', STASH_LEADER_ELECTION: 'false' });
  t.equal(c.port, 9443);
  t.equal(c.namespace, 'ops');
  t.equal(c.leaderElection, false);
  t.equal(d.hostLivenessMs, undefined, 'liveness bound: the heartbeat contract default unless set');
  t.equal(operatorConfig({ STASH_HOST_LIVENESS_TIMEOUT: '90s' }).hostLivenessMs, 90_000, 'a Go duration');
  t.equal(operatorConfig({ STASH_HOST_LIVENESS_TIMEOUT: '1500' }).hostLivenessMs, 1500, 'milliseconds');
  t.throws(() => operatorConfig({ STASH_HOST_LIVENESS_TIMEOUT: '0s' }), ConfigError, 'zero is refused');
  try {
    operatorConfig({
      STASH_WEBHOOK_PORT: 'x',
      STASH_LEADER_ELECTION: 'maybe',
      STASH_LOG_LEVEL: 'loud',
      STASH_HOST_LIVENESS_TIMEOUT: 'soon',
    });
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof ConfigError);
    t.equal((err as ConfigError).problems.length, 4, 'all four problems reported together');
    t.match((err as Error).message, /STASH_HOST_LIVENESS_TIMEOUT/);
    t.match((err as Error).message, /STASH_WEBHOOK_PORT/);
  }
});

t.test('agent env from the downward API', async (t) => {
  const e = agentEnv({ POD_NAME: 'web-0', NODE_NAME: 'node-a', NICE_ADJUSTMENT: '5' });
  t.equal(e.podName, 'web-0');
  t.equal(e.nodeName, 'node-a');
  t.equal(e.niceAdjustment, 5);
  t.throws(() => agentEnv({ IONICE_CLASS: 'high' }), ConfigError);
});
