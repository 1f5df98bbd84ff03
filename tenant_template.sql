-- Version 1 of a school's schema. Provisioning runs this with search_path set to the school's
-- own schema, so every name here is unqualified. Later changes go in migrations/tenant/, never
-- here: a school provisioned today and one provisioned a year ago must end identical.
--
-- Personal data kept to what the service needs: names and email addresses of staff and students
-- as Classroom reports them, and Google's stable ids. Audit details hold ids, never names.

-- Subjects group classes (courses) for Heads of Subject and for the Drive folder tree.
CREATE TABLE subjects (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL CONSTRAINT subjects_name_key UNIQUE
                    CHECK (length(btrim(name)) BETWEEN 1 AND 120),
    drive_folder_id text CONSTRAINT subjects_drive_folder_id_key UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE subjects IS 'Subjects of study; each has a Drive folder holding its classes'' folders.';

-- Staff who sign in: keyed by Google's `sub`, which never changes while an email address can.
CREATE TABLE staff (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    google_sub   text NOT NULL CONSTRAINT staff_google_sub_key UNIQUE,
    email        text NOT NULL CHECK (position('@' IN email) > 1),
    display_name text NOT NULL DEFAULT '',
    given_name   text,
    family_name  text,
    photo_url    text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE staff IS 'Teachers and other staff known from sign-in or Classroom rosters.';
CREATE INDEX staff_email ON staff (lower(email));

-- Roles held in this school. Heads of Subject hold one row per subject; other roles have none.
CREATE TABLE role_assignments (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    staff_id   uuid NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    role       text NOT NULL CONSTRAINT role_assignments_role_known CHECK (role IN (
                   'teacher', 'head_of_subject', 'exams_officer', 'headteacher', 'school_admin')),
    subject_id uuid REFERENCES subjects (id) ON DELETE CASCADE,
    granted_by uuid REFERENCES staff (id) ON DELETE SET NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT role_assignments_subject_only_for_heads
        CHECK ((role = 'head_of_subject') = (subject_id IS NOT NULL)),
    CONSTRAINT role_assignments_unique UNIQUE NULLS NOT DISTINCT (staff_id, role, subject_id)
);
COMMENT ON TABLE role_assignments IS 'Which staff member holds which role (and, for heads, which subject).';
CREATE INDEX role_assignments_subject ON role_assignments (subject_id) WHERE subject_id IS NOT NULL;

-- Classes as Google Classroom courses; a course Classroom stops returning becomes inactive.
CREATE TABLE courses (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    classroom_id        text NOT NULL CONSTRAINT courses_classroom_id_key UNIQUE,
    name                text NOT NULL,
    section             text,
    subject_id          uuid REFERENCES subjects (id) ON DELETE SET NULL,
    classroom_state     text NOT NULL DEFAULT 'ACTIVE' CHECK (classroom_state IN (
                            'ACTIVE', 'ARCHIVED', 'PROVISIONED', 'DECLINED', 'SUSPENDED',
                            'COURSE_STATE_UNSPECIFIED')),
    active              boolean NOT NULL DEFAULT true,
    teacher_group_email text,
    drive_folder_id     text CONSTRAINT courses_drive_folder_id_key UNIQUE,
    last_synced_at      timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE courses IS 'Classes synced from Google Classroom, each with its Drive class folder.';
CREATE INDEX courses_subject ON courses (subject_id);

-- Who teaches which class, as Classroom reports it.
CREATE TABLE course_teachers (
    course_id  uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    staff_id   uuid NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (course_id, staff_id)
);
COMMENT ON TABLE course_teachers IS 'The teachers of each class, from Classroom rosters.';
CREATE INDEX course_teachers_staff ON course_teachers (staff_id);

-- Students are data subjects: they never sign in. `erased_at` marks a completed erasure request.
CREATE TABLE students (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    classroom_user_id  text NOT NULL CONSTRAINT students_classroom_user_id_key UNIQUE,
    email              text,
    given_name         text,
    family_name        text,
    erased_at          timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE students IS 'Students from Classroom rosters, whose portfolio folders the service manages.';
CREATE INDEX students_email ON students (lower(email));

-- A student's membership of a class; leaving sets `ended_at`, rejoining clears it.
CREATE TABLE enrolments (
    course_id  uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    student_id uuid NOT NULL REFERENCES students (id) ON DELETE CASCADE,
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at   timestamptz,
    PRIMARY KEY (course_id, student_id),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
COMMENT ON TABLE enrolments IS 'Which students are (or were) in which class.';
CREATE INDEX enrolments_student ON enrolments (student_id);

-- One Drive folder per student per class. `desired` is what staff asked for; `applied` is what
-- Drive last confirmed. The row is the outbox: a version lagging behind is work still to do.
CREATE TABLE portfolios (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id         uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    student_id        uuid NOT NULL REFERENCES students (id) ON DELETE CASCADE,
    drive_folder_id   text CONSTRAINT portfolios_drive_folder_id_key UNIQUE,
    permission_id     text,
    desired           text NOT NULL DEFAULT 'unlocked' CHECK (desired IN ('locked', 'unlocked')),
    desired_version   bigint NOT NULL DEFAULT 0 CHECK (desired_version >= 0),
    desired_at        timestamptz NOT NULL DEFAULT now(),
    applied           text CHECK (applied IN ('locked', 'unlocked')),
    applied_version   bigint NOT NULL DEFAULT 0 CHECK (applied_version >= 0),
    applied_at        timestamptz,
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error        text,
    failed_permanently boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT portfolios_course_student_key UNIQUE (course_id, student_id),
    CONSTRAINT portfolios_applied_not_ahead CHECK (applied_version <= desired_version),
    CONSTRAINT portfolios_permission_needs_folder CHECK (permission_id IS NULL OR drive_folder_id IS NOT NULL)
);
COMMENT ON TABLE portfolios IS 'Each student''s Drive portfolio folder in a class, with its lock state.';
CREATE INDEX portfolios_student ON portfolios (student_id);
-- The sweeper's question: which requests have waited longest without being applied?
CREATE INDEX portfolios_pending ON portfolios (desired_at)
    WHERE applied_version < desired_version AND NOT failed_permanently;

-- Append-only, hash-chained record of every action. Rows are never changed or removed.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    target_type text,
    target_id   text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash   bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash        bytea NOT NULL CONSTRAINT audit_log_hash_key UNIQUE CHECK (length(hash) = 32)
);
COMMENT ON TABLE audit_log IS 'Append-only, hash-chained log of every action taken in this school.';
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, id);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
COMMENT ON FUNCTION audit_log_refuse_change() IS 'Rejects any change to audit_log rows, even by the schema owner.';

CREATE TRIGGER audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
