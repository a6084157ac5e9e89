import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { DescribeClusterCommand } from '@aws-sdk/client-eks';
import { describe, expect, it } from 'vitest';
import { eksClient } from '../support/aws';

const MAIN = 'infra/local/main.ts';

function startMain(env: Record<string, string>, args: string[] = []): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...process.env, ...env },
    stdio: 'pipe',
  });
}

/** Resolves with the first match of `pattern` in everything the child has printed so far or prints later. */
function waitForOutput(
  child: ChildProcessWithoutNullStreams,
  pattern: RegExp,
  timeoutMs = 30_000,
): Promise<RegExpExecArray> {
  const output = outputOf(child);
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(output.text);
      if (!match) return false;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve(match);
      return true;
    };
    const onData = () => setImmediate(check);
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${pattern}; output so far:\n${output.text}`)),
      timeoutMs,
    );
    child.stdout.on('data', onData);
    child.once(
      'exit',
      () => check() || reject(new Error(`exited before ${pattern}; output:\n${output.text}`)),
    );
    check();
  });
}

const outputs = new WeakMap<ChildProcessWithoutNullStreams, { text: string }>();

function outputOf(child: ChildProcessWithoutNullStreams): { text: string } {
  let output = outputs.get(child);
  if (!output) {
    const created = { text: '' };
    const append = (chunk: Buffer) => {
      created.text += chunk.toString();
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    outputs.set(child, created);
    output = created;
  }
  return output;
}

function exitOf(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start (infra/local/main.ts)', () => {
  it('serves the edge, then stops cleanly on Ctrl-C leaving no Java process behind', async () => {
    const child = startMain({ PORT: '0' });
    outputOf(child);
    const exited = exitOf(child);
    const [, url] = await waitForOutput(child, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const [, pid] = await waitForOutput(child, /DynamoDB Local: in memory \(pid (\d+)\)/);
    // Every call must be signed by one of these: the quick start's test/test is the ticketing integration.
    await waitForOutput(
      child,
      /Identities .*\n {4}test \/ test {2}arn:aws:iam::111122223333:role\/ticketing-integration/,
    );
    await waitForOutput(
      child,
      /intruder \/ intruder {2}arn:aws:iam::111122223333:role\/intruder \(AROA[A-Z2-7]{17}\)/,
    );
    // The aws CLI v1 reads only AWS_DEFAULT_REGION, the SDKs AWS_REGION: the line to copy sets both.
    await waitForOutput(
      child,
      /export AWS_ENDPOINT_URL=http:\/\/127\.0\.0\.1:\d+ AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1\n/,
    );

    const eks = eksClient(url ?? '', { maxAttempts: 1 });
    const { cluster } = await eks.send(new DescribeClusterCommand({ name: 'demo' }));
    eks.destroy();
    child.kill('SIGINT');
    const { code } = await exited;

    expect(cluster?.accessConfig?.authenticationMode).toBe('API_AND_CONFIG_MAP');
    expect(code).toBe(0);
    expect(isAlive(Number(pid))).toBe(false);
  });

  it('says clearly that the port is in use, without a stack trace', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;

    const { code, stderr } = await exitOf(startMain({}, ['--port', String(port)]));
    blocker.close();

    expect(code).toBe(1);
    expect(stderr).toContain(`error: Port ${port} on 127.0.0.1 is already in use`);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses an identities file it cannot use, in one line', async () => {
    const { code, stderr } = await exitOf(startMain({ PORT: '0' }, ['--identities', 'package.json']));

    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: Identities file package\.json is invalid: /);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a bad port value with the usage hint', async () => {
    const { code, stderr } = await exitOf(startMain({ PORT: 'http' }));

    expect(code).toBe(1);
    expect(stderr).toContain('--port / PORT must be a whole number');
  });
});
