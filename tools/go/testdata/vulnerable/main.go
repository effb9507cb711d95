// Command vulnerable is the scan's known positive: it calls
// golang.org/x/text/language.Parse at v0.3.6, which GO-2021-0113 (an
// out-of-bounds read, fixed in v0.3.7) affects. .ci/scan runs govulncheck
// on it with the offline database and fails unless that finding is
// reported, so a database that was converted wrong, or read by no one,
// cannot pass as a clean scan of Bulwark.
package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
)

func main() {
	tag, err := language.Parse(os.Args[len(os.Args)-1])
	fmt.Println(tag, err)
}
