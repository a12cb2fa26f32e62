/**
 * Orientation decisions: import of a generated MDPH file of BENCH_DECISION_ROWS
 * rows (default 1,000,000; about 1.4 rows per decision, one per target ESMS)
 * through `POST /fhir/$import-decisions`, end to end (upload, queue, worker),
 * then the time of `$indicators` over that data.
 */
import { startBenchServer } from './harness.js';

const ROWS = Number(process.env.BENCH_DECISION_ROWS ?? 1_000_000);
const ESMS = 200;
const DEPT = '59';
const CAPACITY = 'https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity';
const CATEGORIES = ['183', '255', '246', '188', '192'];

function file(): Buffer {
  const lines = ['numero_individu;date_naissance;nom;prenom;sexe;id_decision;id_nat_decision;categorie_esms;date_debut_validite;date_fin_validite;caracterisation_esms;caracterisation_pro;creton;finess_esms'];
  let decision = 0;
  for (let i = 0; lines.length <= ROWS; i++) {
    decision++;
    const targets = i % 5 < 2 ? 2 : 1;
    const year = 1950 + (i % 60);
    const category = CATEGORIES[i % CATEGORIES.length];
    const end = `${2026 + (i % 4)}-${String(1 + (i % 12)).padStart(2, '0')}-28`;
    for (let k = 0; k < targets && lines.length <= ROWS; k++) {
      const finess = `59${String((i * 7 + k * 13) % ESMS).padStart(7, '0')}`;
      lines.push(`I${i};${year}-0${1 + (i % 9)}-1${i % 10};Nom${i % 5000};Prénom${i % 300};${i % 2 ? 'F' : 'M'};D${decision};;${category};2024-01-01;${end};${1 + (i % 5)};;${i % 17 === 0 ? 1 : 0};${finess}`);
    }
  }
  return Buffer.from(`${lines.join('\n')}\n`, 'utf8');
}

export async function benchDecisions(): Promise<string> {
  const server = await startBenchServer();
  const { base } = server;
  try {
    const admin = await server.token(['admin']);
    const put = async (path: string, body: object): Promise<void> => {
      const res = await fetch(`${base}/fhir/${path}`, { method: 'PUT', headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/fhir+json' }, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    };
    for (let e = 0; e < ESMS; e++) {
      const finess = `59${String(e).padStart(7, '0')}`;
      await put(`Organization/esms-${e}`, { resourceType: 'Organization', id: `esms-${e}`, identifier: [{ system: 'https://finess.esante.gouv.fr', value: finess }], type: [{ coding: [{ code: CATEGORIES[e % CATEGORIES.length] }] }], address: [{ postalCode: `59${String(e % 900).padStart(3, '0')}` }] });
      await put(`Location/esms-${e}`, { resourceType: 'Location', id: `esms-${e}`, managingOrganization: { reference: `Organization/esms-${e}` }, extension: [{ url: CAPACITY, extension: [{ url: 'capacityStatus', valueCodeableConcept: { coding: [{ code: '01' }] } }, { url: 'nbCapacity', valueInteger: 20 + (e % 60) }] }] });
    }
    const mdph = await server.token(['mdph'], `https://aiguillage.org/fhir/NamingSystem/mdph|${DEPT}`);
    const body = file();
    process.stderr.write(`decisions: importing ${ROWS} rows (${(body.length / 1024 / 1024).toFixed(0)} MiB)\n`);
    const peak = server.sampleRss();
    const started = performance.now();
    const accepted = await fetch(`${base}/fhir/$import-decisions`, { method: 'POST', headers: { Authorization: `Bearer ${mdph}`, Prefer: 'respond-async', 'Content-Type': 'text/csv' }, body });
    if (accepted.status !== 202) throw new Error(`import: ${accepted.status} ${await accepted.text()}`);
    const status = accepted.headers.get('content-location') as string;
    const uploaded = (performance.now() - started) / 1000;
    let report: { issue?: { diagnostics?: string }[] } = {};
    for (;;) {
      const res = await fetch(status, { headers: { Authorization: `Bearer ${mdph}` } });
      if (res.status !== 202) {
        report = (await res.json()) as typeof report;
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const seconds = (performance.now() - started) / 1000;
    const rss = peak();
    process.stderr.write(`  import: ${seconds.toFixed(1)} s, ${Math.round(ROWS / seconds)} rows/s, peak RSS ${Math.round(rss)} MB: ${report.issue?.[0]?.diagnostics}\n`);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const res = await fetch(`${base}/fhir/$indicators`, { headers: { Authorization: `Bearer ${admin}` } });
      await res.json();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const { rows } = await server.db.query<{ d: number; t: number }>(`SELECT (SELECT count(*)::int FROM referral WHERE module = 'decision') AS d, (SELECT count(*)::int FROM task WHERE module = 'decision') AS t`);
    return [
      '',
      `## decisions: MDPH import of ${ROWS.toLocaleString('en')} rows (${(body.length / 1024 / 1024).toFixed(0)} MiB CSV, ${rows[0].d.toLocaleString('en')} decisions, ${rows[0].t.toLocaleString('en')} tasks)`,
      '',
      '| measure | value | target',
      '| --- | --- | ---',
      `| import, upload to report | ${seconds.toFixed(1)} s (upload ${uploaded.toFixed(1)} s) |`,
      `| **rows/s** | **${Math.round(ROWS / seconds).toLocaleString('en')}** | ≥ 10,000`,
      `| peak RSS of the gateway | ${Math.round(rss)} MB | < 400 MB`,
      `| report | ${report.issue?.[0]?.diagnostics ?? ''} |`,
      `| $indicators (admin, all departments), 5 runs | median ${times[2].toFixed(0)} ms, max ${times[4].toFixed(0)} ms | < 1 s`,
      '',
    ].join('\n');
  } finally {
    await server.stop();
  }
}
