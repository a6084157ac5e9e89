import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeSegment, type EdgeRequest, type ServiceHandler, sendAwsError, sendJson } from '../http';
import { JsonInput } from '../json-input';
import type { EksEmulator } from './emulator';
import { EksApiError, errors } from './errors';
import { type AccessScope, type EksOperation, MUTATING_OPERATIONS } from './model';

const json = new JsonInput({
  notJson: () => errors.badRequest('Could not parse the request body as JSON.'),
  notObject: () => errors.badRequest('The request body must be a JSON object.'),
  wrongType: (message) => errors.invalidParameter(message),
  missing: (key) => errors.invalidParameter(`${key} is required.`),
});

interface Route {
  readonly operation: EksOperation;
  readonly run: (emulator: EksEmulator, call: Call) => unknown;
}

/** What one request carries once its path labels are decoded and its body parsed. */
interface Call {
  readonly labels: readonly string[];
  readonly body: Record<string, unknown>;
  readonly query: URLSearchParams;
  /** The region the request was signed for (its SigV4 credential scope), when it was signed. */
  readonly region: string | undefined;
}

/** A mutating call the emulator carried out, as CloudTrail would record it (see infra/local/eks/cloudtrail.ts). */
export interface CommittedEksCall {
  readonly operation: EksOperation;
  /** The path labels, decoded: cluster, principal, policy. */
  readonly labels: readonly string[];
  /** The same labels as they travelled, percent-encoded (CloudTrail records them so). */
  readonly rawLabels: readonly string[];
  readonly body: Record<string, unknown>;
  readonly result: unknown;
  readonly request: EdgeRequest;
}

export interface EksHandlerOptions {
  /** Told of every mutating call once the emulator has done it (whether or not its answer then gets through). */
  readonly onCommitted?: (call: CommittedEksCall) => void;
}

/**
 * The restJson1 binding of the emulator. Path labels arrive percent-encoded (`:` as %3A, `/` as %2F): the raw
 * path is split on `/` first and each segment decoded after, so ARNs with paths survive.
 */
export function createEksHandler(emulator: EksEmulator, options: EksHandlerOptions = {}): ServiceHandler {
  return async (req: EdgeRequest, res: ServerResponse) => {
    const segments = req.rawPath.split('/').slice(1);
    const match = route(req.method, segments);
    if (!match) {
      sendAwsError(res, 404, 'UnknownOperationException', `No EKS operation at ${req.method} ${req.rawPath}`);
      return;
    }
    const { operation } = match.route;
    emulator.countCall(operation);

    const delay = emulator.faults.latencyMs(operation);
    if (delay > 0) await sleep(delay);
    const fault = emulator.faults.decide(operation, isMutating(operation));
    if (fault.kind === 'drop') {
      res.socket?.destroy();
      return;
    }
    if (fault.kind === 'throttle') {
      sendError(res, new EksApiError('ThrottlingException', 'Rate exceeded'));
      return;
    }
    if (fault.kind === 'server-error') {
      sendError(res, new EksApiError('ServerException', 'An internal error occurred. Try again later.'));
      return;
    }

    let result: unknown;
    try {
      const call: Call = {
        labels: match.labels,
        body: json.parseBody(req.body),
        query: req.query,
        region: signedRegion(req),
      };
      result = match.route.run(emulator, call);
      if (isMutating(operation)) {
        options.onCommitted?.({
          operation,
          labels: call.labels,
          rawLabels: rawLabels(segments),
          body: call.body,
          result,
          request: req,
        });
      }
    } catch (error) {
      if (fault.kind === 'drop-after-commit') {
        res.socket?.destroy();
        return;
      }
      if (error instanceof EksApiError) {
        sendError(res, error);
        return;
      }
      throw error;
    }
    if (fault.kind === 'drop-after-commit') {
      res.socket?.destroy();
      return;
    }
    sendJson(res, 200, result);
  };
}

function sendError(res: ServerResponse, error: EksApiError): void {
  sendAwsError(res, error.status, error.type, error.message, { extraBody: error.extra });
}

/** The cluster, principal and policy labels of a path as sent (`/clusters/<name>/access-entries/<arn>/...`). */
function rawLabels(segments: readonly string[]): string[] {
  return [segments[1], segments[3], segments[5]].filter((label): label is string => label !== undefined);
}

function isMutating(operation: EksOperation): boolean {
  return (MUTATING_OPERATIONS as readonly string[]).includes(operation);
}

function route(method: string, segments: readonly string[]): { route: Route; labels: string[] } | undefined {
  const decoded = segments.map(decodeSegment);
  // A malformed percent-encoding names no resource: answered as an unknown route.
  if (decoded.some((segment) => segment === undefined)) return undefined;
  const [root, name, sub, principal, sub2, policy, ...rest] = decoded;
  if (rest.length > 0) return undefined;
  const labels = [name, principal, policy].filter((label): label is string => label !== undefined);
  const pick = (table: Partial<Record<string, Route>>) => {
    const found = table[method];
    return found ? { route: found, labels } : undefined;
  };

  if (root === 'access-policies' && name === undefined) return pick({ GET: routes.ListAccessPolicies });
  if (root === 'tags' && name !== undefined && sub === undefined) {
    return pick({ GET: routes.ListTagsForResource, POST: routes.TagResource, DELETE: routes.UntagResource });
  }
  if (root !== 'clusters') return undefined;
  if (name === undefined || name === '') return pick({ GET: routes.ListClusters });
  if (sub === undefined) return pick({ GET: routes.DescribeCluster });
  if (sub !== 'access-entries') return undefined;
  if (principal === undefined) return pick({ GET: routes.ListAccessEntries, POST: routes.CreateAccessEntry });
  if (sub2 === undefined) {
    return pick({
      GET: routes.DescribeAccessEntry,
      POST: routes.UpdateAccessEntry,
      DELETE: routes.DeleteAccessEntry,
    });
  }
  if (sub2 !== 'access-policies') return undefined;
  if (policy === undefined)
    return pick({ GET: routes.ListAssociatedAccessPolicies, POST: routes.AssociateAccessPolicy });
  return pick({ DELETE: routes.DisassociateAccessPolicy });
}

const routes = {
  ListClusters: {
    operation: 'ListClusters',
    run: (eks, { query }) => eks.listClusters(listInput(query)),
  },
  DescribeCluster: {
    operation: 'DescribeCluster',
    run: (eks, { labels }) => eks.describeCluster(label(labels, 0)),
  },
  CreateAccessEntry: {
    operation: 'CreateAccessEntry',
    run: (eks, { labels, body }) =>
      eks.createAccessEntry({
        clusterName: label(labels, 0),
        principalArn: json.requiredString(body, 'principalArn'),
        kubernetesGroups: json.optionalStringList(body, 'kubernetesGroups'),
        tags: json.optionalStringMap(body, 'tags'),
        clientRequestToken: json.optionalString(body, 'clientRequestToken'),
        username: json.optionalString(body, 'username'),
        type: json.optionalString(body, 'type'),
      }),
  },
  ListAccessEntries: {
    operation: 'ListAccessEntries',
    run: (eks, { labels, query }) =>
      eks.listAccessEntries({
        clusterName: label(labels, 0),
        associatedPolicyArn: query.get('associatedPolicyArn') ?? undefined,
        ...listInput(query),
      }),
  },
  DescribeAccessEntry: {
    operation: 'DescribeAccessEntry',
    run: (eks, { labels }) => eks.describeAccessEntry(label(labels, 0), label(labels, 1)),
  },
  UpdateAccessEntry: {
    operation: 'UpdateAccessEntry',
    run: (eks, { labels, body }) =>
      eks.updateAccessEntry({
        clusterName: label(labels, 0),
        principalArn: label(labels, 1),
        kubernetesGroups: json.optionalStringList(body, 'kubernetesGroups'),
        clientRequestToken: json.optionalString(body, 'clientRequestToken'),
        username: json.optionalString(body, 'username'),
      }),
  },
  DeleteAccessEntry: {
    operation: 'DeleteAccessEntry',
    run: (eks, { labels }) => eks.deleteAccessEntry(label(labels, 0), label(labels, 1)),
  },
  AssociateAccessPolicy: {
    operation: 'AssociateAccessPolicy',
    run: (eks, { labels, body }) =>
      eks.associateAccessPolicy({
        clusterName: label(labels, 0),
        principalArn: label(labels, 1),
        policyArn: json.requiredString(body, 'policyArn'),
        accessScope: requiredScope(body),
      }),
  },
  ListAssociatedAccessPolicies: {
    operation: 'ListAssociatedAccessPolicies',
    run: (eks, { labels, query }) =>
      eks.listAssociatedAccessPolicies({
        clusterName: label(labels, 0),
        principalArn: label(labels, 1),
        ...listInput(query),
      }),
  },
  DisassociateAccessPolicy: {
    operation: 'DisassociateAccessPolicy',
    run: (eks, { labels }) =>
      eks.disassociateAccessPolicy({
        clusterName: label(labels, 0),
        principalArn: label(labels, 1),
        policyArn: label(labels, 2),
      }),
  },
  ListAccessPolicies: {
    operation: 'ListAccessPolicies',
    run: (eks, { query, region }) =>
      eks.listAccessPolicies({ ...listInput(query), ...(region === undefined ? {} : { region }) }),
  },
  ListTagsForResource: {
    operation: 'ListTagsForResource',
    run: (eks, { labels }) => eks.listTagsForResource(label(labels, 0)),
  },
  TagResource: {
    operation: 'TagResource',
    run: (eks, { labels, body }) => {
      const tags = json.optionalStringMap(body, 'tags');
      if (!tags) throw errors.badRequest('tags is required.');
      return eks.tagResource(label(labels, 0), tags);
    },
  },
  UntagResource: {
    operation: 'UntagResource',
    run: (eks, { labels, query }) => {
      const keys = query.getAll('tagKeys');
      if (keys.length === 0) throw errors.badRequest('tagKeys is required.');
      return eks.untagResource(label(labels, 0), keys);
    },
  },
} satisfies Record<string, Route>;

/** The region of the SigV4 credential scope (`Credential=AKID/date/region/service/aws4_request`). */
function signedRegion(req: EdgeRequest): string | undefined {
  const authorization = req.headers.authorization;
  const credential =
    (typeof authorization === 'string' ? /Credential=([^,\s]+)/.exec(authorization)?.[1] : undefined) ??
    req.query.get('X-Amz-Credential') ??
    undefined;
  return credential?.split('/')[2] || undefined;
}

function label(labels: readonly string[], index: number): string {
  const value = labels[index];
  if (value === undefined || value === '') throw errors.invalidParameter('A path parameter is missing.');
  return value;
}

function listInput(query: URLSearchParams): { maxResults?: number; nextToken?: string } {
  const raw = query.get('maxResults');
  const nextToken = query.get('nextToken') ?? undefined;
  if (raw === null) return { nextToken };
  if (!/^-?\d+$/.test(raw)) throw errors.maxResults();
  return { maxResults: Number(raw), nextToken };
}

function requiredScope(body: Record<string, unknown>): AccessScope {
  const scope = json.optionalRecord(body, 'accessScope', 'an object');
  if (scope === undefined) throw json.errors.missing('accessScope');
  const type = json.optionalString(scope, 'type');
  if (type !== 'cluster' && type !== 'namespace') {
    throw errors.invalidParameter(
      `The accessScope type ${String(type)} is not valid: use cluster or namespace.`,
    );
  }
  return { type, namespaces: json.optionalStringList(scope, 'namespaces') ?? [] };
}
