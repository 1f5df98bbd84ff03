-- Which addresses are staff's, as the School Admin says: patterns such as
-- '*@staff.hillside.sch.uk' (`*` any run, `?` one character), lower case, checked by the service
-- (src/auth/staff_addresses.rs). Teaching a Google Classroom class makes someone a Teacher only
-- if their address matches one: Classroom lets students create classes too.
--
-- Empty, the default for every school (existing ones included), means Classroom alone makes
-- nobody a Teacher: staff come in by invitation or a role until the School Admin lists the
-- school's staff addresses. Teachers who already hold a role keep it.
ALTER TABLE platform.tenants
    ADD COLUMN staff_addresses text[] NOT NULL DEFAULT '{}'
        CONSTRAINT tenants_staff_addresses_bounded CHECK (cardinality(staff_addresses) <= 50);
