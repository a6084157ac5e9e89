import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { LeaseStore, leaseDocumentClient } from '../adapters/lease-table';
import { LOCAL_RESOURCE_NAMES, stageResourceNames } from '../config/names';
import { CliError, explainError } from './errors';

type Credentials =
  | { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string }
  | ReturnType<typeof fromNodeProviderChain>;

/**
 * Where the commands go: a stage's lease table and an event bus, in the region the SDK would use, with your
 * own credentials. AWS_ENDPOINT_URL points everything at the local broker started by `npm start` instead.
 */
export class AwsTarget {
  readonly endpoint: string | undefined;
  readonly tableName: string;
  readonly busName: string;
  /** The broker's audience for requesters' proofs: the stage's stack, `eks-access-broker-<stage>`. */
  readonly audience: string;
  private readonly local: boolean;

  /** `env`: the CLI's environment (the process's; a test passes its own, as another shell would). */
  constructor(
    options: { readonly stage?: string; readonly table?: string; readonly bus?: string },
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.endpoint = env.AWS_ENDPOINT_URL || undefined;
    this.local = Boolean(this.endpoint);
    const stage = options.stage ?? (this.local ? 'local' : 'dev');
    this.audience = stageResourceNames(stage).prefix;
    this.tableName = options.table ?? env.LEASE_TABLE_NAME ?? stageResourceNames(stage).leaseTable;
    this.busName =
      options.bus ??
      env.EVENT_BUS_NAME ??
      (this.local ? LOCAL_RESOURCE_NAMES.eventBus : stageResourceNames(stage).eventBus);
  }

  leaseStore(): LeaseStore {
    return new LeaseStore({
      client: leaseDocumentClient(new DynamoDBClient(this.clientConfig())),
      tableName: this.tableName,
    });
  }

  eventBridge(): EventBridgeClient {
    return new EventBridgeClient(this.clientConfig());
  }

  /** Who your credentials are, as STS says (an assumed-role session for a role). */
  async callerArn(): Promise<string> {
    const sts = new STSClient(this.clientConfig());
    try {
      const { Arn } = await sts.send(new GetCallerIdentityCommand({}));
      if (!Arn) throw new CliError('STS did not say who your credentials are.');
      return Arn;
    } finally {
      sts.destroy();
    }
  }

  /** What a requester's proof is signed with: your own credentials (the SDK's default chain) and region. */
  async proofSigning(): Promise<{
    readonly credentials: Credentials;
    readonly region: string;
    readonly endpoint?: string;
  }> {
    const config = this.clientConfig();
    const sts = new STSClient(config);
    try {
      // The region the SDK would use: the environment's, else the profile's.
      const region = await sts.config.region();
      // The broker checks the proof with the STS it uses: its region's, or the endpoint it is pointed at.
      const endpoint = this.env.AWS_ENDPOINT_URL_STS ?? this.endpoint;
      return { credentials: config.credentials, region, ...(endpoint ? { endpoint } : {}) };
    } finally {
      sts.destroy();
    }
  }

  /** Runs `fn`; an error people meet at a terminal leaves as a CliError that says what to do. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw this.explain(error);
    }
  }

  /** The CliError that says what to do about `error`, or `error` itself when it is none of those. */
  explain(error: unknown): unknown {
    return (
      explainError(error, {
        endpoint: this.endpoint,
        region: this.region(),
        tableName: this.tableName,
        busName: this.busName,
      }) ?? error
    );
  }

  /** The region the CLI sets: AWS_REGION, the aws CLI's AWS_DEFAULT_REGION, or us-east-1 for the local edge. */
  private region(): string | undefined {
    const env = this.env;
    return env.AWS_REGION || env.AWS_DEFAULT_REGION || (this.local ? 'us-east-1' : undefined);
  }

  /**
   * Without a region in the environment the SDK takes the profile's (AWS_PROFILE, ~/.aws/config), and says
   * "Region is missing" when there is none (explain turns that into what to do).
   * Credentials: the keys in the environment, else the SDK's default chain (profiles, SSO, ...).
   */
  private clientConfig(): { region?: string; credentials: Credentials; endpoint?: string } {
    const env = this.env;
    const region = this.region();
    const credentials: Credentials =
      env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          }
        : fromNodeProviderChain();
    return {
      ...(region ? { region } : {}),
      credentials,
      ...(this.endpoint ? { endpoint: this.endpoint } : {}),
    };
  }
}
