/**
 * Before a rollout is declared done, the new pods prove the model they serve: the identity check on
 * every ready pod, then the golden requests on one of them, both through the pod proxy. A failure
 * here is a failed rollout (deploy.ts rolls it back); its words become the failure's detail.
 */
import { format } from '../messages';
import type { Log } from '../log';
import type { CallOptions } from './apiCall';
import type { Cluster } from './cluster';
import type { GoldenSettings } from './goldenRequests';
import { runGoldenRequests } from './goldenRun';
import { type ModelCheckSettings, checkServedModel } from './modelCheck';
import { callPod, servingPods } from './podProxy';
import type { DeploymentLike } from './rolloutStatus';

export type ProofFailureReason = 'ModelCheckFailed' | 'GoldenRequestsFailed';

export interface ProofSettings {
  readonly modelCheck?: ModelCheckSettings;
  readonly goldenRequests?: GoldenSettings;
}

export interface PodProof {
  readonly failure?: { readonly reason: ProofFailureReason; readonly detail: string };
  /** Every ready pod reported the deployed digest. */
  readonly modelVerified: boolean;
}

export async function provePods(cluster: Cluster, settings: ProofSettings, target: { namespace: string; deployment: DeploymentLike; image: string }, options: CallOptions & { log: Log }): Promise<PodProof> {
  const { modelCheck, goldenRequests } = settings;
  if (!modelCheck && !goldenRequests) return { modelVerified: false };
  const pods = await servingPods(cluster, target.namespace, target.deployment, target.image, options);
  if (modelCheck) {
    const checked = await checkServedModel(cluster, pods, modelCheck, options.log);
    if (checked.failure) return { failure: { reason: 'ModelCheckFailed', detail: checked.failure }, modelVerified: false };
  }
  if (goldenRequests) {
    const pod = pods.find((candidate) => candidate.port !== undefined);
    if (!pod || pod.port === undefined) {
      const detail = pods.length === 0 ? format('DeployGoldenNoPod', target.image) : format('DeployModelCheckNoPort', pods[0].name, goldenRequests.requests[0].path);
      return { failure: { reason: 'GoldenRequestsFailed', detail }, modelVerified: modelCheck !== undefined };
    }
    const port = pod.port;
    const send = (request: Parameters<typeof callPod>[3]) => callPod(cluster, pod, port, request, goldenRequests.timeoutMs ?? 10_000);
    const outcome = await runGoldenRequests(send, goldenRequests, `pod '${pod.name}'`, options.log);
    if (outcome.failure) return { failure: { reason: 'GoldenRequestsFailed', detail: outcome.failure }, modelVerified: modelCheck !== undefined };
  }
  return { modelVerified: modelCheck !== undefined };
}
