-- Nothing in the tables changes. This version marks the data folders whose
-- task changes move the task versions in bulwark.db-tasks
-- (sqlite/taskversion.go), on which servers keep task answers. A binary
-- older than it would change tasks without moving their versions, and a
-- server would go on serving what it kept; with this version in the
-- database such a binary refuses the data folder ("written by a newer
-- version of bulwark") instead.
SELECT 1;
