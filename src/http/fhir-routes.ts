/** Adapts HTTP to the FHIR core: reads the body and headers, calls the router, writes the response. */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { badRequest, payloadTooLarge, unsupportedMediaType, unavailable, FhirError, outcome, issue } from '../core/outcomes.js';
import { handleFhir, takesRawBody } from '../fhir/dispatch.js';
import type { FhirServices, RawBody } from '../fhir/types.js';
import { parseJsonBody } from '../fhir/walk.js';
import { trailOf } from './audit-trail.js';
import { sendFhir } from './errors.js';

const JSON_TYPES = /^application\/(fhir\+)?json\s*(;|$)/i;
const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(;|$)/i;

/** A read of a Binary, which answers in the Binary's own type unless FHIR JSON is asked for. */
const BINARY_READ = /^Binary\/[^/]+(\/_history\/[^/]+)?$/;

function checkAccept(c: Context, path: string): void {
  if ((c.req.method === 'GET' || c.req.method === 'HEAD') && BINARY_READ.test(path)) return;
  const accept = c.req.header('accept');
  const ok = !accept || accept.split(',').some((part) => /^\s*(\*\/\*|application\/\*|application\/(fhir\+)?json)\s*(;|$)/i.test(part));
  if (!ok) throw new FhirError(406, outcome(issue('not-supported', `Only application/fhir+json is served; Accept was "${accept}"`)));
  // _format is checked with or without an Accept header.
  const format = c.req.query('_format');
  if (format && !/json/i.test(format)) throw new FhirError(406, outcome(issue('not-supported', `Only JSON is served; _format was "${format}"`)));
}

async function readBody(c: Context): Promise<{ body?: unknown; form?: URLSearchParams }> {
  const method = c.req.method;
  if (method !== 'POST' && method !== 'PUT') return {};
  const type = c.req.header('content-type') ?? '';
  const text = await c.req.text();
  if (FORM_TYPE.test(type) && c.req.path.endsWith('/_search')) return { form: new URLSearchParams(text) };
  if (!JSON_TYPES.test(type)) throw unsupportedMediaType(`Content-Type must be application/fhir+json (or application/json), got "${type || 'none'}"`);
  return { body: parseJsonBody(text) };
}

/**
 * Decodes a path below `/fhir` segment by segment: bad percent-encoding, and
 * an encoded `/` (which would make a segment of its own), are 400.
 */
function decodePath(raw: string): string {
  return raw
    .split('/')
    .map((segment) => {
      let decoded: string;
      try {
        decoded = decodeURIComponent(segment);
      } catch {
        throw badRequest(`The path segment "${segment}" is not valid percent-encoding`);
      }
      if (decoded.includes('/')) throw badRequest(`The path segment "${segment}" holds an encoded "/"`);
      return decoded;
    })
    .join('/');
}

/**
 * The path below the FHIR base of a request path (`/fhir/Patient/1` →
 * `Patient/1`), decoded: 400 when it cannot be, or, with `strict` false, the
 * raw path (which then names nothing public).
 */
export function fhirPath(pathname: string, strict = true): string {
  const below = pathname.replace(/^\/fhir\/?/, '');
  try {
    return decodePath(below);
  } catch (err) {
    if (strict) throw err;
    return below;
  }
}

/**
 * A read of the body that failed because the connection closed before its
 * end (the client gave up, or its network did) is the client's failure, not
 * a bug nor a service down: 400, which no one receives but the log records as
 * a refusal. Other errors stay as they are.
 */
function asCutShort(err: unknown): unknown {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  const closed = code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || message === 'aborted' || message === 'terminated';
  return closed ? badRequest('The request body was cut short: the connection closed before all of it came; nothing was stored') : err;
}

async function* whole(body: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of body) yield chunk;
  } catch (err) {
    throw asCutShort(err);
  }
}

/** The body of a route that reads it as it comes (an upload), for the FHIR core. */
function rawBody(c: Pick<Context, 'req'>): RawBody {
  const declared = Number(c.req.header('content-length') ?? NaN);
  return {
    ...(Number.isFinite(declared) ? { declaredLength: declared } : {}),
    stream: () => (c.req.raw.body ? whole(c.req.raw.body) : (async function* empty() {})()),
    text: () =>
      c.req.text().catch((err: unknown) => {
        throw asCutShort(err);
      }),
  };
}

/**
 * A web stream that reads the next piece only when the socket has taken the
 * previous one (no read-ahead: a 100 MB document holds one part in memory).
 */
function pulled(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await iterator.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await iterator.return?.();
      },
    },
    { highWaterMark: 0 }
  );
}

/** The `/fhir` routes: the FHIR core behind the HTTP adapter. */
export function fhirRoutes(services: FhirServices, options: { maxBodyBytes: number; maxConcurrentUploads?: number }): Hono {
  const app = new Hono();
  const limit = bodyLimit({
    maxSize: options.maxBodyBytes,
    onError: () => {
      throw payloadTooLarge(`The body is over the limit of ${options.maxBodyBytes} bytes`);
    },
  });
  // A GET or HEAD has no body to limit: asking for it would build the whole WHATWG Request
  // (headers, abort signal, stream) that @hono/node-server otherwise spares, a tenth of a read's time.
  // An upload has a limit of its own (AIGUILLAGE_MAX_IMPORT_BYTES), checked as it is stored.
  const limitBodies: MiddlewareHandler = (c, next) =>
    c.req.method === 'GET' || c.req.method === 'HEAD' || takesRawBody(c.req.method, fhirPath(new URL(c.req.url).pathname, false)) ? next() : limit(c, next);
  app.use('*', limitBodies);
  let uploading = 0;
  /** Hands a request to the FHIR core and writes its answer (a resource, or content streamed as itself). */
  async function answer(c: Context, url: URL, path: string, raw: boolean, { body, form }: { body?: unknown; form?: URLSearchParams }): Promise<Response> {
    const query = new URLSearchParams(url.search);
    if (form) for (const [k, v] of form) query.append(k, v);
    const response = await handleFhir(services, {
      method: c.req.method,
      path,
      query,
      body,
      ...(raw ? { raw: rawBody(c), contentType: c.req.header('content-type') } : {}),
      accept: c.req.header('accept') ?? '*/*',
      ifMatch: c.req.header('if-match'),
      ifNoneExist: c.req.header('if-none-exist'),
      prefer: c.req.header('prefer'),
      principal: c.get('principal'),
      audit: trailOf(c),
    });
    if (response.content) {
      const { type, length } = response.content;
      const streamed = c.req.method === 'HEAD' ? null : pulled(response.content.stream());
      return new Response(streamed, { status: response.status, headers: { ...response.headers, 'Content-Type': type, 'Content-Length': String(length) } });
    }
    return sendFhir(response.status, response.body, response.headers);
  }
  app.all('*', async function fhirHandler(c) {
    const url = new URL(c.req.url);
    const path = fhirPath(url.pathname);
    checkAccept(c, path);
    if (!takesRawBody(c.req.method, path)) return answer(c, url, path, false, await readBody(c));
    // An upload holds a database connection while it comes (its transaction): a few at once per process, so that slow senders cannot take the pool.
    if (uploading >= (options.maxConcurrentUploads ?? Infinity)) throw unavailable(`${uploading} uploads are under way; retry shortly`);
    uploading++;
    try {
      return await answer(c, url, path, true, {});
    } finally {
      uploading--;
    }
  });
  return app;
}
