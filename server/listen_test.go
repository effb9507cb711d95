package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckListen(t *testing.T) {
	t.Parallel()
	cases := []struct {
		lc       ListenConfig
		ok, warn bool
	}{
		{ListenConfig{Addr: "127.0.0.1:8080"}, true, false},
		{ListenConfig{Addr: "[::1]:8080"}, true, false},
		{ListenConfig{Addr: "localhost:8080"}, true, false},
		{ListenConfig{Addr: "0.0.0.0:8080"}, false, false},
		{ListenConfig{Addr: ":8080"}, false, false},
		{ListenConfig{Addr: "192.0.2.1:8080"}, false, false},
		{ListenConfig{Addr: "0.0.0.0:8080", InsecureHTTP: true}, true, true},
		{ListenConfig{Addr: "0.0.0.0:8443", CertFile: "c", KeyFile: "k"}, true, false},
		{ListenConfig{Addr: "0.0.0.0:8443", CertFile: "c"}, false, false},
		{ListenConfig{Addr: "nonsense"}, false, false},
	}
	for _, c := range cases {
		warn, err := CheckListen(c.lc)
		if (err == nil) != c.ok || (warn != "") != c.warn {
			t.Errorf("CheckListen(%+v) = %q, %v; want ok %v, warning %v", c.lc, warn, err, c.ok, c.warn)
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bulwark test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// fakeRuntime counts shutdowns; its other methods are never called here.
type fakeRuntime struct {
	Runtime
	shutdowns atomic.Int32
}

func (f *fakeRuntime) Shutdown(context.Context) error { f.shutdowns.Add(1); return nil }

// TestServeTLS serves on loopback with a self-signed certificate: HSTS is
// sent, TLS 1.1 is refused, and cancellation shuts down the runtime too.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	rt := &fakeRuntime{}
	e := newEnv(t, func(c *Config) { c.Runtime = rt })
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- e.srv.ListenAndServe(ctx, ListenConfig{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}, func(a net.Addr) { addrs <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("ListenAndServe: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + addr.String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != hsts {
		t.Errorf("GET /healthz over TLS = %d, HSTS %q; want 200 and %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"), hsts)
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get("https://" + addr.String() + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}
	plain, err := http.Get("http://" + addr.String() + "/healthz")
	if err == nil {
		if plain.StatusCode == 200 {
			t.Error("plain HTTP was served on the TLS port")
		}
		plain.Body.Close()
	}
	client.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ListenAndServe after cancel = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ListenAndServe did not return after cancel")
	}
	if rt.shutdowns.Load() != 1 {
		t.Errorf("Runtime.Shutdown called %d times, want 1", rt.shutdowns.Load())
	}
}

func TestListenRefusesOpenPlainHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	err := e.srv.ListenAndServe(context.Background(), ListenConfig{Addr: "0.0.0.0:0"}, nil)
	if err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("ListenAndServe on 0.0.0.0 without TLS = %v, want a refusal naming TLS", err)
	}
}
