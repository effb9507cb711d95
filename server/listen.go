package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// ListenConfig is where and how ListenAndServe listens.
type ListenConfig struct {
	Addr string // host:port; the default is 127.0.0.1:8080
	// CertFile and KeyFile, both set, serve HTTPS (TLS 1.2 and up) with
	// HSTS.
	CertFile, KeyFile string
	// InsecureHTTP allows plain HTTP on an address other than loopback.
	InsecureHTTP bool
	// ShutdownTimeout bounds the graceful shutdown (default 30s).
	ShutdownTimeout time.Duration
}

// DefaultAddr is the address served when none is given: this machine only.
const DefaultAddr = "127.0.0.1:8080"

// Timeouts of the HTTP server. Long-lived responses (Server-Sent Events)
// extend their own write deadline with http.ResponseController.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 60 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// CheckListen checks a listen configuration before anything is opened. A
// plain-HTTP address that is not loopback is refused unless InsecureHTTP
// is set, and then it returns a warning to show. Errors are meant for the
// command line.
func CheckListen(lc ListenConfig) (warning string, err error) {
	if (lc.CertFile == "") != (lc.KeyFile == "") {
		return "", errors.New("give both --tls-cert and --tls-key, or neither")
	}
	host, port, err := net.SplitHostPort(lc.Addr)
	if err != nil || port == "" {
		return "", fmt.Errorf("--addr %q: want HOST:PORT, such as %s", lc.Addr, DefaultAddr)
	}
	if lc.CertFile != "" || isLoopbackHost(host) {
		return "", nil
	}
	if !lc.InsecureHTTP {
		return "", fmt.Errorf("--addr %s is reachable from other machines: serve it with TLS (--tls-cert and --tls-key), "+
			"or put a TLS proxy in front and pass --insecure-http", lc.Addr)
	}
	return fmt.Sprintf("WARNING: serving plain HTTP on %s, which other machines can reach: passwords, keys and "+
		"session cookies cross the network unencrypted unless a TLS proxy is in front; browsers will not keep the "+
		"session cookie over plain HTTP", lc.Addr), nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// ListenAndServe serves the handler on lc.Addr until ctx is canceled (the
// serve command cancels it on SIGINT and SIGTERM). Then it stops
// accepting, waits for requests in flight (up to ShutdownTimeout), and
// calls the Runtime's Shutdown. ready, if not nil, is called with the
// address once listening. The caller closes the store and the audit log
// after it returns.
func (s *Server) ListenAndServe(ctx context.Context, lc ListenConfig, ready func(net.Addr)) error {
	if lc.Addr == "" {
		lc.Addr = DefaultAddr
	}
	if _, err := CheckListen(lc); err != nil {
		return err
	}
	var tlsConf *tls.Config
	if lc.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(lc.CertFile, lc.KeyFile)
		if err != nil {
			return fmt.Errorf("the TLS certificate and key cannot be used: %w", err)
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", lc.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", lc.Addr, err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	hs.RegisterOnShutdown(s.tasks.closeStreams) // streams end, so Shutdown need not wait for them
	if ready != nil {
		ready(ln.Addr())
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	if s.cfg.Audit != nil {
		actx, stop := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { s.runAudit(actx); close(done) }()
		defer func() { stop(); <-done }()
	}
	select {
	case err := <-served:
		return fmt.Errorf("serving stopped: %w", err)
	case <-ctx.Done():
	}
	timeout := lc.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	err = hs.Shutdown(sctx)
	if s.cfg.Runtime != nil {
		err = errors.Join(err, s.cfg.Runtime.Shutdown(sctx))
	}
	<-served
	return err
}
