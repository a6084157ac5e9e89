/** The CloudWatch namespace of the broker's metrics; the alarms (infra/stack/resources.ts) read it too. */
export const METRICS_NAMESPACE = 'EksAccessBroker';
/**
 * Every metric carries the stage it was emitted by (BROKER_STAGE, set by serverless.yml), so that the alarms of
 * one stage do not fire for another deployed in the same account.
 */
export const STAGE_DIMENSION = 'stage';

/** The broker's metrics (CloudWatch, through Powertools' EMF logs). */
export type MetricName =
  | 'AccessGranted'
  | 'BreakGlassGranted'
  | 'RequestRejected'
  | 'GrantFailed'
  | 'AccessRevoked'
  | 'RevocationLagSeconds'
  | 'RevocationFailures'
  | 'IrrevocableLeases'
  | 'DriftRepaired'
  | 'AccessExtended'
  | 'DuplicateRequests'
  | 'StaleTimers'
  | 'SweepDueLeases'
  | 'DriftSubjectsChecked'
  | 'DriftCheckTruncated'
  | 'RequestsDeadLettered';

export interface BrokerMetrics {
  add(name: MetricName, value?: number): void;
}
