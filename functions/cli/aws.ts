import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { LeaseStore, leaseDocumentClient } from '../adapters/lease-table';
import { LOCAL_RESOURCE_NAMES, stageResourceNames } from '../config/names';
import { CliError } from './errors';

/**
 * Where the commands go: a stage's lease table and an event bus, in the region the SDK would use, with your
 * own credentials. AWS_ENDPOINT_URL points everything at the local broker started by `npm start` instead.
 */
export class AwsTarget {
  readonly endpoint = process.env.AWS_ENDPOINT_URL;
  readonly tableName: string;
  readonly busName: string;
  /** The broker's audience for requesters' proofs: the stage's stack, `eks-access-broker-<stage>`. */
  readonly audience: string;
  private readonly local = Boolean(this.endpoint);

  constructor(options: { readonly stage?: string; readonly table?: string; readonly bus?: string }) {
    const stage = options.stage ?? (this.local ? 'local' : 'dev');
    this.audience = stageResourceNames(stage).prefix;
    this.tableName = options.table ?? process.env.LEASE_TABLE_NAME ?? stageResourceNames(stage).leaseTable;
    this.busName =
      options.bus ??
      process.env.EVENT_BUS_NAME ??
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
  proofSigning(): {
    readonly credentials: ReturnType<typeof fromNodeProviderChain>;
    readonly region: string;
  } {
    return { credentials: fromNodeProviderChain(), region: this.clientConfig().region };
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

  /** The SDK reads AWS_REGION; the aws CLI's AWS_DEFAULT_REGION is honoured too, and the local edge needs none. */
  private clientConfig(): { region: string } {
    const region =
      process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? (this.local ? 'us-east-1' : undefined);
    if (!region) throw new CliError('No AWS region: set AWS_REGION (or AWS_DEFAULT_REGION).');
    return { region };
  }
}
