/**
 * The route table of the FHIR API: every interaction and operation served,
 * one entry each, in matching order (the specific paths before the generic
 * `:type` ones). The dispatcher routes with it; the CapabilityStatement and
 * the OperationDefinitions are written from it.
 */
import { binaryCreateRoute, binaryReadRoute, binaryVreadRoute } from './interactions/binary.js';
import { bundleRoute } from './interactions/bundle.js';
import { auditEventReadRoute, auditEventSearchRoute } from './interactions/audit-event.js';
import { conformanceRoutes, metadataRoute } from './interactions/conformance.js';
import { createRoute } from './interactions/create.js';
import { instanceHistoryRoute, typeHistoryRoute } from './interactions/history.js';
import { readRoute, vreadRoute } from './interactions/read.js';
import { searchPostRoute, searchRoute } from './interactions/search.js';
import { asyncStatusRoute, importStatusRoute } from './interactions/status.js';
import { updateRoute } from './interactions/update.js';
import { claimRoute } from './operations/claim.js';
import { copyRoute } from './operations/copy.js';
import { importDecisionsRoute } from './operations/import-decisions.js';
import { indicatorsRoute } from './operations/indicators.js';
import { reactivateRoute } from './operations/reactivate.js';
import { remindRoute } from './operations/remind.js';
import { validateRoute } from './operations/validate.js';
import { subscriptionEventsRoute, subscriptionStatusRoute } from './operations/subscription-events.js';
import type { Route } from './route.js';

export const ROUTES: readonly Route[] = [
  // The base: Bundles (asynchronous with Prefer: respond-async), the CapabilityStatement, system operations, status URLs.
  bundleRoute,
  metadataRoute,
  indicatorsRoute,
  importDecisionsRoute,
  asyncStatusRoute,
  importStatusRoute,
  auditEventSearchRoute,
  auditEventReadRoute,
  ...conformanceRoutes,
  // Operations on a type or an instance.
  claimRoute,
  subscriptionStatusRoute,
  subscriptionEventsRoute,
  remindRoute,
  reactivateRoute,
  copyRoute,
  validateRoute,
  // Binary's own, before the RESTful interactions of every stored type.
  binaryCreateRoute,
  binaryReadRoute,
  binaryVreadRoute,
  // The RESTful interactions of every stored type.
  searchRoute,
  createRoute,
  searchPostRoute,
  typeHistoryRoute,
  readRoute,
  updateRoute,
  instanceHistoryRoute,
  vreadRoute,
];
