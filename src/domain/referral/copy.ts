/**
 * `POST ServiceRequest/{id}/$copy`: a new request for the same patient from
 * an earlier one, with a copy of its administrative volet, and the patient's
 * consent and the documents it cited (the same ones: they do not change with
 * the request). The copy is a draft: it is sent (status active) once a
 * validated medical volet is added, as any request.
 */
import type { QuestionnaireResponse, Reference, ServiceRequest } from '@medplum/fhirtypes';
import { parseReference } from '../../../mappings/reference.js';
import { voletOf } from '../../../mappings/referral.js';
import { ruleViolation } from '../../core/outcomes.js';
import type { CallContext } from '../kind.js';
import { createResource, readResource, unitOfWork } from '../repository.js';
import { requireRequester } from './requester.js';

/** Copies a request (its prescriber only) to the units given. */
export async function copyRequest(ctx: CallContext, requestId: string, performers: Reference[]): Promise<ServiceRequest> {
  if (performers.length === 0) throw ruleViolation('$copy needs the candidate units: parameter performer (valueReference HealthcareService/{id})', 'Parameters.parameter');
  return unitOfWork(ctx, async (unit) => {
    await requireRequester(unit, requestId);
    const earlier = (await readResource(unit, 'ServiceRequest', requestId)) as ServiceRequest;
    const supportingInfo: Reference[] = [];
    for (const info of earlier.supportingInfo ?? []) {
      const ref = parseReference(info.reference);
      if (ref?.type === 'Consent' || ref?.type === 'DocumentReference') supportingInfo.push({ reference: `${ref.type}/${ref.id}` });
      if (ref?.type !== 'QuestionnaireResponse') continue;
      const volet = (await readResource(unit, 'QuestionnaireResponse', ref.id)) as QuestionnaireResponse;
      if (voletOf(volet) !== 'administrative') continue;
      const { id: _i, meta: _m, ...copy } = volet;
      const created = await createResource(unit, copy);
      supportingInfo.push({ reference: `QuestionnaireResponse/${created.resource.id}` });
    }
    const { id: _i, meta: _m, authoredOn: _a, performer: _p, supportingInfo: _s, identifier: _d, ...rest } = earlier;
    const request: ServiceRequest = {
      ...rest,
      status: 'draft',
      performer: performers as ServiceRequest['performer'],
      replaces: [{ reference: `ServiceRequest/${requestId}` }],
      ...(supportingInfo.length > 0 ? { supportingInfo } : {}),
    };
    return (await createResource(unit, request)).resource as ServiceRequest;
  });
}
