/** The broker's own name: its EventBridge source, its log service name, its tag prefix, its resources' prefix. */
export const BROKER_NAME = 'eks-access-broker';

/** The `source` of every outcome event the broker publishes; no integration may send under it. */
export const OUTCOME_SOURCE = BROKER_NAME;
