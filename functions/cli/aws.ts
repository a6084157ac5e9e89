import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { LeaseStore, leaseDocumentClient } from '../adapters/lease-table';
import { LOCAL_RESOURCE_NAMES, stageResourceNames } from '../config/names';
import { CliError } from './errors';

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
    this.endpoint = env.AWS_ENDPOINT_URL;
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
  proofSigning(): { readonly credentials: Credentials; readonly region: string; readonly endpoint?: string } {
    const { credentials, region } = this.clientConfig();
    // The broker checks the proof with the STS it uses: its region's, or the endpoint it is pointed at.
    const endpoint = this.env.AWS_ENDPOINT_URL_STS ?? this.endpoint;
    return { credentials, region, ...(endpoint ? { endpoint } : {}) };
  }

  /** Turns the errors people meet at a terminal into a sentence that says what to do. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      const e = error as Error & { code?: string; cause?: unknown };
      const cause = (e.cause ?? e) as Error & { code?: string; name: string };
      const text = `${cause.name} ${cause.message} ${cause.code ?? ''}`;
      if (/ECONNREFUSED|ENOTFOUND/.test(text)) {
        throw new CliError(
          `Nothing answers at ${this.endpoint ?? 'the AWS endpoint'}: for the local broker run \`npm start\` first.`,
        );
      }
      if (/CredentialsProviderError|Could not load credentials/.test(text)) {
        throw new CliError(
          'No AWS credentials: set AWS_PROFILE (or keys), or AWS_ENDPOINT_URL=http://127.0.0.1:4566 for `npm start`.',
        );
      }
      if (/ResourceNotFoundException/.test(text) && /table/i.test(text)) {
        throw new CliError(`Lease table ${this.tableName} not found: pass --table NAME or --stage STAGE.`);
      }
      throw error;
    }
  }

  /**
   * The SDK reads AWS_REGION; the aws CLI's AWS_DEFAULT_REGION is honoured too, and the local edge needs none.
   * Credentials: the keys in the environment, else the SDK's default chain (profiles, SSO, ...).
   */
  private clientConfig(): { region: string; credentials: Credentials; endpoint?: string } {
    const env = this.env;
    const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (this.local ? 'us-east-1' : undefined);
    if (!region) throw new CliError('No AWS region: set AWS_REGION (or AWS_DEFAULT_REGION).');
    const credentials: Credentials =
      env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          }
        : fromNodeProviderChain();
    return { region, credentials, ...(this.endpoint ? { endpoint: this.endpoint } : {}) };
  }
}
