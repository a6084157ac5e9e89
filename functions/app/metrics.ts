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
  /** EKS calls one drift run spent (its budget: share x R x the minute), and how long a whole pass took. */
  | 'DriftEksCalls'
  | 'DriftPassSeconds'
  | 'RequestsDeadLettered'
  /** Webhooks: verified and queued, refused (signature, path, size, body), repeated deliveries. */
  | 'WebhookQueued'
  | 'WebhookRefused'
  | 'WebhookDuplicate'
  /** Webhooks verified but asking nothing of the broker (another event type or project), and failures to queue. */
  | 'WebhookIgnored'
  | 'WebhookFailed'
  /** Outcomes posted to their ticket, and those the vendor refused for good. */
  | 'WrittenBack'
  | 'WriteBackFailed';

export interface BrokerMetrics {
  add(name: MetricName, value?: number): void;
}
