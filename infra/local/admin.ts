import type { ServerResponse } from 'node:http';
import type { EksEmulator } from './eks/emulator';
import type { FaultConfig } from './eks/faults';
import type { LocalEventBus } from './eventbridge/local-event-bus';
import { decodeSegment, type EdgeRequest, type ServiceHandler, sendAwsError, sendJson } from './http';
import { LocalQueueError } from './sqs/errors';
import type { LocalQueues } from './sqs/local-queues';

/**
 * `/_edge/...`: what tests, benchmarks and people at a terminal read or set on a running edge that is not an
 * AWS API: the EKS mutation log and call counts, fault injection, the events and messages the edge took in.
 */
export function createAdminHandler(deps: {
  eks: EksEmulator;
  bus: LocalEventBus;
  queues: LocalQueues;
}): ServiceHandler {
  return async (req: EdgeRequest, res: ServerResponse) => {
    const key = `${req.method} ${req.rawPath.replace(/\/+$/, '')}`;
    switch (key) {
      case 'GET /_edge/health':
        sendJson(res, 200, { status: 'ok' });
        return;
      case 'GET /_edge/eks/state':
        sendJson(res, 200, { clusters: deps.eks.snapshot() });
        return;
      case 'GET /_edge/eks/mutations':
        sendJson(res, 200, { mutations: deps.eks.mutations() });
        return;
      case 'GET /_edge/eks/calls':
        sendJson(res, 200, { calls: deps.eks.callCounts(), faults: deps.eks.faults.counts });
        return;
      case 'GET /_edge/eks/faults':
        sendJson(res, 200, { faults: deps.eks.faults.current() });
        return;
      case 'PUT /_edge/eks/faults':
        try {
          deps.eks.faults.configure(JSON.parse(req.body.toString('utf8') || '{}') as FaultConfig);
        } catch (error) {
          sendAwsError(res, 400, 'ValidationException', (error as Error).message);
          return;
        }
        sendJson(res, 200, { faults: deps.eks.faults.current() });
        return;
      case 'POST /_edge/eks/reset':
        deps.eks.reset();
        sendJson(res, 200, {});
        return;
      case 'GET /_edge/events':
        sendJson(res, 200, { events: deps.bus.events() });
        return;
      default: {
        const queue = /^GET \/_edge\/queues\/([^/]+)$/.exec(key);
        const name = queue?.[1] === undefined ? undefined : decodeSegment(queue[1]);
        if (queue?.[1] !== undefined && name === undefined) {
          sendAwsError(res, 400, 'InvalidParameterValue', `malformed queue name in ${key}`);
          return;
        }
        if (name !== undefined) {
          try {
            sendJson(res, 200, { messages: deps.queues.messages(name) });
          } catch (error) {
            if (!(error instanceof LocalQueueError)) throw error;
            sendAwsError(res, 404, error.code, error.message);
          }
          return;
        }
        sendAwsError(res, 404, 'UnknownOperationException', `No edge admin operation at ${key}`);
      }
    }
  };
}
