// tap --before: one control plane for the whole integration run, with the CRDs of this checkout
// (re-applied even when a control plane from an earlier run is reused).
import { ensureTestWorld } from './harness.ts';
import { installCrds } from './controlplane.ts';
import { Kube } from '../../shared/kube/client.ts';

const t0 = Date.now();
const log = (m: string) => console.error(`[test-world] ${m}`);
const s = await ensureTestWorld(log);
const kube = Kube.load(s.kubeconfig);
await installCrds(kube, log);
kube.close();
log(`ready at https://127.0.0.1:${s.ports.api} in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
