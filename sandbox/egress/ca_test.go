package egress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// A task CA is an ECDSA P-256 CA that may sign only leaves; its leaves are
// valid for their host and no other, are cached, and verify only against
// their own CA, never another task's.
func TestCA(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(ca.CertPEM())
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("CertPEM = %q, want one PEM certificate", ca.CertPEM())
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key = %T, want ECDSA P-256", cert.PublicKey)
	}
	if !cert.IsCA || !cert.MaxPathLenZero || cert.MaxPathLen != 0 {
		t.Errorf("CA: IsCA %v, MaxPathLen %d (zero %v), want a CA that signs only leaves", cert.IsCA, cert.MaxPathLen, cert.MaxPathLenZero)
	}
	mine, theirs := x509.NewCertPool(), x509.NewCertPool()
	mine.AddCert(cert)
	theirs.AddCert(other.Certificate())

	leaf, err := ca.Leaf("api.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ca.Leaf("api.example.com"); again != leaf {
		t.Errorf("Leaf twice for one host minted two certificates, want the cached one")
	}
	verify := []struct {
		host  string
		roots *x509.CertPool
		ok    bool
	}{
		{"api.example.com", mine, true},
		{"other.example.com", mine, false},
		{"example.com", mine, false},
		{"api.example.com", theirs, false},
		{"api.example.com", nil, false}, // the system roots do not know it
	}
	for _, tt := range verify {
		_, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: tt.host, Roots: tt.roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if (err == nil) != tt.ok {
			t.Errorf("leaf for api.example.com verified for %q (own roots %v): err %v, want ok=%v", tt.host, tt.roots == mine, err, tt.ok)
		}
	}
	if leaf.Leaf.IsCA {
		t.Errorf("a leaf is a CA")
	}
	if _, ok := leaf.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("leaf key = %T, want ECDSA", leaf.PrivateKey)
	}
}
