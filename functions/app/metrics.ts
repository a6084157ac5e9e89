/** The broker's metrics (CloudWatch, namespace EksAccessBroker, through Powertools' EMF logs). */
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
  | 'RequestsDeadLettered';

export interface BrokerMetrics {
  add(name: MetricName, value?: number): void;
}

/** For code paths and tests that do not report metrics. */
export const NO_METRICS: BrokerMetrics = { add: () => undefined };
