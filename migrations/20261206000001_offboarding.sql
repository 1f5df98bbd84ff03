-- Offboarding a school at the end of its contract: the whole school exported, then (once the
-- export verifies) its Google grants revoked, its Redis keys removed, its schema and role
-- dropped and its registry row marked deleted. Each step's time is kept here, so a run that
-- was interrupted resumes at the first step not yet done, and the deletion certificate stays
-- after the school's own data (and its audit log) is gone.
CREATE TABLE platform.offboardings (
    tenant_id             uuid PRIMARY KEY REFERENCES platform.tenants (id),
    -- The export: who made it, where it was written, and its SHA-256 once complete.
    exported_by           text NOT NULL CHECK (length(exported_by) BETWEEN 1 AND 80),
    export_path           text NOT NULL,
    export_started_at     timestamptz NOT NULL DEFAULT now(),
    export_completed_at   timestamptz,
    export_sha256         text CHECK (export_sha256 ~ '^[0-9a-f]{64}$'),
    export_bytes          bigint CHECK (export_bytes >= 0),
    export_files          integer CHECK (export_files >= 0),
    -- The deletion, step by step.
    confirmed_by          text CHECK (length(confirmed_by) BETWEEN 1 AND 80),
    confirmed_at          timestamptz,
    grants_revoked_at     timestamptz,
    redis_cleared_at      timestamptz,
    schema_dropped_at     timestamptz,
    registry_deleted_at   timestamptz,
    certificate_written_at timestamptz,
    -- What each step removed (counts), filled in as the steps run.
    deleted               jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The deletion certificate, as written beside the export.
    certificate           jsonb,
    CONSTRAINT offboardings_export_complete
        CHECK ((export_completed_at IS NULL) = (export_sha256 IS NULL)),
    CONSTRAINT offboardings_confirmed_after_export
        CHECK (confirmed_at IS NULL OR export_completed_at IS NOT NULL)
);
COMMENT ON TABLE platform.offboardings IS 'Each school''s offboarding: its final export, the deletion steps and the deletion certificate.';

-- When a school's registry row was marked deleted (its data gone; the row stays so the slug is
-- never reused and the certificate has a school to belong to).
ALTER TABLE platform.tenants ADD COLUMN deleted_at timestamptz;
