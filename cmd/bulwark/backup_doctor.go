package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// backupMaxAgeVar is how old the last backup may be before doctor warns.
const backupMaxAgeVar = "BULWARK_BACKUP_MAX_AGE"

const defaultBackupMaxAge = 48 * time.Hour

// backupCheck reports the age of the last backup made of the data folder
// data (its last-backup.json, which bulwark backup writes), warning when
// there is none or it is older than BULWARK_BACKUP_MAX_AGE. now is the
// time to measure from.
func backupCheck(data string, pg bool, now time.Time) check {
	const name = "backup"
	if pg {
		return check{name, "ok", "the store is in PostgreSQL: back it up with pg_dump (bulwark backup covers SQLite installations; see the README)"}
	}
	maxAge, err := envDuration(backupMaxAgeVar, defaultBackupMaxAge)
	if err != nil {
		return check{name, "FAIL", userMessage(err)}
	}
	b, err := os.ReadFile(filepath.Join(data, lastBackupFile))
	if errors.Is(err, fs.ErrNotExist) {
		return check{name, "warn", "no backup recorded: run bulwark backup --out FILE (from cron or a systemd timer), and keep the master key apart from it"}
	}
	var lb lastBackup
	if err == nil {
		err = json.Unmarshal(b, &lb)
	}
	if err != nil || lb.Time.IsZero() {
		return check{name, "warn", "the record of the last backup (" + lastBackupFile + ") cannot be read: run bulwark backup --out FILE"}
	}
	age := now.Sub(lb.Time)
	if age < -time.Minute { // a clock set back, or a forged record: it would say "ok" for ever
		return check{name, "warn", fmt.Sprintf("the record of the last backup (%s) is dated %s, in the future: check the clock, and run bulwark backup --out FILE", lastBackupFile, lb.Time.UTC().Format(time.RFC3339))}
	}
	what := fmt.Sprintf("the last backup, %s, was made %s ago", printable(lb.File), ageText(age))
	if age > maxAge {
		return check{name, "warn", fmt.Sprintf("%s, more than %s (%s): run bulwark backup --out FILE", what, ageText(maxAge), backupMaxAgeVar)}
	}
	return check{name, "ok", what}
}

// ageText writes a duration for people: 45m, 5h, 3 days.
func ageText(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 72*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
