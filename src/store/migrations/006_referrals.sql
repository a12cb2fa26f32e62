-- Admission requests (module Sanitaire): the request, one task per candidate
-- unit, the volets, the messages, and the subscriptions that tell clients
-- about changes. Parties are stored as organization keys ("Organization/ID"
-- and each identifier as "system|value") so that a client identified by
-- either form finds its rows with one index lookup.

CREATE TABLE referral (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  status text NOT NULL,
  patient_id text,
  requester_keys text[] NOT NULL DEFAULT '{}',
  requester_ref text,
  category_codes text[] NOT NULL DEFAULT '{}',
  performer_ids text[] NOT NULL DEFAULT '{}',
  volet_ids text[] NOT NULL DEFAULT '{}',
  authored_on timestamptz,
  -- deadlines (seed 002): the prescriber's last action, the automatic reminder, the cancellation
  last_prescriber_action_at timestamptz,
  reminder_sent_at timestamptz,
  cancelled_at timestamptz,
  archived boolean NOT NULL DEFAULT false
);
CREATE INDEX referral_by_time ON referral (last_updated, id);
CREATE INDEX referral_by_requester ON referral USING gin (requester_keys);
CREATE INDEX referral_by_patient ON referral (patient_id);
CREATE INDEX referral_by_volet ON referral USING gin (volet_ids);

CREATE TABLE task (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  referral_id text NOT NULL,
  patient_id text,
  owner_service_id text,
  owner_keys text[] NOT NULL DEFAULT '{}',
  requester_keys text[] NOT NULL DEFAULT '{}',
  status text NOT NULL,
  business_status text NOT NULL,
  business_status_tokens text[] NOT NULL DEFAULT '{}',
  status_since timestamptz NOT NULL,
  -- the state before a request-wide cancellation, restored by $reactivate
  previous_business_status text,
  cancelled_with_request boolean NOT NULL DEFAULT false,
  tags text[] NOT NULL DEFAULT '{}',
  archived boolean NOT NULL DEFAULT false
);
CREATE INDEX task_by_time ON task (last_updated, id);
CREATE INDEX task_by_referral ON task (referral_id);
CREATE INDEX task_by_patient ON task (patient_id);
CREATE INDEX task_by_owner ON task USING gin (owner_keys);
CREATE INDEX task_by_requester ON task USING gin (requester_keys);

-- The volets of a request (QuestionnaireResponse).
CREATE TABLE volet (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  volet text NOT NULL,
  status text NOT NULL,
  patient_id text,
  author_keys text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX volet_by_time ON volet (last_updated, id);

-- Messages between a prescriber and a unit about one task (Communication).
CREATE TABLE message (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  task_id text,
  sender_keys text[] NOT NULL DEFAULT '{}',
  recipient_keys text[] NOT NULL DEFAULT '{}',
  sent timestamptz,
  received timestamptz,
  category_codes text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX message_by_time ON message (last_updated, id);
CREATE INDEX message_by_task ON message (task_id);
CREATE INDEX message_by_recipient ON message USING gin (recipient_keys);
CREATE INDEX message_unread ON message (task_id) WHERE received IS NULL;

-- R4 Subscriptions: who asked (its client, organization and roles at the
-- time), on which type and criteria, and where to deliver.
CREATE TABLE subscription (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  status text NOT NULL,
  criteria_type text,
  owner_org text,
  principal jsonb
);
CREATE INDEX subscription_by_type ON subscription (criteria_type) WHERE status = 'active';

-- Every key of a unit: the HealthcareService's id and identifiers, and those of its Organization.
CREATE FUNCTION unit_keys(service_id text) RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT ARRAY['HealthcareService/' || s.id]
    || coalesce((SELECT array_agg(i.system || '|' || i.value ORDER BY i.system, i.value) FROM resource_identifier i
                  WHERE i.resource_type = 'HealthcareService' AND i.resource_id = s.id AND i.system <> ''), '{}')
    || CASE WHEN s.organization_id IS NULL THEN '{}'::text[] ELSE ARRAY['Organization/' || s.organization_id] END
    || coalesce((SELECT array_agg(i.system || '|' || i.value ORDER BY i.system, i.value) FROM resource_identifier i
                  WHERE i.resource_type = 'Organization' AND i.resource_id = s.organization_id AND i.system <> ''), '{}')
  FROM healthcare_service s WHERE s.id = service_id
$$;

-- What a job is about (e.g. a request's deadlines), to find and replace its pending jobs.
ALTER TABLE job_schedule ADD COLUMN subject text;
CREATE INDEX job_schedule_by_subject ON job_schedule (queue, subject) WHERE state = 'pending' AND subject IS NOT NULL;
-- The reconciler walks the near schedule of each queue in time order.
CREATE INDEX job_schedule_due ON job_schedule (queue, run_at, job_id) WHERE state = 'pending';
