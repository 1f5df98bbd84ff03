-- Google credentials the school's work runs as: staff members' OAuth grants (refresh tokens) and
-- the Drive operator (a connected School Admin's grant, or a service-account key). Secrets are
-- stored only as AES-256-GCM ciphertexts (`v<key version>:<base64>`), bound to this school, row
-- and column; plaintext never reaches the database.
CREATE TABLE google_credentials (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The staff member whose grant this is; NULL for a service account.
    staff_id                uuid REFERENCES staff (id) ON DELETE CASCADE,
    kind                    text NOT NULL CHECK (kind IN ('oauth', 'service_account')),
    -- `sign_in`: a teacher's Classroom access; `drive_operator`: the school's Drive work.
    purpose                 text NOT NULL CHECK (purpose IN ('sign_in', 'drive_operator')),
    -- The Google account the credential acts as.
    account_email           text NOT NULL CHECK (position('@' IN account_email) > 1),
    scopes                  text[] NOT NULL DEFAULT '{}',
    refresh_token           text,
    service_account_key     text,
    access_token            text,
    access_token_expires_at timestamptz,
    status                  text NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'needs_reconnect')),
    status_reason           text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT google_credentials_secret_matches_kind CHECK (
        (kind = 'oauth' AND refresh_token IS NOT NULL AND service_account_key IS NULL)
        OR (kind = 'service_account' AND service_account_key IS NOT NULL AND refresh_token IS NULL)),
    CONSTRAINT google_credentials_oauth_has_staff CHECK (kind <> 'oauth' OR staff_id IS NOT NULL),
    CONSTRAINT google_credentials_access_token_expiry
        CHECK ((access_token IS NULL) = (access_token_expires_at IS NULL))
);
COMMENT ON TABLE google_credentials IS 'Encrypted Google grants: staff sign-in tokens and the school''s Drive operator.';
-- One sign-in grant per staff member, and one Drive operator per school.
CREATE UNIQUE INDEX google_credentials_sign_in ON google_credentials (staff_id) WHERE purpose = 'sign_in';
CREATE UNIQUE INDEX google_credentials_drive_operator ON google_credentials ((true)) WHERE purpose = 'drive_operator';
