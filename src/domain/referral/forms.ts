/**
 * The gateway's forms (mappings/forms.ts) published as Questionnaires of the
 * store when the gateway starts: written by the gateway where missing or
 * changed, so that `GET /fhir/Questionnaire` serves them beside the ROR's
 * instruction sheets; only the gateway writes them.
 */
import type { Questionnaire } from '@medplum/fhirtypes';
import { FORMS } from '../../../mappings/forms.js';
import { sameContent } from '../../../mappings/versions.js';
import { GATEWAY } from '../../core/principal.js';
import type { Database } from '../../store/db.js';
import { lockKeys } from '../../store/locks.js';
import { sql } from '../../store/sql.js';
import { readCurrent } from '../../store/tables/versions.js';
import { systemClock } from '../clock.js';
import { kindOf } from '../registry.js';
import { updateResource } from '../repository.js';

/** Writes the forms that are missing or differ from the gateway's; returns their ids. */
export async function publishForms(db: Database): Promise<string[]> {
  const kind = kindOf('Questionnaire');
  if (!kind) return [];
  return db.transaction(async (tx) => {
    // Several processes starting at once publish each form once.
    await lockKeys(tx, 'Questionnaire', ['aiguillage-forms']);
    const written: string[] = [];
    for (const form of Object.values<Questionnaire>(FORMS)) {
      const stored = await readCurrent(tx, kind, form.id as string, sql`TRUE`);
      if (stored && sameContent(form, stored)) continue;
      await updateResource({ db, tx, principal: GATEWAY, clock: systemClock }, form, form.id as string);
      written.push(form.id as string);
    }
    return written;
  });
}
