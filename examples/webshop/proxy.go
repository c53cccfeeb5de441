package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// proxy is a small round-robin reverse proxy: each request goes to the
// next web server in turn, and to the one after it when a web server
// cannot be connected to (the request never reached it, so sending it
// elsewhere is safe).
type proxy struct {
	backends []string // host:port
	next     atomic.Uint64
	tr       *http.Transport
}

func newProxy(backends []string) *proxy {
	return &proxy{backends: backends, tr: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 32,
	}}
}

// maxBody bounds a request's body, which the proxy holds to send again.
const maxBody = 1 << 20

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	start := p.next.Add(1)
	var lastErr error
	for i := range len(p.backends) {
		backend := p.backends[(start+uint64(i))%uint64(len(p.backends))]
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = "http", backend
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		out.Header.Set("X-Forwarded-For", clientIP(r))
		resp, err := p.tr.RoundTrip(out)
		if err != nil {
			lastErr = err
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				continue // never reached it: the next one
			}
			break
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		return
	}
	http.Error(w, "no web server answered: "+lastErr.Error(), http.StatusBadGateway)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
