import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Edge, startEdge } from '../../infra/local/edge';

const run = promisify(execFile);

function findAwsCli(): boolean {
  try {
    execFileSync('aws', ['--version'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

const hasAwsCli = findAwsCli();
if (!hasAwsCli) {
  console.warn(
    'eks-cli.test.ts: the aws CLI is not on PATH, so the seed procedure through the CLI is skipped.',
  );
}

const PRINCIPAL = 'arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/Dev';
const VIEW = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';
const EDIT = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy';

let edge: Edge;

beforeAll(async () => {
  edge = await startEdge({ port: 0, dynamodb: false });
});

afterAll(async () => {
  await edge.close();
});

/** Runs `aws eks ...` against the edge and returns the parsed JSON output. */
async function awsEks(...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run('aws', ['eks', ...args, '--endpoint-url', edge.url, '--output', 'json'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    },
    timeout: 60_000,
  });
  return stdout.trim() === '' ? {} : (JSON.parse(stdout) as Record<string, unknown>);
}

describe.skipIf(!hasAwsCli)('the seed procedure through the aws CLI', () => {
  it('creates the entry, associates with namespace and cluster scope, and lists the result', async () => {
    const created = await awsEks(
      'create-access-entry',
      '--cluster-name',
      'demo',
      '--principal-arn',
      PRINCIPAL,
      '--type',
      'STANDARD',
    );
    await awsEks(
      'associate-access-policy',
      '--cluster-name',
      'demo',
      '--principal-arn',
      PRINCIPAL,
      '--access-scope',
      'type=namespace,namespaces=my-namespace1,my-namespace2',
      '--policy-arn',
      VIEW,
    );
    await awsEks(
      'associate-access-policy',
      '--cluster-name',
      'demo',
      '--principal-arn',
      PRINCIPAL,
      '--access-scope',
      'type=cluster',
      '--policy-arn',
      EDIT,
    );
    const listed = await awsEks(
      'list-associated-access-policies',
      '--cluster-name',
      'demo',
      '--principal-arn',
      PRINCIPAL,
    );

    expect(created.accessEntry).toMatchObject({
      principalArn: PRINCIPAL,
      type: 'STANDARD',
      clusterName: 'demo',
    });
    expect(listed.associatedAccessPolicies).toEqual([
      expect.objectContaining({ policyArn: EDIT, accessScope: { type: 'cluster', namespaces: [] } }),
      expect.objectContaining({
        policyArn: VIEW,
        accessScope: { type: 'namespace', namespaces: ['my-namespace1', 'my-namespace2'] },
      }),
    ]);
    const entries = await awsEks('list-access-entries', '--cluster-name', 'demo');
    expect(entries.accessEntries).toEqual([PRINCIPAL]);
  });

  it('shows the AWS error the CLI user would see for a duplicate entry', async () => {
    const error = await awsEks(
      'create-access-entry',
      '--cluster-name',
      'demo',
      '--principal-arn',
      PRINCIPAL,
    ).then(
      () => undefined,
      (e: unknown) => e as { stderr: string; code: number },
    );

    // aws CLI v1 exits 255 on a service error, v2 exits 254.
    expect([254, 255]).toContain(error?.code);
    expect(error?.stderr).toContain('ResourceInUseException');
    expect(error?.stderr).toContain('The specified access entry resource is already in use on this cluster.');
  });
});
