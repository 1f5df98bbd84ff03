-- Each school's audit chain head, kept outside the school's schema: a school's role has no
-- privilege here (nor on the platform schema), so whoever can act as the school cannot move its
-- anchor back after deleting its newest entries. `audit verify` reports a chain that ends
-- before its anchor, or whose anchored entry no longer has the anchored hash.
CREATE TABLE platform.audit_anchors (
    tenant_id   uuid PRIMARY KEY REFERENCES platform.tenants (id) ON DELETE CASCADE,
    -- The newest entry anchored (its id in the school's audit_log) and how many entries the
    -- chain held up to and including it.
    entry_id    bigint NOT NULL,
    entries     bigint NOT NULL CONSTRAINT audit_anchors_entries_positive CHECK (entries >= 1),
    head_hash   bytea NOT NULL CONSTRAINT audit_anchors_hash_length CHECK (length(head_hash) = 32),
    anchored_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE platform.audit_anchors IS 'Each school''s audit chain head (entry id, count, SHA-256), anchored at least every minute and on every verify.';
REVOKE ALL ON platform.audit_anchors FROM PUBLIC;

-- One row per school per day on which the scheduled verify ran (Europe/London dates). Claiming
-- a day is an INSERT that conflicts for every process but the first, as for retention runs.
CREATE TABLE platform.audit_verify_runs (
    tenant_id   uuid NOT NULL REFERENCES platform.tenants (id) ON DELETE CASCADE,
    run_on      date NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    entries     bigint,
    -- The first entry that does not fit and why, when the chain is broken.
    break_entry_id bigint,
    break_reason   text,
    -- Why the verify could not run (the database, not the chain).
    error       text,
    PRIMARY KEY (tenant_id, run_on)
);
COMMENT ON TABLE platform.audit_verify_runs IS 'Each school''s daily scheduled audit verify: claimed once per day, with its outcome.';
REVOKE ALL ON platform.audit_verify_runs FROM PUBLIC;
