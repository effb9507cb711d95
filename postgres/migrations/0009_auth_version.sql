-- The version of the authentication records (API keys, users, tenants'
-- settings): servers keep those records in memory and read this one row at
-- every request instead (bulwark.AuthVersioner), so that a key revoked,
-- a user demoted or deleted, or settings changed on any node fail or apply
-- on every node at the next request. Triggers move the version in the
-- transaction of each change, whoever makes it (a node, the CLI, an
-- operator at psql): it commits with the change or not at all. Each
-- database has its own; it is not copied between backends.
CREATE TABLE auth_version (
    id smallint PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO auth_version (id, version) VALUES (1, 0);

CREATE FUNCTION bulwark_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_auth_deleted AFTER DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION bulwark_auth_changed();
-- Recording a key's last use (at most once a minute) changes nothing that
-- authenticates; any other update of a key does.
CREATE TRIGGER api_keys_auth_updated AFTER UPDATE ON api_keys
    FOR EACH ROW WHEN ((to_jsonb(OLD) - 'last_used') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used'))
    EXECUTE FUNCTION bulwark_auth_changed();
CREATE TRIGGER users_auth_changed AFTER UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION bulwark_auth_changed();
CREATE TRIGGER settings_auth_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION bulwark_auth_changed();
