-- What each school's schema was built from: the SHA-256 of the text of every school migration
-- (version 1 is tenant_template.sql) as it was when applied to that school. `migrate` refuses a
-- school whose applied migration's text has since changed, so schools cannot quietly differ.

CREATE TABLE platform.tenant_applied_migrations (
    tenant_id  uuid NOT NULL REFERENCES platform.tenants (id) ON DELETE CASCADE,
    version    integer NOT NULL CHECK (version >= 1),
    name       text NOT NULL,
    checksum   bytea NOT NULL CHECK (length(checksum) = 32),
    applied_at timestamptz NOT NULL DEFAULT now(),
    -- Applied by this build, or recorded on the first run after checksums were introduced
    -- (trusting that the school had applied the text this build carries).
    recorded   text NOT NULL DEFAULT 'applied' CHECK (recorded IN ('applied', 'adopted')),
    PRIMARY KEY (tenant_id, version)
);

COMMENT ON TABLE platform.tenant_applied_migrations IS 'Each school migration applied to each school, with the SHA-256 of its text then.';

-- A digest of the rows above for versions 1 to schema_version, so that "is every school current
-- and unchanged?" stays one query over the registry. NULL for a school provisioned before
-- checksums were kept, until the next `migrate` records them.
ALTER TABLE platform.tenants
    ADD COLUMN schema_checksum bytea CONSTRAINT tenants_schema_checksum_length
        CHECK (length(schema_checksum) = 32);
