import { randomUUID } from 'node:crypto';
import { EksApiError, errors } from './errors';
import { type FaultConfig, FaultInjector, type UnsettledAnswers } from './faults';
import {
  ACCESS_ENTRY_TYPES,
  type AccessEntry,
  type AccessEntryType,
  type AccessScope,
  type AssociatedAccessPolicy,
  type ClusterSeed,
  EKS_OPERATIONS,
  type EksOperation,
  type MutatingOperation,
  type MutationRecord,
} from './model';
import { paginate } from './pagination';
import {
  accessPolicyArn,
  accessPolicyName,
  MANAGED_ACCESS_POLICY_NAMES,
  partitionOf,
  SERVICE_LINKED_ONLY_POLICY_NAMES,
} from './policies';
import { checkPrincipalFormat, type IamPrincipal, parsePrincipalArn } from './principals';

export interface EksEmulatorOptions {
  /** Clusters served; the local default is `demo` (see DEFAULT_CLUSTERS). */
  readonly clusters?: readonly ClusterSeed[];
  readonly faults?: FaultConfig;
  /** Epoch milliseconds; injectable so tests can pin timestamps. */
  readonly now?: () => number;
  /** Access entries per cluster: 3,000 in AWS and not adjustable. Lower it to test the limit. */
  readonly maxEntriesPerCluster?: number;
  /** Well-formed principals that IAM does not know (deleted, or not yet propagated). */
  readonly missingPrincipals?: readonly string[];
}

export const DEFAULT_CLUSTERS: readonly ClusterSeed[] = [
  { name: 'demo', region: 'us-east-1', accountId: '111122223333', authenticationMode: 'API_AND_CONFIG_MAP' },
];

export interface CreateAccessEntryInput {
  readonly clusterName: string;
  readonly principalArn: string;
  readonly kubernetesGroups?: readonly string[];
  readonly tags?: Readonly<Record<string, string>>;
  readonly clientRequestToken?: string;
  readonly username?: string;
  readonly type?: string;
}

export interface UpdateAccessEntryInput {
  readonly clusterName: string;
  readonly principalArn: string;
  readonly kubernetesGroups?: readonly string[];
  readonly clientRequestToken?: string;
  readonly username?: string;
}

export interface ListInput {
  readonly maxResults?: number;
  readonly nextToken?: string;
}

interface EntryState {
  entry: AccessEntry;
  readonly policies: Map<string, AssociatedAccessPolicy>;
}

interface ClusterState {
  readonly seed: ClusterSeed;
  readonly arn: string;
  readonly partition: string;
  readonly createdAt: number;
  readonly entries: Map<string, EntryState>;
  /** clientRequestToken of CreateAccessEntry -> the request it was first used with. */
  readonly createTokens: Map<string, string>;
  tags: Record<string, string>;
}

/** A deep copy of one cluster's access state, for invariant checks. */
export interface ClusterSnapshot {
  readonly clusterName: string;
  readonly entries: readonly (AccessEntry & { readonly policies: readonly AssociatedAccessPolicy[] })[];
}

const CLUSTER_NAME = /^[0-9A-Za-z][A-Za-z0-9-_]*$/;
const NAMESPACE = /^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?|[a-z0-9][-a-z0-9]*\*|\*)$/;
const RESERVED_USERNAME_PREFIXES = ['system:', 'eks:', 'aws:', 'amazon:', 'iam:'];
/** Every type but STANDARD is for nodes (or a service): no groups of their own, no policy associations. */
const NODE_TYPES: ReadonlySet<AccessEntryType> = new Set(
  ACCESS_ENTRY_TYPES.filter((type) => type !== 'STANDARD'),
);

/**
 * An in-memory Amazon EKS access-entry API with the behaviour real AWS shows (fidelity.md beside this file
 * names the source of each rule, and what no source settles). The HTTP binding lives in routes.ts; this class
 * is the state and the rules, callable directly by tests that seed a baseline. The faults (faults.ts) apply
 * here too when they depend on the request (a new principal, the unsettled answers, the page size), so a
 * caller that skips the HTTP binding meets them as well.
 */
export class EksEmulator {
  readonly faults: FaultInjector;
  private readonly clusters = new Map<string, ClusterState>();
  private readonly missingPrincipals: Set<string>;
  private readonly log: MutationRecord[] = [];
  private readonly calls = new Map<EksOperation, number>();
  private readonly now: () => number;
  private readonly maxEntries: number;
  private seq = 0;

  constructor(options: EksEmulatorOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntriesPerCluster ?? 3000;
    this.missingPrincipals = new Set(options.missingPrincipals ?? []);
    this.faults = new FaultInjector(options.faults);
    for (const seed of options.clusters ?? DEFAULT_CLUSTERS) this.addCluster(seed);
  }

  addCluster(seed: ClusterSeed): void {
    if (!CLUSTER_NAME.test(seed.name) || seed.name.length > 100) {
      throw new RangeError(`Cluster name ${JSON.stringify(seed.name)} is not a valid EKS cluster name`);
    }
    if (!/^\d{12}$/.test(seed.accountId))
      throw new RangeError(`Cluster ${seed.name}: accountId must be 12 digits`);
    if (this.clusters.has(seed.name)) throw new RangeError(`Cluster ${seed.name} is seeded twice`);
    const partition = partitionOf(seed.region);
    this.clusters.set(seed.name, {
      seed,
      partition,
      arn: `arn:${partition}:eks:${seed.region}:${seed.accountId}:cluster/${seed.name}`,
      createdAt: this.seconds(),
      entries: new Map(),
      createTokens: new Map(),
      tags: {},
    });
  }

  setPrincipalMissing(principalArn: string, missing = true): void {
    if (missing) this.missingPrincipals.add(principalArn);
    else this.missingPrincipals.delete(principalArn);
  }

  // ---- Access entries -------------------------------------------------------------------------------

  createAccessEntry(input: CreateAccessEntryInput): { accessEntry: AccessEntry } {
    return this.mutate(
      'CreateAccessEntry',
      { clusterName: input.clusterName, principalArn: input.principalArn },
      () => {
        const cluster = this.accessEntryCluster(input.clusterName);
        const type = parseEntryType(input.type);
        const principal = this.knownPrincipal(input.principalArn);
        if (NODE_TYPES.has(type)) {
          if (principal.kind !== 'role' || principal.accountId !== cluster.seed.accountId) {
            throw errors.invalidParameter(
              `Access entries of type ${type} can only be created for IAM roles in the cluster's account.`,
            );
          }
          if (input.kubernetesGroups?.length) {
            throw errors.invalidParameter(
              `kubernetesGroups cannot be specified for access entries of type ${type}.`,
            );
          }
          if (input.username !== undefined) {
            throw errors.invalidParameter(`username cannot be specified for access entries of type ${type}.`);
          }
        }
        const groups = validateGroups(input.kubernetesGroups ?? []);
        if (input.username !== undefined) validateUsername(input.username);
        const tags = validateTags(input.tags);

        // An SDK retry after a lost answer re-sends the same token: answer with what the first call made.
        const tokenKey = input.clientRequestToken;
        const fingerprint = JSON.stringify([input.principalArn, type, groups, input.username ?? null, tags]);
        const existing = cluster.entries.get(input.principalArn);
        if (tokenKey !== undefined && cluster.createTokens.has(tokenKey)) {
          if (cluster.createTokens.get(tokenKey) !== fingerprint) throw errors.tokenReused();
          if (existing) return { result: { accessEntry: existing.entry }, record: { replayed: true } };
        }
        if (existing) throw errors.entryInUse();
        if (cluster.entries.size >= this.maxEntries) throw errors.tooManyEntries(this.maxEntries);

        const at = this.seconds();
        const entry: AccessEntry = {
          clusterName: cluster.seed.name,
          principalArn: input.principalArn,
          kubernetesGroups: NODE_TYPES.has(type) ? nodeGroups(type) : groups,
          accessEntryArn: `arn:${cluster.partition}:eks:${cluster.seed.region}:${cluster.seed.accountId}:access-entry/${cluster.seed.name}/${principal.kind}/${principal.accountId}/${principal.name}/${randomUUID()}`,
          createdAt: at,
          modifiedAt: at,
          tags,
          username: input.username ?? defaultUsername(principal, type),
          type,
        };
        cluster.entries.set(input.principalArn, { entry, policies: new Map() });
        if (tokenKey !== undefined) cluster.createTokens.set(tokenKey, fingerprint);
        return {
          result: { accessEntry: entry },
          record: {
            entryType: type,
            kubernetesGroups: entry.kubernetesGroups,
            username: entry.username,
            tags,
          },
        };
      },
    );
  }

  describeAccessEntry(clusterName: string, principalArn: string): { accessEntry: AccessEntry } {
    const cluster = this.accessEntryCluster(clusterName);
    return { accessEntry: this.entryOf(cluster, principalArn).entry };
  }

  /** Replaces groups and username: what the call omits is cleared or reset, as in AWS. */
  updateAccessEntry(input: UpdateAccessEntryInput): { accessEntry: AccessEntry } {
    return this.mutate(
      'UpdateAccessEntry',
      { clusterName: input.clusterName, principalArn: input.principalArn },
      () => {
        const cluster = this.accessEntryCluster(input.clusterName);
        const state = this.entryOf(cluster, input.principalArn);
        const type = state.entry.type;
        if (NODE_TYPES.has(type) && (input.kubernetesGroups?.length || input.username !== undefined)) {
          throw errors.invalidParameter(
            `kubernetesGroups and username cannot be specified for access entries of type ${type}.`,
          );
        }
        const groups = NODE_TYPES.has(type)
          ? state.entry.kubernetesGroups
          : validateGroups(input.kubernetesGroups ?? []);
        if (input.username !== undefined) validateUsername(input.username);
        const principal = parsePrincipalArn(input.principalArn);
        state.entry = {
          ...state.entry,
          kubernetesGroups: groups,
          username: input.username ?? defaultUsername(principal, type),
          modifiedAt: this.later(state.entry.modifiedAt),
        };
        return {
          result: { accessEntry: state.entry },
          record: { kubernetesGroups: groups, username: state.entry.username },
        };
      },
    );
  }

  /** Deletes the entry and, with it, every policy association it had. */
  deleteAccessEntry(clusterName: string, principalArn: string): Record<string, never> {
    return this.mutate('DeleteAccessEntry', { clusterName, principalArn }, () => {
      const cluster = this.accessEntryCluster(clusterName);
      const state = this.entryOf(cluster, principalArn);
      cluster.entries.delete(principalArn);
      return { result: {}, record: { cascadedPolicyArns: [...state.policies.keys()].sort() } };
    });
  }

  listAccessEntries(input: ListInput & { clusterName: string; associatedPolicyArn?: string }): {
    accessEntries: string[];
    nextToken?: string;
  } {
    const cluster = this.accessEntryCluster(input.clusterName);
    let states = [...cluster.entries.values()];
    if (input.associatedPolicyArn !== undefined) {
      const policyArn = input.associatedPolicyArn;
      this.policyName(cluster, policyArn);
      states = states.filter((state) => state.policies.has(policyArn));
    }
    const page = paginate(
      states.map((state) => state.entry.principalArn),
      (arn) => arn,
      input.maxResults,
      input.nextToken,
      this.faults.pageSize(input.maxResults),
    );
    return withToken({ accessEntries: page.items }, page.nextToken);
  }

  // ---- Policy associations ----------------------------------------------------------------------------

  /** One association per (entry, policy): associating again REPLACES the scope, it never merges. */
  associateAccessPolicy(input: {
    clusterName: string;
    principalArn: string;
    policyArn: string;
    accessScope: AccessScope;
  }): { clusterName: string; principalArn: string; associatedAccessPolicy: AssociatedAccessPolicy } {
    return this.mutate(
      'AssociateAccessPolicy',
      {
        clusterName: input.clusterName,
        principalArn: input.principalArn,
        policyArn: input.policyArn,
        accessScope: input.accessScope,
      },
      () => {
        const cluster = this.accessEntryCluster(input.clusterName);
        const scope = validateScope(input.accessScope, this.faults.unsettled().namespaces);
        const state = this.entryOf(cluster, input.principalArn);
        const name = this.policyName(cluster, input.policyArn);
        const autoNode =
          state.entry.type === 'EC2' && name === 'AmazonEKSAutoNodePolicy' && scope.type === 'cluster';
        if (state.entry.type !== 'STANDARD' && !autoNode) throw errors.notStandard();
        // No caller can create a service-linked role's entry, so no caller can associate these.
        if (SERVICE_LINKED_ONLY_POLICY_NAMES.has(name)) throw errors.serviceLinkedOnlyPolicy(name);
        const previous = state.policies.get(input.policyArn);
        const at = previous ? this.later(previous.modifiedAt) : this.seconds();
        const association: AssociatedAccessPolicy = {
          policyArn: input.policyArn,
          accessScope: scope,
          associatedAt: previous?.associatedAt ?? at,
          modifiedAt: at,
        };
        state.policies.set(input.policyArn, association);
        return {
          result: {
            clusterName: cluster.seed.name,
            principalArn: input.principalArn,
            associatedAccessPolicy: association,
          },
          record: { accessScope: scope },
        };
      },
    );
  }

  disassociateAccessPolicy(input: {
    clusterName: string;
    principalArn: string;
    policyArn: string;
  }): Record<string, never> {
    return this.mutate('DisassociateAccessPolicy', input, () => {
      const cluster = this.accessEntryCluster(input.clusterName);
      const state = this.entryOf(cluster, input.principalArn);
      if (state.policies.delete(input.policyArn)) return { result: {}, record: {} };
      // Not associated: what EKS answers here is documented nowhere (fidelity.md, "Unsettled").
      switch (this.faults.unsettled().disassociateNotAssociated ?? 'not-found') {
        case 'ok':
          return { result: {}, record: {} };
        case 'invalid-parameter':
          throw errors.invalidParameter('The specified policyArn is not associated with this access entry.');
        default:
          throw errors.policyNotAssociated();
      }
    });
  }

  listAssociatedAccessPolicies(input: ListInput & { clusterName: string; principalArn: string }): {
    clusterName: string;
    principalArn: string;
    associatedAccessPolicies: AssociatedAccessPolicy[];
    nextToken?: string;
  } {
    const cluster = this.accessEntryCluster(input.clusterName);
    const state = this.entryOf(cluster, input.principalArn);
    if (state.entry.type !== 'STANDARD' && state.entry.type !== 'EC2') throw errors.notStandard();
    const page = paginate(
      [...state.policies.values()],
      (p) => p.policyArn,
      input.maxResults,
      input.nextToken,
      this.faults.pageSize(input.maxResults),
    );
    return withToken(
      {
        clusterName: cluster.seed.name,
        principalArn: input.principalArn,
        associatedAccessPolicies: page.items,
      },
      page.nextToken,
    );
  }

  /**
   * The call names no cluster: the ARNs are those of the partition of the region the request was signed for
   * (`region`), the only ones AssociateAccessPolicy there accepts; `aws` when no region is known.
   */
  listAccessPolicies(input: ListInput & { region?: string } = {}): {
    accessPolicies: { name: string; arn: string }[];
    nextToken?: string;
  } {
    const partition = input.region === undefined ? 'aws' : partitionOf(input.region);
    const all = MANAGED_ACCESS_POLICY_NAMES.map((name) => ({ name, arn: accessPolicyArn(partition, name) }));
    const page = paginate(
      all,
      (p) => p.name,
      input.maxResults,
      input.nextToken,
      this.faults.pageSize(input.maxResults),
    );
    return withToken({ accessPolicies: page.items }, page.nextToken);
  }

  // ---- Clusters and tags ------------------------------------------------------------------------------

  describeCluster(name: string): { cluster: Record<string, unknown> } {
    const cluster = this.cluster(name, 'DescribeCluster');
    const { seed } = cluster;
    const host = `${createHash(seed.name + seed.accountId)}.gr7.${seed.region}.eks.amazonaws.com`;
    return {
      cluster: {
        name: seed.name,
        arn: cluster.arn,
        createdAt: cluster.createdAt,
        version: seed.kubernetesVersion ?? '1.33',
        endpoint: `https://${host}`,
        roleArn: `arn:${cluster.partition}:iam::${seed.accountId}:role/eks-cluster-role`,
        resourcesVpcConfig: {
          subnetIds: [],
          securityGroupIds: [],
          endpointPublicAccess: true,
          endpointPrivateAccess: false,
          publicAccessCidrs: ['0.0.0.0/0'],
        },
        kubernetesNetworkConfig: { serviceIpv4Cidr: '10.100.0.0/16', ipFamily: 'ipv4' },
        logging: { clusterLogging: [] },
        identity: {
          oidc: { issuer: `https://oidc.eks.${seed.region}.amazonaws.com/id/${createHash(seed.name)}` },
        },
        status: 'ACTIVE',
        certificateAuthority: { data: Buffer.from(`local-edge-ca-${seed.name}`).toString('base64') },
        platformVersion: 'eks.1',
        tags: { ...cluster.tags },
        accessConfig: {
          bootstrapClusterCreatorAdminPermissions: true,
          authenticationMode: seed.authenticationMode,
        },
      },
    };
  }

  listClusters(input: ListInput = {}): { clusters: string[]; nextToken?: string } {
    const page = paginate(
      [...this.clusters.keys()],
      (name) => name,
      input.maxResults,
      input.nextToken,
      this.faults.pageSize(input.maxResults),
    );
    return withToken({ clusters: page.items }, page.nextToken);
  }

  listTagsForResource(resourceArn: string): { tags: Record<string, string> } {
    return { tags: { ...this.taggable(resourceArn).get() } };
  }

  tagResource(resourceArn: string, tags: Readonly<Record<string, string>>): Record<string, never> {
    const target = this.taggable(resourceArn);
    return this.mutate(
      'TagResource',
      { clusterName: target.clusterName, principalArn: target.principalArn },
      () => {
        const merged = { ...target.get(), ...validateTags(tags) };
        if (Object.keys(merged).length > 50) throw errors.badRequest('A resource can have at most 50 tags.');
        target.set(merged);
        return { result: {}, record: { tags } };
      },
    );
  }

  untagResource(resourceArn: string, tagKeys: readonly string[]): Record<string, never> {
    const target = this.taggable(resourceArn);
    return this.mutate(
      'UntagResource',
      { clusterName: target.clusterName, principalArn: target.principalArn },
      () => {
        const remaining = { ...target.get() };
        for (const key of tagKeys) delete remaining[key];
        target.set(remaining);
        return { result: {}, record: { tagKeys } };
      },
    );
  }

  // ---- Introspection for tests and benchmarks ---------------------------------------------------------

  /** Every mutating call, applied or refused, in order. */
  mutations(): readonly MutationRecord[] {
    return this.log;
  }

  countCall(operation: EksOperation): void {
    this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
  }

  /** Calls that reached the HTTP binding, per operation (faulted ones included). */
  callCounts(): Readonly<Record<EksOperation, number>> {
    return Object.fromEntries(EKS_OPERATIONS.map((op) => [op, this.calls.get(op) ?? 0])) as Record<
      EksOperation,
      number
    >;
  }

  totalCalls(): number {
    let total = 0;
    for (const count of this.calls.values()) total += count;
    return total;
  }

  snapshot(): ClusterSnapshot[] {
    return [...this.clusters.values()].map((cluster) => ({
      clusterName: cluster.seed.name,
      entries: [...cluster.entries.values()]
        .map((state) => ({
          ...structuredClone(state.entry),
          policies: [...state.policies.values()].map((p) => structuredClone(p)).sort(byPolicyArn),
        }))
        .sort((a, b) => (a.principalArn < b.principalArn ? -1 : 1)),
    }));
  }

  /** Forgets entries, log and counters; keeps the clusters and the fault settings. */
  reset(): void {
    this.faults.resetCounts();
    for (const cluster of this.clusters.values()) {
      cluster.entries.clear();
      cluster.createTokens.clear();
    }
    this.log.length = 0;
    this.calls.clear();
    this.seq = 0;
  }

  // ---- Internals ----------------------------------------------------------------------------------------

  private mutate<T>(
    operation: MutatingOperation,
    subject: { clusterName: string; principalArn?: string; policyArn?: string; accessScope?: AccessScope },
    apply: () => { result: T; record: Partial<MutationRecord> },
  ): T {
    const base = { at: this.now(), operation, ...subject };
    try {
      const { result, record } = apply();
      this.log.push({ ...base, ...record, seq: ++this.seq, outcome: 'applied' });
      return result;
    } catch (error) {
      this.log.push({
        ...base,
        seq: ++this.seq,
        outcome: error instanceof EksApiError ? error.type : 'InternalError',
      });
      throw error;
    }
  }

  private seconds(): number {
    return this.now() / 1000;
  }

  /** Now, or just after `previous` when the clock has not moved: a modification always moves modifiedAt on. */
  private later(previous: number): number {
    return Math.max(this.seconds(), previous + 0.001);
  }

  /**
   * DescribeCluster answers a missing cluster with its documented text; what the access-entry calls answer is
   * documented nowhere, so the fault `unsettled.missingCluster` can make it the missing entry's own text.
   */
  private cluster(
    name: string,
    operation: 'DescribeCluster' | 'access-entry' = 'access-entry',
  ): ClusterState {
    if (!CLUSTER_NAME.test(name) || name.length > 100) throw errors.clusterName();
    const cluster = this.clusters.get(name);
    if (cluster) return cluster;
    if (operation === 'access-entry' && this.faults.unsettled().missingCluster === 'entry-message') {
      throw errors.clusterNotFoundLikeEntry(name);
    }
    throw errors.clusterNotFound(name);
  }

  private accessEntryCluster(name: string): ClusterState {
    const cluster = this.cluster(name);
    if (cluster.seed.authenticationMode === 'CONFIG_MAP') throw errors.configMapOnly(name);
    return cluster;
  }

  /** A principalArn that is no IAM ARN is a 400 about its format; a well-formed one without an entry a 404. */
  private entryOf(cluster: ClusterState, principalArn: string): EntryState {
    checkPrincipalFormat(principalArn);
    const state = cluster.entries.get(principalArn);
    if (!state) throw errors.entryNotFound();
    return state;
  }

  private knownPrincipal(principalArn: string): IamPrincipal {
    const principal = parsePrincipalArn(principalArn);
    if (this.missingPrincipals.has(principalArn)) throw errors.invalidPrincipal();
    if (this.faults.refusesNewPrincipal(principalArn)) throw errors.invalidPrincipal();
    return principal;
  }

  /** An unknown policy, a malformed ARN and one of another partition are all answered 404. */
  private policyName(cluster: ClusterState, policyArn: string): string {
    const name = accessPolicyName(cluster.partition, policyArn);
    if (name === undefined) throw errors.policyNotFound();
    return name;
  }

  private taggable(resourceArn: string): {
    clusterName: string;
    principalArn?: string;
    get(): Record<string, string>;
    set(tags: Record<string, string>): void;
  } {
    for (const cluster of this.clusters.values()) {
      if (cluster.arn === resourceArn) {
        return {
          clusterName: cluster.seed.name,
          get: () => cluster.tags,
          set: (tags) => {
            cluster.tags = tags;
          },
        };
      }
      for (const state of cluster.entries.values()) {
        if (state.entry.accessEntryArn === resourceArn) {
          return {
            clusterName: cluster.seed.name,
            principalArn: state.entry.principalArn,
            get: () => ({ ...state.entry.tags }),
            set: (tags) => {
              state.entry = { ...state.entry, tags };
            },
          };
        }
      }
    }
    throw errors.resourceNotFound(resourceArn);
  }
}

function withToken<T extends object>(body: T, nextToken: string | undefined): T & { nextToken?: string } {
  return nextToken === undefined ? body : { ...body, nextToken };
}

function byPolicyArn(a: AssociatedAccessPolicy, b: AssociatedAccessPolicy): number {
  return a.policyArn < b.policyArn ? -1 : 1;
}

function parseEntryType(type: string | undefined): AccessEntryType {
  if (type === undefined) return 'STANDARD';
  if (!(ACCESS_ENTRY_TYPES as readonly string[]).includes(type)) {
    throw errors.invalidParameter(
      `The type ${type} is not valid. Valid values are: ${ACCESS_ENTRY_TYPES.join(', ')}.`,
    );
  }
  return type as AccessEntryType;
}

function validateGroups(groups: readonly string[]): string[] {
  for (const group of groups) {
    if (group.startsWith('system:')) throw errors.systemGroup(group);
    if (group.length === 0) throw errors.invalidParameter('A kubernetes group name must not be empty.');
  }
  return [...groups];
}

/**
 * The User Guide's rules for a custom username ("Create access entries"): no reserved prefix, and a
 * `{{SessionName}}` or `{{SessionNameRaw}}` must have a colon somewhere before it (`:john{{SessionName}}` and
 * `jo:hn{{SessionName}}` pass, `john{{SessionName}}` does not).
 */
function validateUsername(username: string): void {
  const prefix = RESERVED_USERNAME_PREFIXES.find((p) => username.startsWith(p));
  if (prefix) throw errors.reservedUsername(prefix);
  if (username.length === 0) throw errors.invalidParameter('The username must not be empty.');
  const session = username.search(/\{\{SessionName(?:Raw)?\}\}/);
  if (session >= 0 && !username.slice(0, session).includes(':')) throw errors.sessionNameColon();
}

function validateTags(tags: Readonly<Record<string, string>> | undefined): Record<string, string> {
  if (tags === undefined) return {};
  const keys = Object.keys(tags);
  if (keys.length < 1 || keys.length > 50)
    throw errors.invalidParameter('Tags must contain between 1 and 50 items.');
  for (const [key, value] of Object.entries(tags)) {
    if (key.length < 1 || key.length > 128)
      throw errors.invalidParameter(`Tag key ${key} must be 1 to 128 characters.`);
    if (value.length > 256)
      throw errors.invalidParameter(`Tag value for ${key} must be at most 256 characters.`);
    // The TagMap doc of the botocore model: "Do not use aws:, AWS:, or any upper or lowercase combination of
    // such as a prefix for either keys or values".
    if (key.toLowerCase().startsWith('aws:')) {
      throw errors.invalidParameter(`Tag key ${key} is invalid: the aws: prefix is reserved for AWS use.`);
    }
    if (value.toLowerCase().startsWith('aws:')) throw errors.reservedTagValue(key);
  }
  return { ...tags };
}

function validateScope(scope: AccessScope, rules: UnsettledAnswers['namespaces'] = {}): AccessScope {
  if (scope.type === 'cluster') {
    if (scope.namespaces.length > 0) {
      throw errors.invalidParameter('namespaces cannot be specified when the accessScope type is cluster.');
    }
    return { type: 'cluster', namespaces: [] };
  }
  if (scope.type !== 'namespace') {
    throw errors.invalidParameter(
      `The accessScope type ${String(scope.type)} is not valid: use cluster or namespace.`,
    );
  }
  if (scope.namespaces.length === 0) {
    throw errors.invalidParameter(
      'At least one namespace is required when the accessScope type is namespace.',
    );
  }
  // Namespace rules are documented nowhere beyond the wildcard: the alternatives come from the faults.
  if (rules.maxPerScope !== undefined && scope.namespaces.length > rules.maxPerScope) {
    throw errors.invalidParameter(
      `An access scope can have at most ${rules.maxPerScope} namespaces, got ${scope.namespaces.length}.`,
    );
  }
  for (const namespace of scope.namespaces) {
    if (namespace.length > 63 || !NAMESPACE.test(namespace)) {
      throw errors.invalidParameter(
        `The namespace ${namespace} is invalid: it must be a DNS-1123 label, optionally ending in a * wildcard.`,
      );
    }
    if (rules.wildcards === false && namespace.includes('*')) {
      throw errors.invalidParameter(`The namespace ${namespace} is invalid: wildcards are not supported.`);
    }
  }
  return { type: 'namespace', namespaces: [...scope.namespaces] };
}

function nodeGroups(type: AccessEntryType): string[] {
  // EC2_LINUX (the aws CLI's create-access-entry example) and EC2 (a describe-access-entry transcript) are
  // system:nodes as seen; the others follow what eksctl and the console show (unverified).
  switch (type) {
    case 'EC2_LINUX':
    case 'EC2':
    case 'HYBRID_LINUX':
      return ['system:nodes'];
    case 'EC2_WINDOWS':
      return ['system:nodes', 'eks:kube-proxy-windows'];
    case 'FARGATE_LINUX':
      return ['system:node-proxier'];
    default:
      return [];
  }
}

/** The User Guide's table of generated usernames; EC2 (Auto Mode) as a describe-access-entry transcript shows. */
function defaultUsername(principal: IamPrincipal, type: AccessEntryType): string {
  if (type === 'FARGATE_LINUX' || type === 'HYBRID_LINUX' || type === 'EC2')
    return 'system:node:{{SessionName}}';
  if (NODE_TYPES.has(type)) return 'system:node:{{EC2PrivateDNSName}}';
  // The root's generated username is unverified: like a user, its ARN.
  if (principal.kind === 'user' || principal.kind === 'root') return principal.arn;
  return `arn:${principal.partition}:sts::${principal.accountId}:assumed-role/${principal.name}/{{SessionName}}`;
}

function createHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).toUpperCase().padStart(8, '0').repeat(4);
}
