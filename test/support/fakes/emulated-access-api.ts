import {
  IncomingMessage,
  type OutgoingHttpHeader,
  type OutgoingHttpHeaders,
  ServerResponse,
} from 'node:http';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { EKSClient } from '@aws-sdk/client-eks';
import { type HttpHandler, type HttpRequest, HttpResponse } from '@smithy/core/protocols';
import { EksAccess } from '../../../functions/adapters/eks-access';
import { EksEmulator, type EksEmulatorOptions } from '../../../infra/local/eks/emulator';
import { createEksHandler } from '../../../infra/local/eks/routes';
import { LOCAL_CREDENTIALS } from '../aws';

/**
 * The real EKS adapter (functions/adapters/eks-access.ts) driven through the EKS emulator in-process: the SDK
 * client's request handler hands each signed HTTP request to the emulator's own restJson binding
 * (infra/local/eks/routes.ts) instead of a socket. So the use-case tests exercise the same serialization,
 * error translation and emulator rules as the integration suites, faults included, without a port or Java.
 */
export function emulatedEks(options: EksEmulatorOptions = {}): { eks: EksAccess; emulator: EksEmulator } {
  const emulator = new EksEmulator(options);
  const client = new EKSClient({
    endpoint: 'http://eks.in-process',
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    // One attempt: a throttle or a 5xx reaches the adapter at once, as a retryable error, with no real sleep.
    maxAttempts: 1,
    requestHandler: new InProcessHandler(emulator),
  });
  // No real sleep for the 404-after-create retries either: time in these tests is the deps' clock.
  const eks = new EksAccess({ clientFor: () => client, sleep: async () => undefined });
  return { eks, emulator };
}

/** The SDK's HttpHandler over the emulator's route table: one request in, one response out, no socket. */
class InProcessHandler implements HttpHandler {
  private readonly serve: ReturnType<typeof createEksHandler>;

  constructor(emulator: EksEmulator) {
    this.serve = createEksHandler(emulator);
  }

  async handle(request: HttpRequest): Promise<{ response: HttpResponse }> {
    const response = new CapturedResponse();
    await this.serve(
      {
        method: request.method,
        rawPath: request.path,
        query: queryOf(request.query),
        headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v])),
        body: bodyOf(request.body),
        origin: 'http://eks.in-process',
      },
      response,
    );
    if (response.captured === undefined) {
      // The emulator dropped the connection (a fault): what the SDK's node handler reports for a reset socket.
      throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    }
    return {
      response: new HttpResponse({
        statusCode: response.captured.status,
        headers: response.captured.headers,
        // A stream, as the node handler gives it: the SDK's body collector expects one.
        body: Readable.from([response.captured.body]),
      }),
    };
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }
}

/** A ServerResponse that keeps what the emulator's binding writes (it only calls writeHead and end). */
class CapturedResponse extends ServerResponse {
  captured: { status: number; headers: Record<string, string>; body: Uint8Array } | undefined;
  private status = 0;
  private headers: Record<string, string> = {};

  constructor() {
    super(new IncomingMessage(new Socket()));
  }

  override writeHead(
    statusCode: number,
    messageOrHeaders?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this {
    this.status = statusCode;
    const given = typeof messageOrHeaders === 'string' ? headers : messageOrHeaders;
    if (given !== undefined && !Array.isArray(given)) {
      this.headers = Object.fromEntries(
        Object.entries(given)
          .filter(
            (entry): entry is [string, string | number] =>
              typeof entry[1] !== 'object' && entry[1] !== undefined,
          )
          .map(([name, value]) => [name.toLowerCase(), String(value)]),
      );
    }
    return this;
  }

  override end(chunk?: unknown): this {
    const body =
      chunk instanceof Uint8Array ? chunk : typeof chunk === 'string' ? Buffer.from(chunk) : new Uint8Array();
    this.captured = { status: this.status, headers: this.headers, body };
    return this;
  }
}

function queryOf(query: HttpRequest['query']): URLSearchParams {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === null) params.append(name, '');
    else for (const one of Array.isArray(value) ? value : [value]) params.append(name, one);
  }
  return params;
}

function bodyOf(body: unknown): Buffer {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  // By its bytes: the SDK's JSON body is a Uint8Array with string methods, which Buffer.from(value) would call.
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('The in-process EKS handler takes string or byte bodies only');
}
