import { BROKER_NAME } from '../core/names';

/** What serverless.yml calls the service; every resource name starts with it. */
export const SERVICE_NAME = BROKER_NAME;

/** The names a deployed stage gives its resources (infra/stack/resources.ts), which the CLI defaults to. */
export function stageResourceNames(stage: string) {
  const prefix = `${SERVICE_NAME}-${stage}`;
  return {
    prefix,
    leaseTable: `${prefix}-leases`,
    requestsQueue: `${prefix}-requests`,
    timerQueue: `${prefix}-timers`,
    intakeEventsDeadLetterQueue: `${prefix}-intake-events-dlq`,
    intakeRule: `${prefix}-requests`,
    /** The outcomes of webhook integrations' requests, on their way to their tickets. */
    writeBackQueue: `${prefix}-write-back`,
    writeBackDeadLetterQueue: `${prefix}-write-back-dlq`,
    writeBackRule: `${prefix}-write-back`,
    /** EKS's CloudTrail events of access-entry changes made by others, on the account's default bus. */
    driftEventsRule: `${prefix}-drift-events`,
    driftEventsDeadLetterQueue: `${prefix}-drift-events-dlq`,
    /** The stage's own bus (intake and outcomes), unless param eventBusName names an existing one. */
    eventBus: `${prefix}-bus`,
    alarmTopic: `${prefix}-alarms`,
  } as const;
}

/** The local broker's resources (`npm start`): the table is named as stage "local"'s would be. */
export const LOCAL_RESOURCE_NAMES = {
  leaseTable: stageResourceNames('local').leaseTable,
  eventBus: 'default',
  requestsQueue: `${SERVICE_NAME}-requests`,
  requestsDeadLetterQueue: `${SERVICE_NAME}-requests-dlq`,
  timerQueue: `${SERVICE_NAME}-timers`,
  timerDeadLetterQueue: `${SERVICE_NAME}-timers-dlq`,
  writeBackQueue: `${SERVICE_NAME}-write-back`,
  writeBackDeadLetterQueue: `${SERVICE_NAME}-write-back-dlq`,
} as const;
