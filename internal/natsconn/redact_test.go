package natsconn

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://h1:4222", "nats://h1:4222"},
		{"nats://u:secret@h1:4222,nats://h2:4222", "nats://u:xxxxx@h1:4222,nats://h2:4222"},
		{"nats://token@h1:4222", "nats://xxxxx@h1:4222"},
		{"u:secret@h1", "nats://u:xxxxx@h1"},
		{"nats://bob:secret@[::1", "nats://xxxxx@[::1"},
		{"nats://bob:se/cr@t@h:4222", "nats://xxxxx@h:4222"},
		{"nats://a:b@h1, nats://bob:secret@[::1", "nats://a:xxxxx@h1, nats://xxxxx@[::1"},
		{"", ""},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestConnectUnparsableURLHidesPassword gives Connect a URL nats.go cannot
// parse: its own error would quote the URL, password and all.
func TestConnectUnparsableURLHidesPassword(t *testing.T) {
	for _, url := range []string{"nats://bob:secret@[::1", "nats://127.0.0.1:1,nats://bob:secret@h:se/cret"} {
		_, err := Connect(context.Background(), Config{URL: url})
		if err == nil || strings.Contains(err.Error(), "secret") || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Connect(%q): %v; want ErrInvalidConfig without the password", url, err)
		}
	}
}
