-- School roles must reach nothing but their own schema. PostgreSQL's defaults give every role
-- (PUBLIC) temporary tables in this database and, before version 15, CREATE in `public`.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
