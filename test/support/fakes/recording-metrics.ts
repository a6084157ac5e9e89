import type { BrokerMetrics, MetricName } from '../../../functions/app/metrics';

/** Metric data points, in order. */
export class RecordingMetrics implements BrokerMetrics {
  readonly points: { readonly name: MetricName; readonly value: number }[] = [];

  add(name: MetricName, value = 1): void {
    this.points.push({ name, value });
  }

  /** The sum of a metric's values (0 when it was never emitted). */
  total(name: MetricName): number {
    return this.points.filter((point) => point.name === name).reduce((sum, point) => sum + point.value, 0);
  }
}
