/**
 * The directory at national scale: a generated directory (100,000 units,
 * 30,000 structures, 30,000 places at scale 1) pushed through the FHIR API as
 * batch Bundles, then five typical directory searches at that size.
 */
import type { Bundle, HealthcareService, Location, Organization, Resource } from '@medplum/fhirtypes';
import { percentile, startBenchServer } from './harness.js';

const SCALE = Number(process.env.BENCH_DIRECTORY_SCALE ?? 1);
const BUNDLE_SIZE = 500;
const SENDERS = 4;
const TRE = (name: string): string => `https://mos.esante.gouv.fr/NOS/${name}/FHIR/${name.replace('_', '-')}`;

/** A small deterministic PRNG (mulberry32), so every run pushes the same directory. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CITIES = ['Paris', 'Lyon', 'Marseille', 'Toulouse', 'Nantes', 'Lille', 'Rennes', 'Brest', 'Nîmes', 'Orléans', 'Besançon', 'Évry', 'Créteil', 'Saint-Étienne'];
const SPECIALTIES = ['Chirurgie gynécologique', 'Soins de suite polyvalents', 'Rééducation neurologique', 'Gériatrie', 'Soins palliatifs', 'Hospitalisation à domicile', 'Addictologie', 'Cardiologie', 'Pneumologie', 'Psychiatrie adulte'];

/** The generated directory. */
export function generateDirectory(scale: number): { organizations: Organization[]; locations: Location[]; services: HealthcareService[] } {
  const random = prng(42);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)];
  const nOrg = Math.round(30_000 * scale);
  const nLoc = Math.round(30_000 * scale);
  const nHs = Math.round(100_000 * scale);
  const organizations: Organization[] = Array.from({ length: nOrg }, (_, i) => {
    const city = pick(CITIES);
    return {
      resourceType: 'Organization',
      id: `org-${i}`,
      identifier: [{ system: 'https://finess.esante.gouv.fr', value: `${String(10 + (i % 85)).padStart(2, '0')}${String(i).padStart(7, '0')}` }],
      active: random() > 0.03,
      type: [{ coding: [{ system: TRE('TRE_R66-CategorieEtablissement'), code: pick(['101', '106', '355', '365', '500', '202', '207']) }] }],
      name: `${pick(['Centre hospitalier', 'Clinique', 'EHPAD', 'Hôpital', 'Centre de rééducation'])} ${pick(['Saint-Jean', 'des Lilas', 'Pasteur', 'du Parc', 'Sainte-Marie'])} ${city} ${i}`,
      address: [{ city, postalCode: `${String(10 + (i % 85)).padStart(2, '0')}${String(i % 1000).padStart(3, '0')}` }],
      meta: { lastUpdated: new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString() },
    };
  });
  const locations: Location[] = Array.from({ length: nLoc }, (_, i) => ({
    resourceType: 'Location',
    id: `loc-${i}`,
    status: 'active',
    name: `Site ${i}`,
    type: [{ coding: [{ system: TRE('TRE_R343-FonctionLieu'), code: pick(['001', '002', '003']) }] }],
    position: { latitude: 42.5 + random() * 8.5, longitude: -4.5 + random() * 12 },
    address: { city: pick(CITIES), postalCode: `${String(10 + (i % 85)).padStart(2, '0')}${String(i % 1000).padStart(3, '0')}` },
    managingOrganization: { reference: `Organization/org-${i % nOrg}` },
    extension: [
      {
        url: 'https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity',
        extension: [
          { url: 'capacityType', valueCodeableConcept: { coding: [{ code: '01' }] } },
          { url: 'capacityStatus', valueCodeableConcept: { coding: [{ code: '01' }] } },
          { url: 'temporalityCapacity', valueCodeableConcept: { coding: [{ code: '01' }] } },
          { url: 'nbCapacity', valueInteger: 10 + Math.floor(random() * 90) },
        ],
      },
    ],
    meta: { lastUpdated: new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString() },
  }));
  const services: HealthcareService[] = Array.from({ length: nHs }, (_, i) => {
    const specialty = Math.floor(random() * SPECIALTIES.length);
    const adult = random() > 0.2;
    return {
      resourceType: 'HealthcareService',
      id: `hs-${i}`,
      meta: { lastUpdated: new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString(), tag: [{ system: TRE('TRE_R30-RegionOM'), code: pick(['11', '84', '93', '76', '53']) }] },
      identifier: [{ type: { coding: [{ system: TRE('TRE_R355-TypeIdentifiantOffre'), code: '35' }] }, value: `11/${i}` }],
      active: random() > 0.05,
      name: `${SPECIALTIES[specialty]} - unité ${i}`,
      providedBy: { reference: `Organization/org-${i % nOrg}` },
      location: [{ reference: `Location/loc-${i % nLoc}` }],
      category: [{ coding: [{ system: TRE('TRE_R244-CategorieOrganisation'), code: String(100 + Math.floor(random() * 60)) }] }],
      type: [{ coding: [{ system: TRE('TRE_R227-ChampActivite'), code: pick(['01', '02', '03', '04', '05', '06']) }] }],
      specialty: [{ coding: [{ system: TRE('TRE_R211-ActiviteOperationnelle'), code: String(specialty).padStart(3, '0') }] }],
      characteristic: [{ coding: [{ system: TRE('TRE_R213-ModePriseEnCharge'), code: pick(['07', '08', '09', '10']) }] }],
      extension: [
        {
          url: 'https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-patient-type',
          extension: [{ url: 'ageRange', valueRange: { low: { value: adult ? 18 : 0, code: 'a' }, high: { value: adult ? 120 : 18, code: 'a' } } }],
        },
      ],
    };
  });
  return { organizations, locations, services };
}

async function push(base: string, token: string, resources: Resource[]): Promise<{ seconds: number; failures: number }> {
  const bundles: Bundle[] = [];
  for (let i = 0; i < resources.length; i += BUNDLE_SIZE) {
    bundles.push({
      resourceType: 'Bundle',
      type: 'batch',
      entry: resources.slice(i, i + BUNDLE_SIZE).map((resource) => ({ resource, request: { method: 'PUT' as const, url: `${resource.resourceType}/${resource.id}` } })),
    });
  }
  let failures = 0;
  let next = 0;
  const start = performance.now();
  const sender = async (): Promise<void> => {
    while (next < bundles.length) {
      const bundle = bundles[next++];
      const res = await fetch(`${base}/fhir`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' }, body: JSON.stringify(bundle) });
      const body = (await res.json()) as Bundle;
      if (res.status !== 200) throw new Error(`push answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
      failures += (body.entry ?? []).filter((e) => !/^20[01]/.test(e.response?.status ?? '')).length;
    }
  };
  await Promise.all(Array.from({ length: SENDERS }, sender));
  return { seconds: (performance.now() - start) / 1000, failures };
}

async function timeSearches(base: string, name: string, paths: string[], concurrency = 4): Promise<string> {
  const latencies: number[] = [];
  let hits = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const path = paths[next++];
      const start = performance.now();
      const res = await fetch(`${base}${path}`);
      const body = (await res.json()) as Bundle;
      latencies.push(performance.now() - start);
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
      hits += (body.entry ?? []).length;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  latencies.sort((a, b) => a - b);
  const line = `| ${name.padEnd(52)} | ${percentile(latencies, 50).toFixed(1).padStart(6)} | ${percentile(latencies, 95).toFixed(1).padStart(6)} | ${(hits / paths.length).toFixed(1).padStart(8)} |`;
  process.stderr.write(`  ${line}\n`);
  return line;
}

/** Runs the suite; returns its report (markdown). */
export async function benchDirectory(): Promise<string> {
  const server = await startBenchServer();
  try {
    const token = await server.token(['ror']);
    const { organizations, locations, services } = generateDirectory(SCALE);
    const total = organizations.length + locations.length + services.length;
    process.stderr.write(`directory: pushing ${total} resources as batch Bundles of ${BUNDLE_SIZE}, ${SENDERS} senders\n`);
    const peakRss = server.sampleRss();
    const results = [await push(server.base, token, organizations), await push(server.base, token, locations), await push(server.base, token, services)];
    const rss = peakRss();
    const seconds = results.reduce((s, r) => s + r.seconds, 0);
    const rates = ['structures', 'places', 'units'].map((what, i) => `${what} ${Math.round([organizations, locations, services][i].length / results[i].seconds)}/s`).join(', ');
    const failures = results.reduce((s, r) => s + r.failures, 0);
    await server.db.query('ANALYZE');
    const random = prng(7);
    const n = 400;
    const lines = [
      await timeSearches(server.base, 'unit by category (token), active', Array.from({ length: n }, () => `/fhir/HealthcareService?service-category=${100 + Math.floor(random() * 60)}&active=true&_count=20`)),
      await timeSearches(server.base, 'unit by name (contains, accents)', Array.from({ length: n }, () => `/fhir/HealthcareService?name=${encodeURIComponent(['gériatrie', 'palliatifs', 'readaptation', 'neurolog', 'addicto'][Math.floor(random() * 5)])}&_count=20`)),
      await timeSearches(server.base, 'places near a point (10 km)', Array.from({ length: n }, () => `/fhir/Location?near=${(43 + random() * 7).toFixed(4)}|${(-1 + random() * 7).toFixed(4)}|10|km&_count=20`)),
      await timeSearches(
        server.base,
        'unit by specialty for a 75-year-old, _include organization',
        Array.from({ length: n }, () => `/fhir/HealthcareService?specialty=${String(Math.floor(random() * 10)).padStart(3, '0')}&age-range-low=le75&age-range-high=ge75&_include=HealthcareService:organization&_count=20`)
      ),
      await timeSearches(server.base, 'units of a structure, _include location', Array.from({ length: n }, () => `/fhir/HealthcareService?organization=org-${Math.floor(random() * organizations.length)}&_include=HealthcareService:location`)),
    ];
    return [
      '',
      `## directory: ${services.length} units, ${organizations.length} structures, ${locations.length} places (PostgreSQL)`,
      '',
      `Push through POST /fhir (batch Bundles of ${BUNDLE_SIZE} PUT entries, ${SENDERS} concurrent senders): ${total} resources in ${seconds.toFixed(1)} s = **${Math.round(total / seconds)} resources/s** (target ≥ 3,000), ${failures} failed entries, server peak RSS **${Math.round(rss)} MB** (target < 500 MB). By type: ${rates}.`,
      '',
      `| search (${n} requests each, 4 concurrent)                 | p50 ms | p95 ms | hits/req |`,
      '| ---------------------------------------------------- | ------ | ------ | -------- |',
      ...lines,
      '',
      'Target: p95 < 25 ms.',
      '',
    ].join('\n');
  } finally {
    await server.stop();
  }
}
