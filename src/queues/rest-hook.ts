/**
 * One rest-hook delivery: a POST over plain `node:http(s)`, so that nothing
 * happens behind the gateway's back. Redirects are not followed (a 3xx is a
 * failed delivery), and every address the socket actually connects to is
 * checked, at connection time: the name's resolution goes through a guarded
 * `lookup`, and a literal address is checked before the request. Without
 * `allowPrivate`, only globally routable unicast addresses are reached.
 */
import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isPublicAddress } from '../domain/subscription/subscription.js';

/** What `dns.lookup` does: resolves a name to its addresses. */
export type Resolve = (hostname: string, options: LookupOptions & { all: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/** A delivery refused before any byte was sent: the endpoint is (or resolves to) a non-public address. */
export class ForbiddenAddress extends Error {
  readonly code = 'EADDRNOTPUBLIC';
}

/** A `lookup` for sockets that refuses a name resolving to any non-public address. */
export function guardedLookup(allowPrivate: boolean, resolve: Resolve = dns.lookup): LookupFunction {
  return function lookup(hostname, options, callback) {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      const reply = callback;
      if (err) return reply(err, '', 0);
      const refused = allowPrivate ? undefined : addresses.find((a) => !isPublicAddress(a.address));
      if (refused) return reply(new ForbiddenAddress(`${hostname} resolves to ${refused.address}, which is not a public address`), '', 0);
      if (addresses.length === 0) return reply(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      if ((options).all) return reply(null, addresses);
      return reply(null, addresses[0].address, addresses[0].family);
    });
  };
}

/** POSTs `body` to `endpoint`; resolves with the answer's status (a 3xx included: it is not followed). */
export function deliver(
  endpoint: string,
  options: { headers: Record<string, string>; body?: string; timeoutMs: number; allowPrivate: boolean; resolve?: Resolve }
): Promise<number> {
  const url = new URL(endpoint);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!options.allowPrivate && isIP(host) !== 0 && !isPublicAddress(host)) {
    return Promise.reject(new ForbiddenAddress(`${host} is not a public address`));
  }
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<number>((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: 'POST',
        headers: { ...options.headers, ...(options.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(options.body)) } : {}) },
        lookup: guardedLookup(options.allowPrivate, options.resolve),
        signal: AbortSignal.timeout(options.timeoutMs),
        agent: false,
      },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      }
    );
    request.on('error', reject);
    request.end(options.body);
  });
}
