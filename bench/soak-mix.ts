/**
 * The soak's traffic on a world of admission requests: half reads by id
 * (Patient, ServiceRequest, Task), a quarter searches (a unit's work list, a
 * patient's requests, a patient by name, a request's tasks), 15 % EHR
 * submissions, 10 % status moves. A move must be legal and carry its task's
 * version in If-Match, so the mix follows every request it moves: a move
 * takes the whole request out of the idle pool while it is in flight (a
 * confirmation cancels the other units' tasks) and puts it back with the
 * answer's versions, so two moves never race on one request. A submitted
 * request joins the pool once a search of its tasks has answered.
 */
import type { Bundle, Task } from '@medplum/fhirtypes';
import { allowedMoves, businessStatusConcept, businessStatusOf, reasonConcept, STATUS_TABLE, type BusinessStatus, type Side } from '../mappings/referral.js';
import type { LoadRequest } from './paced-load.js';
import { sample, submission } from './referral-fixtures.js';

/** Shares of the mix, percent (a move with no request to move becomes a read). */
export const MIX = { read: 50, search: 25, submission: 15, move: 10 } as const;

/** `Authorization` values (`Bearer …`) of the world's sides. */
export interface SoakWorld {
  prescriber: string;
  /** A receiver's, by unit id. */
  units: Record<string, string>;
}

type OpenStatus = Extract<BusinessStatus, 'sent' | 'read' | 'agreed-in-principle' | 'accepted' | 'confirmed'>;

interface Move {
  to: BusinessStatus;
  side: Side;
  weight: number;
  /** What the move sets besides the statuses. */
  details?: Partial<Task>;
}

const day = (n: number): string => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);

/** How a request goes on in the soak: from each open status, the moves made and their odds. */
const NEXT_MOVES: Record<OpenStatus, readonly Move[]> = {
  sent: [{ to: 'read', side: 'unit', weight: 1 }],
  read: [
    { to: 'agreed-in-principle', side: 'unit', weight: 6, details: { restriction: { period: { start: day(14), end: day(28) } } } },
    { to: 'accepted', side: 'unit', weight: 2, details: { restriction: { period: { start: day(10) } } } },
    { to: 'refused', side: 'unit', weight: 2, details: { statusReason: reasonConcept('no-place') } },
  ],
  'agreed-in-principle': [
    { to: 'accepted', side: 'unit', weight: 8, details: { restriction: { period: { start: day(18) } } } },
    { to: 'refused', side: 'unit', weight: 2, details: { statusReason: reasonConcept('not-eligible') } },
  ],
  accepted: [{ to: 'confirmed', side: 'prescriber', weight: 1 }],
  confirmed: [{ to: 'admitted', side: 'unit', weight: 1 }],
};

// The table above must stay within the gateway's status table, or the soak would count its own illegal moves as errors.
for (const [from, moves] of Object.entries(NEXT_MOVES)) {
  for (const m of moves) if (!allowedMoves(from as OpenStatus, m.side).includes(m.to)) throw new Error(`soak mix: ${from} → ${m.to} is not the ${m.side}'s move`);
}

const OPEN = new Set<string>(Object.keys(NEXT_MOVES));
const SURNAMES = ['Martin', 'Bernard', 'Dubois', 'Thomas', 'Robert', 'Richard', 'Petit', 'Durand', 'Leroy', 'Moreau', 'Simon', 'Laurent', 'Lefebvre', 'Michel', 'Garcia', 'David', 'Bertrand', 'Roux', 'Vincent', 'Fournier', 'Morel', 'Girard', 'André', 'Lefèvre', 'Mercier', 'Dupont', 'Lambert', 'Bonnet', 'François', 'Martinez'];
const GIVEN = ['Louise', 'Jeanne', 'Marie', 'Madeleine', 'Simone', 'Denise', 'Yvonne', 'Germaine', 'Suzanne', 'Paulette'];
/** Most requests waiting for a move, and most submitted ones waiting for their tasks to be searched. */
const MAX_IDLE = 5_000;
const MAX_UNDISCOVERED = 1_000;

const pick = <T>(values: readonly T[]): T => values[Math.floor(Math.random() * values.length)];

function pickWeighted(moves: readonly Move[]): Move {
  let r = Math.random() * moves.reduce((sum, m) => sum + m.weight, 0);
  for (const m of moves) if ((r -= m.weight) < 0) return m;
  return moves[moves.length - 1];
}

/** The last ids seen of one type, to read by id. */
class RecentIds {
  private readonly ids: string[] = [];
  private at = 0;

  constructor(private readonly capacity = 20_000) {}

  add(id: string): void {
    if (this.ids.length < this.capacity) this.ids.push(id);
    else this.ids[this.at++ % this.capacity] = id;
  }

  pick(): string {
    return pick(this.ids);
  }
}

/** A request under way: its open tasks, as last answered. */
interface Tracked {
  id: string;
  tasks: Task[];
}

/** The soak's mix; `next()` builds the next request. */
export class SoakMix {
  private readonly patients = new RecentIds();
  private readonly requests = new RecentIds();
  private readonly tasks = new RecentIds();
  private readonly unitIds: string[];
  private idle: Tracked[] = [];
  private undiscovered: string[] = [];

  constructor(private readonly world: SoakWorld) {
    this.unitIds = Object.keys(world.units);
  }

  /** Requests waiting for their next move. */
  get pooled(): number {
    return this.idle.length;
  }

  next(): LoadRequest {
    const r = Math.random() * 100;
    if (r < MIX.read) return this.read();
    if (r < MIX.read + MIX.search) return this.search();
    if (r < MIX.read + MIX.search + MIX.submission) return this.submit();
    return this.move() ?? this.read();
  }

  /** Filling the world: the tasks of a request submitted earlier, else a new submission. */
  seed(): LoadRequest {
    const id = this.undiscovered.shift();
    return id ? this.tasksOf(id, true) : this.submit();
  }

  private get(kind: string, path: string, token = this.world.prescriber): LoadRequest {
    return { kind, method: 'GET', path, headers: { Authorization: token } };
  }

  private read(): LoadRequest {
    const type = pick(['Patient', 'ServiceRequest', 'Task'] as const);
    const ids = { Patient: this.patients, ServiceRequest: this.requests, Task: this.tasks }[type];
    return this.get(`read ${type}`, `/fhir/${type}/${ids.pick()}`);
  }

  private search(): LoadRequest {
    switch (Math.floor(Math.random() * 4)) {
      case 0: {
        const unit = pick(this.unitIds);
        return this.get('search Task by owner, status', `/fhir/Task?owner=HealthcareService/${unit}&status=requested`, this.world.units[unit]);
      }
      case 1:
        return this.get('search ServiceRequest by patient', `/fhir/ServiceRequest?patient=Patient/${this.patients.pick()}`);
      case 2:
        return this.get('search Patient by name', `/fhir/Patient?family=${encodeURIComponent(pick(SURNAMES))}&given=${pick(GIVEN)}`);
      default: {
        const id = this.idle.length < MAX_IDLE ? this.undiscovered.shift() : undefined;
        return id ? this.tasksOf(id, true) : this.tasksOf(this.requests.pick(), false);
      }
    }
  }

  /** The tasks of a request; a request just submitted then joins the pool. */
  private tasksOf(id: string, track: boolean): LoadRequest {
    return {
      ...this.get('search Task by focus', `/fhir/Task?focus=ServiceRequest/${id}`),
      onResponse: (status, body) => {
        if (!track || status !== 200) return;
        const tasks = ((JSON.parse(body) as Bundle<Task>).entry ?? []).map((e) => e.resource as Task);
        for (const t of tasks) this.tasks.add(t.id as string);
        const open = tasks.filter((t) => OPEN.has(businessStatusOf(t) ?? ''));
        if (open.length > 0) this.idle.push({ id, tasks: open });
      },
    };
  }

  private submit(): LoadRequest {
    return {
      kind: 'submission (transaction)',
      method: 'POST',
      path: '/fhir',
      headers: { Authorization: this.world.prescriber, 'Content-Type': 'application/fhir+json' },
      body: submission(sample(this.unitIds, 3), { family: pick(SURNAMES), given: pick(GIVEN), requester: true }),
      onResponse: (status, body) => {
        if (status !== 200) return;
        // `…/Type/id/_history/n` of the Patient (first entry) and of the ServiceRequest (fifth)
        const entries = (JSON.parse(body) as Bundle).entry ?? [];
        const id = (i: number): string => {
          const found = /([^/]+)\/_history\//.exec(entries[i]?.response?.location ?? '');
          if (!found) throw new Error(`no location in entry ${i}`);
          return found[1];
        };
        this.patients.add(id(0));
        this.requests.add(id(4));
        this.undiscovered.push(id(4));
        if (this.undiscovered.length > MAX_UNDISCOVERED) this.undiscovered.shift();
      },
    };
  }

  private move(): LoadRequest | undefined {
    if (this.idle.length === 0) return undefined;
    const i = Math.floor(Math.random() * this.idle.length);
    const request = this.idle[i];
    this.idle[i] = this.idle[this.idle.length - 1];
    this.idle.pop();
    const task = pick(request.tasks);
    const move = pickWeighted(NEXT_MOVES[businessStatusOf(task) as OpenStatus]);
    const unit = (task.owner?.reference ?? '').split('/')[1];
    const body: Task = { ...task, status: STATUS_TABLE[move.to].taskStatus, businessStatus: businessStatusConcept(move.to), ...move.details };
    return {
      kind: `move Task (${move.side})`,
      method: 'PUT',
      path: `/fhir/Task/${task.id}`,
      headers: { Authorization: move.side === 'unit' ? this.world.units[unit] : this.world.prescriber, 'Content-Type': 'application/fhir+json', 'If-Match': `W/"${task.meta?.versionId}"` },
      body: JSON.stringify(body),
      tolerated: [412],
      onResponse: (status, answer) => {
        if (status !== 200) return; // its state is not known any more: the request leaves the pool
        const moved = JSON.parse(answer) as Task;
        // A confirmation cancels the other units' tasks in the same transaction.
        const tasks = move.to === 'confirmed' ? [moved] : request.tasks.map((t) => (t.id === moved.id ? moved : t));
        request.tasks = tasks.filter((t) => OPEN.has(businessStatusOf(t) ?? ''));
        if (request.tasks.length > 0) this.idle.push(request);
      },
    };
  }
}
