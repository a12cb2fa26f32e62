/**
 * Configuration, read once from the environment. Names follow the deployment
 * conventions (`DATABASE_URL`, `REDIS_URL`, `PORT`); everything specific to
 * the gateway carries the `AIGUILLAGE_` prefix.
 */
import path from 'node:path';
import { DEFAULT_REFERRAL_DURATIONS, parseDuration, type Duration, type ReferralDurations } from '../mappings/duration.js';
import { DEFAULT_CLAIM_LIMIT, type ClaimLimit } from './domain/settings.js';

/** The gateway's typed configuration. */
export interface Config {
  /** PostgreSQL URL; when absent the embedded database (PGlite) is used. */
  databaseUrl?: string;
  /** Data directory of the embedded database. */
  dataDir: string;
  redisUrl: string;
  /** Key prefix of every BullMQ queue, so several gateways can share a Redis. */
  queuePrefix: string;
  port: number;
  host: string;
  /** Public base URL of the gateway, used in links, `Location` headers and token issuer. */
  baseUrl: string;
  logLevel: string;
  /** Lifetime of the access tokens the gateway issues, in seconds. */
  tokenTtlSeconds: number;
  /** How long a client's state is trusted (ms): a deactivated, rotated or deleted client's tokens are refused within this. */
  revocationCheckMs: number;
  /** External identity provider whose tokens are accepted too. */
  externalIdp?: { jwksUrl: string; issuer?: string; audience?: string; rolesClaim: string; organizationClaim: string; practitionerClaim?: string; professionClaim?: string };
  /** Default and maximum page sizes of search. */
  search: { defaultCount: number; maxCount: number };
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** Largest MDPH decisions file, in bytes. */
  maxImportBytes: number;
  /** Largest document (Binary), in bytes. */
  maxDocumentBytes: number;
  /** Uploads (documents, decisions files) streamed at once by a process: each holds a database connection while it comes. */
  maxConcurrentUploads: number;
  /** Most entries a batch or transaction Bundle may carry. */
  maxBundleEntries: number;
  /** Requests per second each client may make (0: no limit), and the burst it may make at once. */
  rateLimit: { rate: number; burst: number };
  /** Size of the PostgreSQL connection pool. */
  poolSize: number;
  /** API processes `serve` and `start` run (`--processes`, `WEB_CONCURRENCY`; 1: this process alone). */
  processes: number;
  /** Where `GET /metrics` listens (Prometheus text format), when set: a port apart from the API's. */
  metrics?: { port: number; host: string };
  /**
   * How far V8 lets its heap grow past what survived the last full
   * collection, in percent (0: V8's own choice, up to 300 %). Imports make
   * short-lived garbage by the gigabyte; at V8's choice a 1,000,000-row
   * import peaked at 390–400 MB, at 100 % near 300 MB (50 % saved little more
   * and cost small requests time in collections).
   */
  heapGrowingPercent: number;
  /** Longest a single SQL statement may run (ms; 0: no limit), so that one heavy query cannot hold a connection for long. */
  statementTimeoutMs: number;
  /** How often the reconciler re-creates missing Redis jobs from PostgreSQL, in ms. */
  reconcileIntervalMs: number;
  /** How long a running job stays locked to its worker without renewal (ms): a killed worker's job is taken up after it. */
  jobLockMs: number;
  /** Jobs further ahead than this (ms) wait in PostgreSQL; the reconciler hands them to Redis as they come near. */
  scheduleHorizonMs: number;
  /** Deadlines of admission requests (reminders, automatic cancellation, archiving). */
  referralDurations: ReferralDurations;
  /** `$claim`: failed claims allowed per client and per individual number within `window`, before 429. */
  claimLimit: ClaimLimit;
  /** How often the referral indicators' rollup is recomputed (ms). */
  indicatorsRefreshMs: number;
  /** Rest-hook deliveries: attempts, and the first back-off in ms (doubling). */
  notify: { attempts: number; backoffMs: number; timeoutMs: number; allowPrivateEndpoints: boolean };
  /**
   * E-mail alerts (Subscriptions with an `email` channel), when an SMTP
   * server is configured: its URL (smtp:// or smtps://, credentials in it),
   * the sender, the base of the links the mails carry (default: the FHIR
   * base), and what a mail says beyond the link: `link` (nothing) or `status`
   * (the request's or task's status, never the patient).
   */
  mail?: { smtpUrl: string; from: string; linkBase?: string; detail: 'link' | 'status' };
  /** The ROR FHIR API pulled on a schedule, when configured. */
  ror?: {
    baseUrl: string;
    tokenUrl?: string;
    clientId?: string;
    clientSecret?: string;
    /** The four `Ror-*` headers. */
    headers: Record<string, string>;
    /** Time between two pulls, in ms. */
    intervalMs: number;
    /** `_count` of delta pages. */
    pageSize: number;
  };
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

/** One of a few words. */
function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new Error(`${name} is one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

/** A TCP port: 0 (any free port) to 65535. */
function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = int(env, name, fallback);
  if (value > 65_535) throw new Error(`${name} must be a TCP port (0 to 65535), got "${env[name]}"`);
  return value;
}

function duration(env: NodeJS.ProcessEnv, name: string, fallback: Duration): Duration {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  try {
    return parseDuration(raw);
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`);
  }
}

/** The four `Ror-*` headers the national ROR API requires, from ROR_PROFIL_UTILISATEUR_CODE/_SYSTEM and ROR_ROLE_METIER_CODE/_SYSTEM. */
function rorHeaders(env: NodeJS.ProcessEnv): Record<string, string> {
  const headers: Record<string, string> = {};
  const pairs: [string, string | undefined][] = [
    ['Ror-Profil-Utilisateur-Code', env.ROR_PROFIL_UTILISATEUR_CODE],
    ['Ror-Profil-Utilisateur-System', env.ROR_PROFIL_UTILISATEUR_SYSTEM],
    ['Ror-Role-Metier-Code', env.ROR_ROLE_METIER_CODE],
    ['Ror-Role-Metier-System', env.ROR_ROLE_METIER_SYSTEM],
  ];
  for (const [name, value] of pairs) if (value) headers[name] = value;
  return headers;
}

/** Reads the configuration from `env` (process.env by default). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const apiPort = port(env, 'PORT', 8080);
  const host = env.HOST || '0.0.0.0';
  const jwksUrl = env.AIGUILLAGE_IDP_JWKS_URL;
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: path.resolve(env.AIGUILLAGE_DATA_DIR || './data'),
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    queuePrefix: env.AIGUILLAGE_QUEUE_PREFIX || 'aiguillage',
    port: apiPort,
    host,
    baseUrl: (env.AIGUILLAGE_BASE_URL || `http://localhost:${apiPort}`).replace(/\/+$/, ''),
    logLevel: env.LOG_LEVEL || 'info',
    tokenTtlSeconds: int(env, 'AIGUILLAGE_TOKEN_TTL', 900),
    revocationCheckMs: int(env, 'AIGUILLAGE_REVOCATION_CHECK_MS', 2_000),
    externalIdp: jwksUrl
      ? {
          jwksUrl,
          issuer: env.AIGUILLAGE_IDP_ISSUER || undefined,
          audience: env.AIGUILLAGE_IDP_AUDIENCE || undefined,
          rolesClaim: env.AIGUILLAGE_IDP_ROLES_CLAIM || 'roles',
          organizationClaim: env.AIGUILLAGE_IDP_ORGANIZATION_CLAIM || 'organization',
          practitionerClaim: env.AIGUILLAGE_IDP_PRACTITIONER_CLAIM || 'SubjectNameID',
          professionClaim: env.AIGUILLAGE_IDP_PROFESSION_CLAIM || 'SubjectRole',
        }
      : undefined,
    search: { defaultCount: int(env, 'AIGUILLAGE_SEARCH_DEFAULT_COUNT', 20), maxCount: int(env, 'AIGUILLAGE_SEARCH_MAX_COUNT', 500) },
    maxBodyBytes: int(env, 'AIGUILLAGE_MAX_BODY_BYTES', 10 * 1024 * 1024),
    maxBundleEntries: int(env, 'AIGUILLAGE_MAX_BUNDLE_ENTRIES', 5_000),
    maxImportBytes: int(env, 'AIGUILLAGE_MAX_IMPORT_BYTES', 1024 * 1024 * 1024),
    maxDocumentBytes: int(env, 'AIGUILLAGE_MAX_DOCUMENT_BYTES', 100 * 1024 * 1024),
    maxConcurrentUploads: Math.max(1, int(env, 'AIGUILLAGE_MAX_CONCURRENT_UPLOADS', Math.max(1, Math.floor(int(env, 'AIGUILLAGE_DB_POOL_SIZE', 10) / 2)))),
    rateLimit: { rate: int(env, 'AIGUILLAGE_RATE_LIMIT', 50), burst: int(env, 'AIGUILLAGE_RATE_LIMIT_BURST', 200) },
    poolSize: int(env, 'AIGUILLAGE_DB_POOL_SIZE', 10),
    processes: Math.max(1, int(env, 'WEB_CONCURRENCY', 1)),
    metrics: env.AIGUILLAGE_METRICS_PORT ? { port: port(env, 'AIGUILLAGE_METRICS_PORT', 0), host: env.AIGUILLAGE_METRICS_HOST || host } : undefined,
    heapGrowingPercent: int(env, 'AIGUILLAGE_HEAP_GROWING_PERCENT', 100),
    statementTimeoutMs: int(env, 'AIGUILLAGE_STATEMENT_TIMEOUT_MS', 30_000),
    reconcileIntervalMs: int(env, 'AIGUILLAGE_RECONCILE_INTERVAL_MS', 30_000),
    scheduleHorizonMs: int(env, 'AIGUILLAGE_SCHEDULE_HORIZON_MS', 3_600_000),
    jobLockMs: int(env, 'AIGUILLAGE_JOB_LOCK_MS', 30_000),
    referralDurations: {
      manualReminder: duration(env, 'AIGUILLAGE_MANUAL_REMINDER_AFTER', DEFAULT_REFERRAL_DURATIONS.manualReminder),
      automaticReminder: duration(env, 'AIGUILLAGE_AUTOMATIC_REMINDER_AFTER', DEFAULT_REFERRAL_DURATIONS.automaticReminder),
      automaticCancellation: duration(env, 'AIGUILLAGE_AUTOMATIC_CANCELLATION_AFTER', DEFAULT_REFERRAL_DURATIONS.automaticCancellation),
      archiving: duration(env, 'AIGUILLAGE_ARCHIVING_AFTER', DEFAULT_REFERRAL_DURATIONS.archiving),
    },
    claimLimit: { maxFailures: int(env, 'AIGUILLAGE_CLAIM_MAX_FAILURES', DEFAULT_CLAIM_LIMIT.maxFailures), window: duration(env, 'AIGUILLAGE_CLAIM_WINDOW', DEFAULT_CLAIM_LIMIT.window) },
    indicatorsRefreshMs: Math.max(1_000, int(env, 'AIGUILLAGE_INDICATORS_REFRESH_MS', 600_000)),
    notify: { attempts: int(env, 'AIGUILLAGE_NOTIFY_ATTEMPTS', 8), backoffMs: int(env, 'AIGUILLAGE_NOTIFY_BACKOFF_MS', 1_000), timeoutMs: int(env, 'AIGUILLAGE_NOTIFY_TIMEOUT_MS', 10_000), allowPrivateEndpoints: env.AIGUILLAGE_NOTIFY_ALLOW_PRIVATE === 'true' },
    mail: env.AIGUILLAGE_SMTP_URL
      ? {
          smtpUrl: env.AIGUILLAGE_SMTP_URL,
          from: env.AIGUILLAGE_MAIL_FROM || 'aiguillage <no-reply@aiguillage.invalid>',
          linkBase: env.AIGUILLAGE_MAIL_LINK_BASE || undefined,
          detail: oneOf(env, 'AIGUILLAGE_MAIL_DETAIL', ['link', 'status'] as const, 'link'),
        }
      : undefined,
    ror: env.ROR_BASE_URL
      ? {
          baseUrl: env.ROR_BASE_URL,
          tokenUrl: env.ROR_TOKEN_URL || undefined,
          clientId: env.ROR_CLIENT_ID || undefined,
          clientSecret: env.ROR_CLIENT_SECRET || undefined,
          headers: rorHeaders(env),
          intervalMs: int(env, 'ROR_SYNC_INTERVAL_MS', 24 * 3_600_000),
          pageSize: int(env, 'ROR_PAGE_SIZE', 200),
        }
      : undefined,
  };
}
