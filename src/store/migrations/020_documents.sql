-- Documents (issue 16): a Binary's content is stored once, by its SHA-256
-- (blob), in 1 MiB parts (blob_part, uncompressed: documents are mostly
-- compressed already), outside the resource history, which keeps the
-- Binary's metadata alone. A Binary row names its content and its writer.
-- DocumentReferences name the Binaries they cite (binary_ids) and, for a
-- request's documents, their patient; a request names the documents it
-- cites (document_ids), whose parties then read them.

CREATE TABLE blob (
  hash text PRIMARY KEY,
  store_id uuid NOT NULL UNIQUE,
  size bigint NOT NULL,
  content_type text NOT NULL,
  parts integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE blob_part (
  store_id uuid NOT NULL,
  seq integer NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (store_id, seq)
);
ALTER TABLE blob_part ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE binary_content (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  content_type text,
  blob_hash text,
  size bigint,
  owner_org text
);
CREATE INDEX binary_content_by_time ON binary_content (last_updated, id);

ALTER TABLE sdo_document ADD COLUMN binary_ids text[] NOT NULL DEFAULT '{}';
ALTER TABLE sdo_document ADD COLUMN patient_id text;
CREATE INDEX sdo_document_by_binary ON sdo_document USING gin (binary_ids);

ALTER TABLE referral ADD COLUMN document_ids text[] NOT NULL DEFAULT '{}';
CREATE INDEX referral_by_document ON referral USING gin (document_ids) WHERE module = 'referral';
