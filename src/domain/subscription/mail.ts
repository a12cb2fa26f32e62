/**
 * The text of an e-mail alert: what happened, as links to the resources on
 * the gateway (or on the portal the configuration names), never the patient
 * (no name, no birth date, no content): the reader follows the link and logs
 * in. With the `status` detail, a task's or request's status is added.
 */
import type { Resource } from '@medplum/fhirtypes';

const WHAT: Record<string, string> = {
  Task: 'Suivi d’une demande',
  ServiceRequest: 'Demande',
  QuestionnaireResponse: 'Volet d’une demande',
  Communication: 'Message',
};

/** The status a mail may tell, with the `status` detail (none of the patient's data). */
function statusOf(resource: Resource | undefined): string | undefined {
  if (resource?.resourceType === 'Task') return resource.businessStatus?.coding?.[0]?.code ?? resource.status;
  if (resource?.resourceType === 'ServiceRequest') return resource.status;
  return undefined;
}

/** Subject and text of an alert about `events` of subscription `subscriptionId`. */
export function alertMail(
  subscriptionId: string,
  events: readonly { type: string; id: string; at: Date; resource?: Resource }[],
  options: { linkBase: string; detail: 'link' | 'status' }
): { subject: string; text: string } {
  const n = events.length;
  const lines = events.map((e) => {
    const status = options.detail === 'status' ? statusOf(e.resource) : undefined;
    return `- ${WHAT[e.type] ?? e.type} : ${options.linkBase}/${e.type}/${e.id}${status ? ` (statut : ${status})` : ''}`;
  });
  return {
    subject: `aiguillage : ${n} nouveauté${n > 1 ? 's' : ''}`,
    text: [
      'Bonjour,',
      '',
      `${n > 1 ? `${n} événements concernent` : 'Un événement concerne'} votre organisation :`,
      '',
      ...lines,
      '',
      'Ce message ne contient aucune donnée de patient : suivez le lien (connexion requise).',
      `Ces alertes viennent de l’abonnement Subscription/${subscriptionId} ; pour ne plus les recevoir, passez-le à status off.`,
      '',
    ].join('\n'),
  };
}
