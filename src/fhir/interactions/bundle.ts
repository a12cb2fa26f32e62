/** `POST /` with a batch or transaction Bundle: at once, or with `Prefer: respond-async` later (202 and a status URL). */
import { unauthorized } from '../../core/outcomes.js';
import { acceptAsyncBundle, wantsAsync } from '../async-bundle.js';
import { processBundle } from '../bundle.js';
import type { Route } from '../route.js';

export const bundleRoute: Route = {
  method: 'POST',
  path: '',
  interaction: 'batch',
  // A Bundle's entries are each answered as alone: a read of the directory without a token, or 401.
  isPublic: () => true,
  async handler({ services, request }) {
    if (!wantsAsync(request.prefer)) return processBundle(services, request);
    if (!request.principal) throw unauthorized();
    return acceptAsyncBundle(services, request);
  },
};
