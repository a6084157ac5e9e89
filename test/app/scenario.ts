import type { EventBridgeEvent } from 'aws-lambda';
import type { HandleResult } from '../../functions/app/handle-request';
import { takeRequest } from '../../functions/app/intake';
import type { AccessScope } from '../../functions/core/model';
import { bodySha256, presignedCall } from '../../functions/core/proof';
import type { FakeWorld } from '../support/fakes/app-deps';
import { freshRequestId, sampleEvent, withDetail } from '../support/fixtures';
import { aProof } from '../support/proofs';

/** Shared steps of the use-case scenarios: requests from the samples in events/, and reads of the fake EKS. */

type RequestEvent = EventBridgeEvent<string, Record<string, unknown>>;

export const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';
export const EDIT = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy';
export const ADMIN = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy';
/** The sample's principal: a role of the workload account, allowed by `developers-view-edit`. */
export const DEVELOPER = 'arn:aws:iam::111122223333:role/developer';
export const ONCALL = 'arn:aws:iam::111122223333:role/oncall-alice';
/** The sample grant's duration (4 h), under the rule's 8 h cap. */
export const SAMPLE_SECONDS = 14_400;

/** The sample namespaced grant (EDIT on team-a and team-b for 4 h) under a fresh requestId. */
export function grantEvent(changes: Record<string, unknown> = {}): RequestEvent {
  return withDetail(sampleEvent('grant-namespaced.json'), { requestId: freshRequestId('GRANT'), ...changes });
}

export function revokeEvent(requestId: string, changes: Record<string, unknown> = {}): RequestEvent {
  return withDetail(sampleEvent('revoke.json'), { requestId, ...changes });
}

export function extendEvent(
  requestId: string,
  durationSeconds: number,
  changes: Record<string, unknown> = {},
) {
  return withDetail(sampleEvent('extend.json'), { requestId, durationSeconds, ...changes });
}

export function requestIdOf(event: RequestEvent): string {
  return String(event.detail.requestId);
}

/** The on-call integration's source (infra/access-rules.yaml): people on call, proven, break-glass allowed. */
export const ONCALL_SOURCE = 'com.example.oncall';
/** What STS answers for alice's local key: a session of her role. */
export const ALICE_SESSION = 'arn:aws:sts::111122223333:assumed-role/oncall-alice/oncallalice';

/**
 * `event` as a person sends it through a proven integration: from `source`, with a proof of its detail that the
 * fake STS vouches for as `caller`, signed now (the world's clock) with a fresh nonce.
 */
export function proven(
  world: FakeWorld,
  event: RequestEvent,
  caller = ALICE_SESSION,
  source = ONCALL_SOURCE,
): RequestEvent {
  const detail = { ...event.detail };
  delete detail.proof;
  const signedAt = new Date(world.clock.now()).toISOString().replace(/[-:]|\.\d{3}/g, '');
  const proof = aProof(detail, {
    date: signedAt,
    credential: `oncallalice/${signedAt.slice(0, 8)}/us-east-1/sts/aws4_request`,
    audience: world.deps.audience,
    nonce: `nonce-${requestIdOf(event).replace(/[^A-Za-z0-9_-]/g, '-')}`.slice(0, 64),
  });
  world.proofs.vouch(
    presignedCall(proof, { audience: proof.audience, bodySha256: bodySha256(detail) }),
    caller,
  );
  return { ...event, source, detail: { ...detail, proof } };
}

/** Delivers a request the way both intake handlers do. */
export function send(world: FakeWorld, event: RequestEvent): Promise<HandleResult> {
  return takeRequest(world.deps, { event });
}

/** The principal's associations in EKS as [policyArn, scope], or undefined when it has no entry. */
export function accessOf(world: FakeWorld, principalArn: string): [string, AccessScope][] | undefined {
  const entry = entryOf(world, principalArn);
  return entry?.policies.map((policy) => [
    policy.policyArn,
    policy.accessScope.type === 'cluster'
      ? { type: 'cluster' }
      : { type: 'namespace', namespaces: [...policy.accessScope.namespaces] },
  ]);
}

export function entryOf(world: FakeWorld, principalArn: string) {
  return world.emulator
    .snapshot()
    .find((cluster) => cluster.clusterName === 'demo')
    ?.entries.find((entry) => entry.principalArn === principalArn);
}

/** The EKS operations that took effect, in order, from the `since`-th mutation on (seeding counts too). */
export function appliedMutations(world: FakeWorld, since = 0): string[] {
  return world.emulator
    .mutations()
    .slice(since)
    .filter((mutation) => mutation.outcome === 'applied')
    .map((mutation) => mutation.operation);
}

/** The audit trail of a request as its event types. */
export function auditTypes(world: FakeWorld, requestId: string): string[] {
  return world.table.history(requestId).map((event) => event.type);
}

/** Seeds an entry the broker did not create, as an administrator would have made it. */
export function seedEntry(
  world: FakeWorld,
  principalArn: string,
  associations: { policyArn: string; accessScope: AccessScope }[],
  type = 'STANDARD',
): void {
  world.emulator.createAccessEntry({ clusterName: 'demo', principalArn, type, tags: { team: 'platform' } });
  for (const { policyArn, accessScope } of associations) {
    world.emulator.associateAccessPolicy({
      clusterName: 'demo',
      principalArn,
      policyArn,
      accessScope: accessScope.type === 'cluster' ? { type: 'cluster', namespaces: [] } : { ...accessScope },
    });
  }
}

export const namespaces = (...names: string[]): AccessScope => ({ type: 'namespace', namespaces: names });
