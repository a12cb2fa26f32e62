/**
 * An HTTP client of a ROR FHIR API: OAuth2 client_credentials (the token is
 * kept until it expires, and renewed once when the server answers 401), the
 * four `Ror-*` headers the national server requires, and retries with
 * exponential back-off on 429 (honouring `Retry-After`), 5xx and network
 * errors.
 */

/** Connection settings of a ROR FHIR API. */
export interface RorSettings {
  baseUrl: string;
  tokenUrl?: string;
  clientId?: string;
  clientSecret?: string;
  /** `Ror-Profil-Utilisateur-Code`/`-System`, `Ror-Role-Metier-Code`/`-System`. */
  headers: Record<string, string>;
  /** Attempts per request before giving up (default 6). */
  attempts?: number;
  /** First back-off delay in ms (default 500), doubled at each attempt. */
  backoffMs?: number;
}

/** A request that failed for good. */
export class RorError extends Error {
  constructor(
    message: string,
    readonly status?: number
  ) {
    super(message);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The client. */
export class RorClient {
  private token?: { value: string; expiresAt: number };
  /** Requests sent, tokens obtained, retries made (for reports and tests). */
  readonly stats = { requests: 0, tokens: 0, retries: 0 };

  constructor(private readonly settings: RorSettings) {}

  private async accessToken(force = false): Promise<string | undefined> {
    const { tokenUrl, clientId, clientSecret } = this.settings;
    if (!tokenUrl || !clientId || !clientSecret) return undefined;
    if (!force && this.token && this.token.expiresAt > Date.now() + 5_000) return this.token.value;
    const res = await this.send(tokenUrl, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials' }).toString(),
    });
    if (!res.ok) throw new RorError(`ROR token endpoint answered ${res.status}`, res.status);
    const body = (await res.json()) as { access_token?: string; expires_in?: number };
    if (!body.access_token) throw new RorError('ROR token endpoint sent no access_token');
    this.stats.tokens++;
    this.token = { value: body.access_token, expiresAt: Date.now() + (body.expires_in ?? 300) * 1000 };
    return this.token.value;
  }

  /** One HTTP exchange with retries on 429, 5xx and network errors. */
  private async send(url: string, init: RequestInit): Promise<Response> {
    const attempts = this.settings.attempts ?? 6;
    let delay = this.settings.backoffMs ?? 500;
    for (let attempt = 1; ; attempt++) {
      this.stats.requests++;
      let res: Response | undefined;
      let failure: string;
      try {
        res = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
        if (res.status !== 429 && res.status < 500) return res;
        failure = `HTTP ${res.status}`;
      } catch (err) {
        failure = (err as Error).message;
      }
      if (attempt >= attempts) throw new RorError(`ROR request ${url} failed after ${attempts} attempts: ${failure}`, res?.status);
      const retryAfter = Number(res?.headers.get('retry-after'));
      await res?.body?.cancel();
      this.stats.retries++;
      await sleep(Number.isFinite(retryAfter) && retryAfter >= 0 && res?.headers.has('retry-after') ? retryAfter * 1000 : delay);
      delay *= 2;
    }
  }

  /** GET (or another method) on the ROR API, authenticated; the response is returned whatever its status below 500. */
  async request(pathOrUrl: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const url = /^https?:/.test(pathOrUrl) ? pathOrUrl : `${this.settings.baseUrl.replace(/\/$/, '')}/${pathOrUrl.replace(/^\//, '')}`;
    for (let renewed = false; ; renewed = true) {
      const token = await this.accessToken(renewed);
      const res = await this.send(url, {
        method: init.method ?? 'GET',
        headers: { Accept: 'application/fhir+json', ...this.settings.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}), ...init.headers },
      });
      // An expired or revoked token: renew it once.
      if (res.status === 401 && token && !renewed) {
        await res.body?.cancel();
        continue;
      }
      return res;
    }
  }

  /** GET a JSON document; a non-2xx answer is an error. */
  async getJson<T>(pathOrUrl: string): Promise<T> {
    const res = await this.request(pathOrUrl);
    if (!res.ok) throw new RorError(`ROR answered ${res.status} to GET ${pathOrUrl}: ${(await res.text()).slice(0, 300)}`, res.status);
    return (await res.json()) as T;
  }
}
