package server

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

// TestQRSVG: the image is well-formed SVG with no script or reference to
// anything, and draws every dark module of the code, at the code's size.
func TestQRSVG(t *testing.T) {
	text := "otpauth://totp/Bulwark:ann%40example.com%20%28acme%29?algorithm=SHA1&digits=6&issuer=Bulwark&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	svg, err := qrSVG(text)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name `xml:"svg"`
		ViewBox string   `xml:"viewBox,attr"`
		Path    struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	q, _ := qrcode.New(text, qrcode.Medium)
	bm := q.Bitmap()
	dark := 0
	for _, row := range bm {
		for _, d := range row {
			if d {
				dark++
			}
		}
	}
	if want := fmt.Sprintf("0 0 %d %d", len(bm), len(bm)); doc.ViewBox != want {
		t.Errorf("viewBox %q, want %q", doc.ViewBox, want)
	}
	if n := strings.Count(doc.Path.D, "M"); n != dark {
		t.Errorf("the path draws %d modules, the code has %d dark", n, dark)
	}
	lower := strings.ToLower(string(svg))
	for _, bad := range []string{"<script", "href=", "style", "<foreignobject", "url("} {
		if strings.Contains(lower, bad) {
			t.Errorf("the SVG holds %q", bad)
		}
	}
	if regexp.MustCompile(`\son[a-z]+=`).MatchString(lower) {
		t.Error("the SVG holds an event handler")
	}
}
