-- What belongs to a school, and proof that its Shared Drive is its own.

-- Students in a school's classes whose address is outside the school's Workspace domain (a
-- guest from a partner school, a personal account): skipped by default and counted in the
-- sync run, or taken in when the School Admin says so.
ALTER TABLE platform.tenants
    ADD COLUMN outside_domain_students text NOT NULL DEFAULT 'skip'
        CONSTRAINT tenants_outside_domain_students_known CHECK (outside_domain_students IN ('skip', 'include'));

-- The last check of the Shared Drive through the school's Drive operator: its name as Drive
-- gave it and when. A drive is saved only after the check passed.
ALTER TABLE platform.tenants
    ADD COLUMN shared_drive_name text
        CONSTRAINT tenants_shared_drive_name_length CHECK (length(shared_drive_name) <= 200),
    ADD COLUMN shared_drive_checked_at timestamptz;

-- Two live schools can never share one Shared Drive: each school's folders and grants would be
-- in reach of the other's Drive work. Should two already hold the same drive, neither keeps it:
-- which is the rightful holder is for their School Admins to show, by saving it again through
-- the check. (Drives saved before the check existed are checked at their school's next sync.)
UPDATE platform.tenants SET shared_drive_id = NULL, updated_at = now()
WHERE shared_drive_id IN (
    SELECT shared_drive_id FROM platform.tenants
    WHERE status <> 'deleted' AND shared_drive_id IS NOT NULL
    GROUP BY shared_drive_id HAVING count(*) > 1
);
CREATE UNIQUE INDEX tenants_shared_drive_key
    ON platform.tenants (shared_drive_id) WHERE status <> 'deleted' AND shared_drive_id IS NOT NULL;
