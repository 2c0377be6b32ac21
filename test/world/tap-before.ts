// tap --before: one control plane for the whole integration run.
import { ensureTestWorld } from './harness.ts';

const t0 = Date.now();
const s = await ensureTestWorld((m) => console.error(`[test-world] ${m}`));
console.error(`[test-world] ready at https://127.0.0.1:${s.ports.api} in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
