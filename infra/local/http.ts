import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AuthenticatedCaller } from './identities';

/** One request as the edge hands it to a service: the raw pieces, body already read. */
export interface EdgeRequest {
  readonly method: string;
  /** Raw path, still percent-encoded: EKS path labels must be split before they are decoded. */
  readonly rawPath: string;
  readonly query: URLSearchParams;
  /** The query string as received, still percent-encoded (what a SigV4 signature covers). */
  readonly rawQuery?: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  /** The base URL the client used, e.g. http://127.0.0.1:4566, for building queue URLs. */
  readonly origin: string;
  /**
   * Who signed the request, set by the edge once the signature checks out (every AWS call; never the /_edge/
   * admin routes). Services that decide by resource policy evaluate it against this principal.
   */
  readonly caller?: AuthenticatedCaller;
}

/** A service behind the edge. It answers the request or, for a dropped-connection fault, destroys the socket. */
export type ServiceHandler = (req: EdgeRequest, res: ServerResponse) => Promise<void>;

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType = 'application/json',
  extraHeaders: Record<string, string> = {},
): void {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': String(payload.length),
    'x-amzn-requestid': crypto.randomUUID(),
    ...extraHeaders,
  });
  res.end(payload);
}

/**
 * An AWS error as the JS SDK and botocore read it: the type in `x-amzn-ErrorType` and, for the JSON
 * protocols, `__type` in the body too. Never a `code` key in the body (the SDK would take it as the type).
 */
export function sendAwsError(
  res: ServerResponse,
  status: number,
  type: string,
  message: string,
  options: {
    contentType?: string;
    extraBody?: Record<string, unknown>;
    extraHeaders?: Record<string, string>;
  } = {},
): void {
  sendJson(res, status, { ...options.extraBody, message }, options.contentType ?? 'application/json', {
    'x-amzn-errortype': type,
    ...options.extraHeaders,
  });
}

export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limitBytes) throw new BodyTooLargeError(limitBytes);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  constructor(readonly limitBytes: number) {
    super(`Request body is larger than ${limitBytes} bytes`);
  }
}

/** A percent-encoded URL segment decoded, or undefined when its encoding is malformed (`%zz`, a lone `%`). */
export function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    super(
      `Port ${port} on ${host} is already in use. Stop what listens there or pick another with --port / PORT.`,
    );
  }
}

/** Listens on `host:port` (0: a free port); a port in use is a PortInUseError, said in one line. */
export function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(host, port) : error);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** Stops listening and drops the connections still open (keep-alive ones included). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
