package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
)

// contentSecurityPolicy allows the dashboard's own scripts, styles and
// live streams only: no inline script or style, no other origin, no
// framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// csrfCookie holds a browser's random nonce; a form's csrf field is its
// HMAC under the server's key, so only pages this server rendered for
// this browser can post.
const (
	csrfCookie = "jetrun_csrf"
	csrfField  = "csrf"
)

// secure wraps h in the dashboard's checks, outermost first: security
// headers, the Host check (loopback without a token), the token, and
// cross-origin protection for every request that is not GET or HEAD.
func (s *Server) secure(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	h = cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		if s.cfg.Token == "" && !loopbackHost(r.Host) {
			// Without a token only the local machine may ask, by a local
			// name: a page elsewhere whose name resolves to 127.0.0.1
			// (DNS rebinding) is refused.
			http.Error(w, "dashboard: Host "+r.Host+" refused: without a token only localhost and loopback addresses are served", http.StatusMisdirectedRequest)
			return
		}
		if s.cfg.Token != "" && !s.authorized(r) {
			hd.Set("WWW-Authenticate", `Basic realm="jetrun dashboard", charset="UTF-8"`)
			http.Error(w, "dashboard: token required (Authorization: Bearer TOKEN, or basic auth with TOKEN as the password)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names the local machine.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	return IsLoopback(host)
}

// authorized reports whether r carries the token.
func (s *Server) authorized(r *http.Request) bool {
	var got string
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = v
	} else if _, p, ok := r.BasicAuth(); ok {
		got = p
	} else {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

// csrfToken returns the token forms rendered for r carry, setting r's
// browser a nonce cookie when it has none.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	nonce := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 16 {
		nonce = c.Value
	} else {
		b := make([]byte, 18)
		_, _ = rand.Read(b)
		nonce = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: nonce, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		// Every form of this response carries the one nonce set.
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: nonce})
	}
	return s.csrfFor(nonce)
}

func (s *Server) csrfFor(nonce string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfOK reports whether a POST carries the token of its browser's nonce.
func (s *Server) csrfOK(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(s.csrfFor(c.Value)))
}
