package natsconn

import (
	"net/url"
	"strings"
)

// redacted replaces a password or token in a server URL.
const redacted = "xxxxx"

// Redact returns a comma-separated list of server URLs with every password
// and token hidden: "nats://u:secret@h:4222" becomes "nats://u:xxxxx@h:4222"
// and a token URL "nats://tok@h" becomes "nats://xxxxx@h". An entry that does
// not parse as a URL keeps nothing of what stands before its last "@".
func Redact(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		parts[i] = redactURL(p)
	}
	return strings.Join(parts, ",")
}

func redactURL(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	u, err := url.Parse(withScheme(strings.TrimSpace(s)))
	if err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
		// nats.go sends a user without a password as a token.
		u.User = url.User(redacted)
		return u.String()
	}
	// Not a URL: everything before the last "@" may be secret.
	start := 0
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		start = i + len("://")
	}
	return s[:start] + redacted + s[at:]
}

// withScheme adds nats:// to a URL without a scheme, as nats.go does.
func withScheme(s string) string {
	if !strings.Contains(s, "://") {
		return "nats://" + s
	}
	return s
}

// checkURLs refuses a server URL that does not parse, naming it redacted:
// nats.go's own error would quote it whole, password included.
func checkURLs(list string) error {
	for p := range strings.SplitSeq(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := url.Parse(withScheme(p)); err != nil {
			return &urlError{url: redactURL(p)}
		}
	}
	return nil
}

// urlError is a server URL that does not parse; its text holds the URL
// redacted and none of the parser's detail, which can quote the password.
type urlError struct{ url string }

func (e *urlError) Error() string { return "server URL " + e.url + " does not parse" }
func (e *urlError) Unwrap() error { return ErrInvalidConfig }
