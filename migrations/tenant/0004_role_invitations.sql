-- Roles given to people by email before they first sign in (the first School Admin named at
-- `tenant create --admin-email`, or staff a School Admin adds). On a verified sign-in with that
-- email the invitation becomes a role assignment and is removed.
CREATE TABLE role_invitations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email      text NOT NULL CHECK (email = lower(email) AND position('@' IN email) > 1),
    role       text NOT NULL CONSTRAINT role_invitations_role_known CHECK (role IN (
                   'teacher', 'head_of_subject', 'exams_officer', 'headteacher', 'school_admin')),
    subject_id uuid REFERENCES subjects (id) ON DELETE CASCADE,
    invited_by uuid REFERENCES staff (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT role_invitations_subject_only_for_heads
        CHECK ((role = 'head_of_subject') = (subject_id IS NOT NULL)),
    CONSTRAINT role_invitations_unique UNIQUE NULLS NOT DISTINCT (email, role, subject_id)
);
COMMENT ON TABLE role_invitations IS 'Roles waiting for a person''s first sign-in, by email.';
