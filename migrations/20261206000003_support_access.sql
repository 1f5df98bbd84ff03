-- No default access for us: Invigilator's own operators, and the time-boxed read access a
-- school's School Admin grants one of them. Neither table holds anything about a school's pupils
-- or staff beyond the granting admin's id; every read under a grant is recorded in the school's
-- own audit log.

-- The people who run Invigilator. A bearer token is shown once, when the operator is added; only
-- its SHA-256 is kept, so a copy of the database opens nothing.
CREATE TABLE platform.operators (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL CONSTRAINT operators_name_key UNIQUE
                 CONSTRAINT operators_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 80),
    email        text NOT NULL CONSTRAINT operators_email_lowercase CHECK (email = lower(email)),
    token_sha256 bytea NOT NULL CONSTRAINT operators_token_key UNIQUE
                 CONSTRAINT operators_token_length CHECK (length(token_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    disabled_at  timestamptz
);

COMMENT ON TABLE platform.operators IS 'Invigilator''s operators: name, email, SHA-256 of their bearer token, when added and disabled.';

-- A School Admin's grant of read access to one operator, for 1 to 72 hours, with a reason. It ends
-- at expires_at by itself, or earlier when revoked.
CREATE TABLE platform.support_grants (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES platform.tenants (id) ON DELETE CASCADE,
    operator_id uuid NOT NULL REFERENCES platform.operators (id),
    -- The School Admin (a staff id in the school's schema) who granted and who revoked it.
    granted_by  uuid NOT NULL,
    reason      text NOT NULL CONSTRAINT support_grants_reason_length
                CHECK (length(btrim(reason)) BETWEEN 1 AND 500),
    granted_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    revoked_by  uuid,
    CONSTRAINT support_grants_hours CHECK (expires_at > granted_at
                                           AND expires_at <= granted_at + interval '72 hours'),
    CONSTRAINT support_grants_revoked CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);

COMMENT ON TABLE platform.support_grants IS 'Time-boxed read access to one school granted by its School Admin to one operator.';

CREATE INDEX support_grants_tenant ON platform.support_grants (tenant_id, granted_at DESC);
CREATE INDEX support_grants_operator ON platform.support_grants (operator_id, tenant_id)
    WHERE revoked_at IS NULL;
