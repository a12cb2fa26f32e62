/**
 * The subscription topics the gateway offers (R4 Subscriptions Backport IG,
 * 1.1): a topic is a canonical URL naming a resource type and what changes
 * on it are events; a subscription names a topic in `criteria` and narrows it
 * with a filter (`_criteria.extension` backport-filter-criteria, a search on
 * the topic's type). Pure: declarative tables and the reading of a
 * Subscription's backport extensions.
 */
import type { Element, Subscription } from '@medplum/fhirtypes';

/** A Subscription with its primitives' extensions (`_criteria`, `channel._payload`), which the R4 JSON carries beside them. */
type WithPrimitiveExtensions = Subscription & { _criteria?: Element; channel: Subscription['channel'] & { _payload?: Element } };

export const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
/** The Backport IG's extensions and profile. */
export const BACKPORT_URLS = {
  profile: `${BACKPORT}/backport-subscription`,
  filterCriteria: `${BACKPORT}/backport-filter-criteria`,
  payloadContent: `${BACKPORT}/backport-payload-content`,
  heartbeatPeriod: `${BACKPORT}/backport-heartbeat-period`,
  /** The gateway's own: an e-mail channel's digest period, in seconds (0: a mail per delivery). */
  digestPeriod: 'https://aiguillage.org/fhir/StructureDefinition/email-digest-period',
  timeout: `${BACKPORT}/backport-timeout`,
  maxCount: `${BACKPORT}/backport-max-count`,
  topicCanonical: `${BACKPORT}/capabilitystatement-subscriptiontopic-canonical`,
} as const;

const TOPIC_BASE = 'https://aiguillage.org/fhir/SubscriptionTopic';

/** A topic: its canonical, the type whose writes are its events, and who it is for. */
export interface Topic {
  url: string;
  type: string;
  title: string;
  description: string;
}

export const TOPICS: readonly Topic[] = [
  {
    url: `${TOPIC_BASE}/referral-task`,
    type: 'Task',
    title: 'A task changed: an admission request’s (a unit’s answer) or an orientation decision’s (an ESMS’s follow-up)',
    description:
      'Every version of a Task the subscriber may read: a unit hears of the requests sent to it and of their changes, a prescriber of its requests’ answers, an ESMS of the decisions targeting it, an MDPH of the follow-up of its decisions. Filter on any Task search parameter (e.g. Task?business-status=sent, Task?owner=HealthcareService/…).',
  },
  {
    url: `${TOPIC_BASE}/referral-request`,
    type: 'ServiceRequest',
    title: 'A request changed: an admission request (sent, updated, cancelled) or an orientation decision',
    description: 'Every version of a ServiceRequest the subscriber may read: the units a request is addressed to hear of its updates and cancellation; an ESMS and its MDPH of a decision’s changes.',
  },
  {
    url: `${TOPIC_BASE}/referral-volet`,
    type: 'QuestionnaireResponse',
    title: 'A volet changed',
    description: 'Every version of a volet (medical, care, administrative and social) the subscriber may read: the units of the requests citing it hear of its updates.',
  },
  {
    url: `${TOPIC_BASE}/message`,
    type: 'Communication',
    title: 'A message or a reminder',
    description: 'Every Communication the subscriber may read: the messages about its tasks and the reminders.',
  },
];

/** The topic of a canonical URL (a version after `|` is ignored). */
export function topicOf(url: string | undefined): Topic | undefined {
  const bare = (url ?? '').split('|')[0];
  return TOPICS.find((t) => t.url === bare);
}

/** What a notification carries (backport-payload-content): nothing, the ids, or the resources. */
export type PayloadContent = 'empty' | 'id-only' | 'full-resource';
export const PAYLOAD_CONTENTS: readonly PayloadContent[] = ['empty', 'id-only', 'full-resource'];

/** A Subscription read as the Backport IG writes it (or as plain R4: criteria a search, payload id-only). */
export interface SubscriptionSettings {
  /** The topic (a plain R4 subscription has none: its criteria's type stands for it). */
  topic?: Topic;
  /** The type whose writes are events. */
  type?: string;
  /** The searches narrowing the events (`Task?owner=…`), all to hold: the R4 criteria, or the topic's filters. */
  filters: string[];
  content: PayloadContent;
  /** Seconds between heartbeats when nothing happens (0: none). */
  heartbeatSeconds: number;
  /** rest-hook, or email (alerts). */
  channel: string;
  /** E-mail: seconds a digest gathers events (0: a mail per delivery). */
  digestSeconds: number;
}

/** The settings a Subscription declares; `undefined` fields are for the caller to refuse. */
export function subscriptionSettings(resource: Subscription): SubscriptionSettings & { contentCode?: string } {
  const subscription = resource as WithPrimitiveExtensions;
  const topic = topicOf(subscription.criteria);
  const filters = (subscription._criteria?.extension ?? []).filter((e) => e.url === BACKPORT_URLS.filterCriteria).map((e) => e.valueString ?? '');
  const type = topic ? topic.type : /^([A-Z][A-Za-z]+)(\?|$)/.exec(subscription.criteria ?? '')?.[1];
  const all = topic ? filters : [subscription.criteria ?? ''];
  const contentCode = (subscription.channel?._payload?.extension ?? []).find((e) => e.url === BACKPORT_URLS.payloadContent)?.valueCode;
  // Plain R4: a payload MIME type means id-only notifications (the R4 rest-hook convention); none, an empty POST.
  const content = (contentCode ?? (subscription.channel?.payload ? 'id-only' : 'empty')) as PayloadContent;
  const heartbeat = (subscription.channel?.extension ?? []).find((e) => e.url === BACKPORT_URLS.heartbeatPeriod)?.valueUnsignedInt ?? 0;
  const digest = (subscription.channel?.extension ?? []).find((e) => e.url === BACKPORT_URLS.digestPeriod)?.valueUnsignedInt ?? 0;
  return { topic, type, filters: all, content, heartbeatSeconds: heartbeat, channel: subscription.channel?.type ?? '', digestSeconds: digest, ...(contentCode ? { contentCode } : {}) };
}
