import type { AccessScope } from '../../functions/core/model';

/**
 * The request shapes both long safety runs draw from: the soak (model-runner.ts, on DynamoDB Local) and the
 * deterministic simulator (sim/), so that both exercise the same policies, scopes and durations.
 */
export const POLICIES = [
  'AmazonEKSViewPolicy',
  'AmazonEKSEditPolicy',
  'AmazonEKSClusterAdminPolicy',
] as const;
export const SCOPES: readonly AccessScope[] = [
  { type: 'cluster' },
  { type: 'namespace', namespaces: ['a'] },
  { type: 'namespace', namespaces: ['b'] },
  { type: 'namespace', namespaces: ['a', 'b'] },
  { type: 'namespace', namespaces: ['ops'] },
  { type: 'namespace', namespaces: ['team-*'] },
  { type: 'namespace', namespaces: ['a', 'team-x'] },
];
/** Seconds; the last is over every rule's maximum (rejected). */
export const DURATIONS = [20, 90, 300, 900, 1000, 3600, 28800, 30000] as const;
/** Seconds added by an extension; the last is over every rule's maximum. */
export const EXTENSIONS = [30, 300, 3600, 30000] as const;
