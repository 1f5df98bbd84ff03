-- The access we have given to each class folder: the course's teacher group, or each teacher
-- where Classroom gives no group. Kept so that a change of teachers is followed in Drive: a new
-- teacher is given access, one who has left loses it.
CREATE TABLE class_folder_grants (
    course_id      uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    grantee_type   text NOT NULL CHECK (grantee_type IN ('user', 'group')),
    email          text NOT NULL CHECK (position('@' IN email) > 1),
    permission_id  text NOT NULL,
    granted_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (course_id, grantee_type, email)
);
COMMENT ON TABLE class_folder_grants IS 'Teachers'' (or teacher groups'') access to class folders, as given in Drive.';
