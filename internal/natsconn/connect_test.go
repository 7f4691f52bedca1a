package natsconn

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/jetrun/jetrun/internal/natstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testFlags = Flags{URL: "--nats", Creds: "--creds", Inbox: "--inbox-prefix or JETRUN_INBOX_PREFIX", Role: "worker"}

// TestInboxPrefixAgainstPermissions connects as a NATS user that may only
// receive replies under _INBOX_worker, as nats.conf's worker: with that
// prefix JetStream calls work; with the default one Connect says which
// setting to change instead of letting the first request time out.
func TestInboxPrefixAgainstPermissions(t *testing.T) {
	srv := natstest.StartWith(t, &server.Options{Users: []*server.User{{
		Username: "worker", Password: "pw",
		Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX_worker.>"}},
		},
	}}})
	url := strings.Replace(srv.ClientURL(), "nats://", "nats://worker:pw@", 1)
	cfg := Config{URL: url, Name: "test", Logger: slog.New(slog.DiscardHandler), Flags: testFlags}

	cfg.InboxPrefix = "_INBOX_worker"
	nc, err := Connect(t.Context(), cfg)
	if err != nil {
		t.Fatalf("allowed prefix: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatalf("JetStream call with the allowed prefix: %v", err)
	}

	cfg.InboxPrefix = ""
	_, err = Connect(t.Context(), cfg)
	if !errors.Is(err, nats.ErrPermissionViolation) || !errors.Is(err, ErrRepliesRefused) ||
		!strings.Contains(err.Error(), "_INBOX.>") || !strings.Contains(err.Error(), "--inbox-prefix or JETRUN_INBOX_PREFIX") ||
		!strings.Contains(err.Error(), "_INBOX_worker with nats.conf") {
		t.Fatalf("default prefix: %v; want a permission violation naming the setting and _INBOX_worker", err)
	}
}

func TestConnectErrors(t *testing.T) {
	srv := natstest.StartWith(t, &server.Options{Users: []*server.User{{Username: "u", Password: "right"}}})
	wrong := strings.Replace(srv.ClientURL(), "nats://", "nats://u:wrong@", 1)
	_, err := Connect(t.Context(), Config{URL: wrong, Flags: testFlags})
	if !errors.Is(err, nats.ErrAuthorization) || strings.Contains(err.Error(), "wrong") || !strings.Contains(err.Error(), "check --creds") {
		t.Errorf("wrong password: %v; want an authorization error, redacted, naming --creds", err)
	}
	_, err = Connect(t.Context(), Config{URL: "nats://127.0.0.1:1", Flags: testFlags})
	if err == nil || !strings.Contains(err.Error(), "cannot reach NATS at nats://127.0.0.1:1") || !strings.Contains(err.Error(), "set --nats") {
		t.Errorf("no server: %v", err)
	}
	for _, cfg := range []Config{
		{URL: srv.ClientURL(), Creds: "a", NKey: "b"},
		{URL: srv.ClientURL(), Creds: t.TempDir() + "/missing.creds"},
		{URL: srv.ClientURL(), InboxPrefix: "_INBOX.>"},
	} {
		if _, err := Connect(t.Context(), cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Connect(%+v): %v; want ErrInvalidConfig", cfg, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Connect(ctx, Config{URL: srv.ClientURL()}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestEmbedded(t *testing.T) {
	srv, err := Embedded{Name: "test", Listen: "127.0.0.1:0", StoreDir: t.TempDir()}.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	nc, err := Connect(t.Context(), Config{Server: srv, Name: "in-process"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Errorf("JetStream on the embedded server: %v", err)
	}
	for _, bad := range []string{"nohost", "127.0.0.1:x", "127.0.0.1:70000"} {
		if _, err := (Embedded{Listen: bad, StoreDir: t.TempDir()}).Start(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Listen %q: %v; want ErrInvalidConfig", bad, err)
		}
	}
}

// A second embedded server on a taken port fails at once with the bind
// error, and one on a store directory another server holds is refused;
// the directory is free again after Shutdown.
func TestEmbeddedPortTakenAndStoreLocked(t *testing.T) {
	dir := t.TempDir()
	first, err := Embedded{Name: "first", Listen: "127.0.0.1:0", StoreDir: dir}.Start()
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(first.ClientURL(), "nats://")
	_, err = Embedded{Name: "same-port", Listen: addr, StoreDir: t.TempDir()}.Start()
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("second server on %s: %v; want the bind error", addr, err)
	}
	_, err = Embedded{Name: "same-dir", Listen: "127.0.0.1:0", StoreDir: dir}.Start()
	if !errors.Is(err, ErrStoreInUse) || !strings.Contains(err.Error(), dir) {
		t.Errorf("second server on store %s: %v; want ErrStoreInUse naming it", dir, err)
	}
	first.Shutdown()
	again, err := Embedded{Name: "again", Listen: "127.0.0.1:0", StoreDir: dir}.Start()
	if err != nil {
		t.Fatalf("store %s after Shutdown: %v", dir, err)
	}
	again.Shutdown()
}
