-- A school may connect up to eight Drive operator accounts (each a Manager of its Shared Drive):
-- Google's per-user quota applies to each, so a cohort's locks spread over them. One row per
-- account: the same account cannot be connected twice, though one being revoked (removed, or its
-- connecting admin left) may be connected again at once. The limit of eight is kept by the
-- service, under a lock taken when an account is added.
DROP INDEX google_credentials_drive_operator;
CREATE UNIQUE INDEX google_credentials_drive_operator_account ON google_credentials (account_email)
    WHERE purpose = 'drive_operator' AND status <> 'revoking';
COMMENT ON TABLE google_credentials IS 'Encrypted Google grants: staff sign-in tokens and the school''s Drive operator accounts.';
