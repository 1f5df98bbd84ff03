-- The control plane: the registry of schools. Everything about one school's pupils and staff lives
-- in that school's own schema (`tenant_<slug>`), never here.

CREATE TABLE platform.tenants (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug                  text NOT NULL CONSTRAINT tenants_slug_key UNIQUE
                          CONSTRAINT tenants_slug_format CHECK (slug ~ '^[a-z][a-z0-9_]{2,39}$'),
    name                  text NOT NULL CONSTRAINT tenants_name_length
                          CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    workspace_domain      text NOT NULL CONSTRAINT tenants_workspace_domain_lowercase
                          CHECK (workspace_domain = lower(workspace_domain)),
    schema_name           text NOT NULL CONSTRAINT tenants_schema_name_key UNIQUE,
    role_name             text NOT NULL CONSTRAINT tenants_role_name_key UNIQUE,
    status                text NOT NULL DEFAULT 'active' CONSTRAINT tenants_status_known
                          CHECK (status IN ('active', 'suspended', 'offboarding', 'deleted')),
    schema_version        integer NOT NULL CHECK (schema_version >= 1),
    shared_drive_id       text,
    retention_months      integer NOT NULL DEFAULT 36 CHECK (retention_months BETWEEN 1 AND 120),
    sync_interval_minutes integer NOT NULL DEFAULT 30 CHECK (sync_interval_minutes BETWEEN 5 AND 1440),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE platform.tenants IS 'One row per school: its Workspace domain, schema, role, status and settings.';

-- A Workspace domain belongs to at most one live school; a deleted school frees its domain.
CREATE UNIQUE INDEX tenants_workspace_domain_key
    ON platform.tenants (workspace_domain) WHERE status <> 'deleted';

-- Every attempt to move a school's schema to a newer version, successful or not.
CREATE TABLE platform.tenant_migration_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES platform.tenants (id) ON DELETE CASCADE,
    from_version integer NOT NULL,
    to_version   integer NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    succeeded    boolean NOT NULL,
    error        text,
    CHECK (succeeded = (error IS NULL))
);

COMMENT ON TABLE platform.tenant_migration_runs IS 'The outcome of each school schema upgrade attempt, for operators.';

CREATE INDEX tenant_migration_runs_tenant ON platform.tenant_migration_runs (tenant_id, finished_at DESC);
