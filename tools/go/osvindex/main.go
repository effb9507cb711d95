// Command osvindex turns a folder of OSV entries, as the Go vulnerability
// database's module (golang.org/x/vulndb, data/osv) holds them, into the
// layout `govulncheck -db file://DIR` reads (the v1 database of
// https://go.dev/security/vuln/database): index/db.json,
// index/modules.json, index/vulns.json and ID/GO-YYYY-NNNN.json. CI
// (.ci/scan) uses it to scan offline, with a database pinned by version
// and checksum.
//
// The modules index leaves out each vulnerability's "fixed" version on
// purpose: it only lets govulncheck skip reading an entry, and a wrong one
// would hide a finding, while without it govulncheck reads every entry of
// a module it sees and checks the ranges there itself.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	osvDir := flag.String("osv", "", "folder of OSV entries (GO-YYYY-NNNN.json)")
	out := flag.String("out", "", "folder to write the database to (must not exist)")
	modified := flag.String("modified", "", "when the database was last modified (RFC 3339), if later than every entry says")
	flag.Parse()
	if *osvDir == "" || *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: osvindex -osv DIR -out DIR [-modified RFC3339]")
		os.Exit(2)
	}
	var at time.Time
	if *modified != "" {
		t, err := time.Parse(time.RFC3339, *modified)
		if err != nil {
			fmt.Fprintf(os.Stderr, "osvindex: -modified %q is not an RFC 3339 time\n", *modified)
			os.Exit(2)
		}
		at = t
	}
	n, err := build(*osvDir, *out, at)
	if err != nil {
		fmt.Fprintln(os.Stderr, "osvindex:", err)
		os.Exit(1)
	}
	fmt.Printf("osvindex: %d entries written to %s\n", n, *out)
}
