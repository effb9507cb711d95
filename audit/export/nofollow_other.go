//go:build !unix

package export

// oNoFollow is 0 where there is no O_NOFOLLOW: openExportFile's Lstat
// check stands alone.
const oNoFollow = 0
