/** `POST ServiceRequest/{id}/$reactivate`: undoes a cancellation before archiving, restoring each task as it was. */
import type { ServiceRequest, Task } from '@medplum/fhirtypes';
import { addDuration } from '../../../mappings/duration.js';
import { conflict } from '../../core/outcomes.js';
import { recordReactivation } from '../../store/tables/referral.js';
import { tasksCancelledWithRequest } from '../../store/tables/task.js';
import { lastValueOtherThan, versionContent } from '../../store/tables/versions.js';
import type { CallContext } from '../kind.js';
import { readResource, repository, unitOfWork, updateResource } from '../repository.js';
import { requireRequester } from './requester.js';
import { asGateway, durations } from './shared.js';

/** Reactivates a cancelled request: its tasks get back the state they had, the request the status it had. */
export async function reactivateRequest(ctx: CallContext, requestId: string): Promise<ServiceRequest> {
  return unitOfWork(ctx, async (unit) => {
    const q = unit.tx;
    const state = await requireRequester(unit, requestId);
    if (state.archived) throw conflict('This request is archived: it can no longer be reactivated');
    if (!state.cancelled_at) throw conflict('This request is not cancelled: there is nothing to reactivate');
    const archivedAt = addDuration(new Date(state.cancelled_at), durations(unit).archiving);
    if (unit.clock.now() >= archivedAt) throw conflict(`This request was due for archiving on ${archivedAt.toISOString()}: it can no longer be reactivated`);
    const gateway = asGateway(unit, q);
    for (const row of await tasksCancelledWithRequest(q, requestId)) {
      const before = (await versionContent<Task>(q, 'Task', row.id, row.version - 1)) as Task;
      const { meta: _m, ...restored } = before;
      await updateResource(gateway, { ...restored, meta: (await readResource(gateway, 'Task', row.id)).meta }, row.id);
    }
    await recordReactivation(q, requestId, unit.clock.now().toISOString());
    const current = (await readResource(gateway, 'ServiceRequest', requestId)) as ServiceRequest;
    // Back to the status it had before its cancellation (a cancelled draft stays a draft).
    const status = ((await lastValueOtherThan(q, 'ServiceRequest', requestId, 'status', 'revoked')) ?? 'active') as ServiceRequest['status'];
    const result = current.status === status ? current : ((await updateResource(gateway, { ...current, status }, requestId)).resource as ServiceRequest);
    // Its deadlines start again (whether or not a write above said so).
    await repository.emit(unit, q, { event: 'referral-activity', referral: requestId });
    return result;
  });
}
