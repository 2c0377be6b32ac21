// The liveness contract between agents and the operator (issue #14): a host that is working on a session
// renews one coordination.k8s.io Lease per (session, host); the operator fails the host when the Lease has
// not been renewed for HEARTBEAT.livenessBoundMs. A Lease, not a status timestamp, so that heartbeats of
// several hosts never contend for the session's resourceVersion. The Lease is owned by the session
// (ownerReference), so garbage collection removes it with the session.
import { createHash } from 'node:crypto';

export const HEARTBEAT = {
  /** How often a working host renews its Lease. */
  renewIntervalMs: 10_000,
  /** Default bound after which the operator fails a host whose Lease was not renewed (operator env overrides). */
  livenessBoundMs: 120_000,
  label: {
    /** Value: the session's name. */
    session: 'stash.appscode.com/heartbeat-session',
    /** Value: BackupSession | RestoreSession | RestoreBatch. */
    sessionKind: 'stash.appscode.com/heartbeat-session-kind',
  },
  /** Annotation carrying the host name verbatim (host names need not be valid label values). */
  hostAnnotation: 'stash.appscode.com/heartbeat-host',
} as const;

export type HeartbeatSessionKind = 'BackupSession' | 'RestoreSession' | 'RestoreBatch';

/** Deterministic Lease name for one host of one session: both sides compute it, nobody lists to find it. */
export function heartbeatLeaseName(sessionKind: HeartbeatSessionKind, sessionName: string, host: string): string {
  // JSON keeps the three parts apart whatever characters they hold ("a"+"b\0c" and "a\0b"+"c" differ).
  const digest = createHash('sha256')
    .update(JSON.stringify([sessionKind, sessionName, host]))
    .digest('hex')
    .slice(0, 20);
  return `stash-heartbeat-${digest}`;
}

/** The session label's value: the name itself when it is a valid label value, else a shortened, still unique form. */
export function heartbeatSessionLabel(sessionName: string): string {
  if (/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(sessionName)) return sessionName;
  const digest = createHash('sha256').update(sessionName).digest('hex').slice(0, 10);
  const head = sessionName
    .slice(0, 52)
    .replace(/[^-A-Za-z0-9_.]/g, '-')
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return head ? `${head}-${digest}` : digest;
}
