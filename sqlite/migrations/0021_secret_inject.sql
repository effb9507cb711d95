-- inject is where in a request to its hosts the egress proxy may put a
-- secret's value, beyond header values: '' for headers only (every secret
-- stored before this column, and the default), else "headers,url",
-- "headers,body" or "headers,url,body". Bound into the associated data of
-- value_ct when not '', so a widened column makes the value fail to open.
ALTER TABLE secrets ADD COLUMN inject TEXT NOT NULL DEFAULT '';
