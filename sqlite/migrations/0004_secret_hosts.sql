-- hosts are the host patterns a secret is bound to ("api.github.com",
-- "*.example.com"), comma-separated, sorted; empty for an unbound secret.
-- They stay in the clear for listings, and are bound into the associated
-- data of value_ct, so a changed column makes the value fail to open.
ALTER TABLE secrets ADD COLUMN hosts TEXT NOT NULL DEFAULT '';
