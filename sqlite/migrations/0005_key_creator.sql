-- The user whose rights an API key carries: the user who made it, or who
-- made the key that made it. A key's role is bounded by that user's
-- current role at each use, and the key goes when the user does (ON
-- DELETE CASCADE). NULL for keys made by the operator's commands
-- ("bulwark tenants create", "bulwark keys create"), bounded only by
-- their own role.
ALTER TABLE api_keys ADD COLUMN creator_user TEXT REFERENCES users (id) ON DELETE CASCADE;

-- The key that made the key, if one did: revoking a key revokes the keys
-- it made (delegation never outlives the delegator).
ALTER TABLE api_keys ADD COLUMN creator_key TEXT REFERENCES api_keys (id) ON DELETE CASCADE;

-- Keys made before these columns: their maker is in created_by, as
-- "user:u_..." or "key:k_..." (whose user is its own maker's).
UPDATE api_keys SET creator_user = substr(created_by, 6)
WHERE created_by LIKE 'user:%'
  AND substr(created_by, 6) IN (SELECT id FROM users WHERE users.tenant_id = api_keys.tenant_id);

WITH RECURSIVE chain (key_id, uid) AS (
	SELECT id, creator_user FROM api_keys WHERE creator_user IS NOT NULL
	UNION
	SELECT k.id, c.uid FROM api_keys k JOIN chain c ON k.created_by = 'key:' || c.key_id
)
UPDATE api_keys SET creator_user = (SELECT uid FROM chain WHERE chain.key_id = api_keys.id)
WHERE creator_user IS NULL AND created_by LIKE 'key:%';

UPDATE api_keys SET creator_key = substr(created_by, 5)
WHERE created_by LIKE 'key:%'
  AND substr(created_by, 5) IN (SELECT id FROM api_keys k WHERE k.tenant_id IS api_keys.tenant_id);

CREATE INDEX api_keys_creator ON api_keys (creator_user);
CREATE INDEX api_keys_creator_key ON api_keys (creator_key);
