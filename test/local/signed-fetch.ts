import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '../../infra/local/auth/sigv4';
import { LOCAL_CREDENTIALS } from '../support/aws';

interface SignedFetchInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** The signing service (eks, sqs, events, dynamodb, sts, iam). */
  readonly service: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly signingDate?: Date;
}

/** The request as the signer sees it, and the signer for `init`'s identity and service. */
function toSign(url: string, init: SignedFetchInit) {
  const target = new URL(url);
  const rawPath = url.slice(target.origin.length).split('?')[0] || '/';
  const query: Record<string, string> = {};
  for (const [key, value] of target.searchParams) query[key] = value;
  const signer = new SignatureV4({
    credentials: init.credentials ?? LOCAL_CREDENTIALS,
    region: 'us-east-1',
    service: init.service,
    sha256: Sha256,
  });
  const request = {
    method: init.method ?? 'GET',
    protocol: target.protocol,
    hostname: target.hostname,
    port: Number(target.port),
    path: rawPath,
    query,
    headers: { host: target.host, ...init.headers },
    ...(init.body === undefined ? {} : { body: init.body }),
  };
  return { target, rawPath, signer, request };
}

/** fetch with a SigV4 Authorization header, for the raw-HTTP tests of the edge (it refuses unsigned calls). */
export async function signedFetch(url: string, init: SignedFetchInit): Promise<Response> {
  const { signer, request } = toSign(url, init);
  const signed = await signer.sign(request, init.signingDate ? { signingDate: init.signingDate } : {});
  const { host: _host, ...headers } = signed.headers;
  return fetch(url, {
    method: request.method,
    headers,
    ...(init.body === undefined ? {} : { body: init.body }),
  });
}

interface PresignedFetchInit extends SignedFetchInit {
  readonly expiresIn: number;
}

/** fetch of a presigned request (X-Amz-* query parameters); headers given in `init` are signed and sent. */
export async function presignedFetch(url: string, init: PresignedFetchInit): Promise<Response> {
  const { target, rawPath, signer, request } = toSign(url, init);
  const presigned = await signer.presign(request, {
    expiresIn: init.expiresIn,
    // Headers such as x-amz-target route the request: they stay headers, signed as sent.
    unhoistableHeaders: new Set(Object.keys(init.headers ?? {}).map((name) => name.toLowerCase())),
    ...(init.signingDate ? { signingDate: init.signingDate } : {}),
  });
  const search = Object.entries(presigned.query ?? {})
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&');
  const { host: _host, ...headers } = presigned.headers;
  return fetch(`${target.origin}${rawPath}?${search}`, {
    method: request.method,
    headers,
    ...(init.body === undefined ? {} : { body: init.body }),
  });
}
