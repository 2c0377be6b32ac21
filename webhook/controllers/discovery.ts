// Whether the API server serves an optional API (AppBinding without KubeDB/Stash's catalog, DeploymentConfig
// outside OpenShift): loops watch such kinds only where they exist, instead of failing a watch forever.
import type { Kube } from '../../shared/kube/client.ts';

/** True when the API server serves `resource` of `groupVersion`; false when the group/version is unknown. */
export async function resourceServed(kube: Kube, groupVersion: string, resource: string): Promise<boolean> {
  try {
    const res = await kube.requestOnce<{ resources?: Array<{ name?: string }> }>({
      path: groupVersion.includes('/') ? `/apis/${groupVersion}` : `/api/${groupVersion}`,
    });
    return (res.resources ?? []).some((r) => r.name === resource);
  } catch {
    return false;
  }
}
