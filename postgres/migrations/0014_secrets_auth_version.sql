-- A change of a tenant's secrets moves the version of migration 0009:
-- servers keep each tenant's secrets in memory, to mask what they show,
-- for as long as the version holds, so a secret added, changed or deleted
-- on any node (or by the CLI) is masked on every node at its next request.
CREATE TRIGGER secrets_auth_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON secrets
    FOR EACH STATEMENT EXECUTE FUNCTION bulwark_auth_changed();
