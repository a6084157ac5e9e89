import { GetRoleCommand, type IAMClient } from '@aws-sdk/client-iam';
import type { Senders } from '../app/ports';
import { translateAwsError } from './aws-errors';

/**
 * SQS's SenderId of the integrations' principals, resolved once per container with iam:GetRole on exactly those
 * roles (the function's IAM allows nothing else): a role's unique id (RoleId) is what SQS names as the sender of
 * a message sent with the role's credentials (`<RoleId>:<session name>`). A role deleted and re-created under the
 * same name gets a new id, which is the point: the old one no longer sends for the integration.
 */
export class IamSenders implements Senders {
  private directory: Promise<ReadonlyMap<string, string>> | undefined;

  constructor(
    private readonly options: { readonly client: IAMClient; readonly roleArns: readonly string[] },
  ) {}

  async principalOf(senderId: string): Promise<string | undefined> {
    // A role session: the part before the colon is the role's id.
    const uniqueId = senderId.split(':')[0] ?? '';
    return (await this.roleIds()).get(uniqueId);
  }

  private roleIds(): Promise<ReadonlyMap<string, string>> {
    this.directory ??= this.resolve().catch((error: unknown) => {
      // Not cached: the next message tries again (IAM throttled or unreachable).
      this.directory = undefined;
      throw error;
    });
    return this.directory;
  }

  private async resolve(): Promise<ReadonlyMap<string, string>> {
    const entries = await Promise.all(
      this.options.roleArns.map(async (arn) => {
        try {
          const { Role } = await this.options.client.send(new GetRoleCommand({ RoleName: roleName(arn) }));
          // A role of the same name on another path or account is another role.
          return Role?.RoleId && Role.Arn === arn ? ([Role.RoleId, arn] as const) : undefined;
        } catch (error) {
          if (error instanceof Error && error.name === 'NoSuchEntityException') return undefined;
          throw translateAwsError(error, `Could not read the IAM role ${arn}`);
        }
      }),
    );
    return new Map(entries.filter((entry) => entry !== undefined));
  }
}

/** `arn:aws:iam::111122223333:role/path/Name` -> `Name` (GetRole takes the name, not the path). */
function roleName(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}
