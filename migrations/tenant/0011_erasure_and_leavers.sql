-- Erasure, retention and leavers.

-- Students erased while Classroom still lists them: roster sync skips these Classroom users so
-- an erased student never comes back. Keyed by Classroom's id alone (no name, no address, not
-- our student id), so after an erasure no row outside the audit log holds the student's id.
-- `last_seen_at` moves on each time a sync skips them; the retention run removes a tombstone
-- Classroom has not shown for the school's retention period.
CREATE TABLE erased_classroom_users (
    classroom_user_id text PRIMARY KEY CHECK (length(classroom_user_id) BETWEEN 1 AND 200),
    erased_at         timestamptz NOT NULL DEFAULT now(),
    last_seen_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE erased_classroom_users IS 'Classroom users whose records were erased: roster sync does not take them in again.';

-- Never set by anything: an erased student's row is deleted, and the tombstone above stops
-- sync re-creating it. A column that could hold a half-erased student is better gone.
ALTER TABLE students DROP COLUMN erased_at;

-- When a member of staff left: their last role was taken away, or Classroom stopped listing
-- them as teaching any class. The retention run deletes them 30 days after.
ALTER TABLE staff ADD COLUMN left_at timestamptz;
CREATE INDEX staff_left ON staff (left_at) WHERE left_at IS NOT NULL;

-- A leaver's grant is set aside (`revoking`: nothing uses it from that moment) and revoked at
-- Google after the change is committed; a failed revocation is tried again a few times, later.
ALTER TABLE google_credentials DROP CONSTRAINT google_credentials_status_check;
ALTER TABLE google_credentials ADD CONSTRAINT google_credentials_status_check
    CHECK (status IN ('active', 'needs_reconnect', 'revoking'));
ALTER TABLE google_credentials
    ADD COLUMN revoke_attempts integer NOT NULL DEFAULT 0 CHECK (revoke_attempts >= 0),
    ADD COLUMN revoke_after timestamptz;
CREATE INDEX google_credentials_revoking ON google_credentials (revoke_after) WHERE status = 'revoking';

-- Invitations a School Admin makes lapse after 30 days unless accepted; the first School
-- Admin's invitation, made when the school was registered, has none (NULL), so a school is
-- never left with no way in.
ALTER TABLE role_invitations ADD COLUMN expires_at timestamptz;
UPDATE role_invitations SET expires_at = created_at + interval '30 days' WHERE invited_by IS NOT NULL;
