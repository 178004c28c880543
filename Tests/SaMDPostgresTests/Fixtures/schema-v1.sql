-- SaMDKit's PostgreSQL tables: every statement the migrations of version 1 run, in order, exactly as the
-- code holds them (PostgresSchema.swift, Keys/PostgresKeyPersistence.swift). PostgresFormat.md quotes
-- the same text; PostgresFormatTests checks code, this file and the document against each other.
-- Written by PostgresFormatFixtureGenerator; see README.md.

-- Every migration, first (under pg_advisory_xact_lock(1396788548, 0)):

CREATE TABLE IF NOT EXISTS samd_schema_version (component text PRIMARY KEY, version integer NOT NULL);

-- Component "records", version 1 (PostgresRecordStore):

CREATE TABLE samd_record (
    record_index bytea PRIMARY KEY CHECK (octet_length(record_index) = 32),
    subject_index text NOT NULL CHECK (subject_index ~ '^[0-9a-f]{32}$'),
    record_type text NOT NULL,
    wrapping_key text NOT NULL,
    revision bigint NOT NULL CHECK (revision >= 1),
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    envelope bytea NOT NULL
);

ALTER TABLE samd_record ALTER COLUMN envelope SET STORAGE EXTERNAL;

CREATE INDEX samd_record_by_subject ON samd_record (subject_index);

CREATE TABLE samd_shred_receipt (
    subject_index text PRIMARY KEY CHECK (subject_index ~ '^[0-9a-f]{32}$'),
    key_name text NOT NULL,
    key_version bigint NOT NULL,
    destroyed_at double precision NOT NULL,
    record_count bigint NOT NULL DEFAULT 0
);

CREATE TABLE samd_rotation_checkpoint (
    kek_name text PRIMARY KEY,
    from_version bigint NOT NULL,
    target_version bigint,
    cursor text,
    done bigint NOT NULL DEFAULT 0,
    rewrapped bigint NOT NULL DEFAULT 0,
    started_at double precision NOT NULL,
    finished_at double precision
);

CREATE TABLE samd_rekey_checkpoint (
    id integer PRIMARY KEY CHECK (id = 1),
    not_before double precision NOT NULL,
    cursor text,
    done bigint NOT NULL DEFAULT 0,
    rewrapped bigint NOT NULL DEFAULT 0,
    started_at double precision NOT NULL,
    finished_at double precision
);

-- Component "keys", version 1 (PostgresKeyPersistence):

CREATE SEQUENCE IF NOT EXISTS samd_key_generation;

CREATE TABLE IF NOT EXISTS samd_key_metadata (id integer PRIMARY KEY CHECK (id = 1), document bytea NOT NULL, generation bigint NOT NULL);

CREATE TABLE IF NOT EXISTS samd_subject_key (name text PRIMARY KEY CHECK (name ~ '^s-[0-9a-f]{32}$'), document bytea NOT NULL, generation bigint NOT NULL);

CREATE TABLE IF NOT EXISTS samd_key_receipt (name text PRIMARY KEY, document bytea NOT NULL);
