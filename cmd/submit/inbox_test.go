package main

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testproc"
)

// TestInboxPrefix runs submit as a NATS user that may only receive replies
// under _INBOX_submitter, as nats.conf's submitter: with --inbox-prefix (or
// JETRUN_INBOX_PREFIX) a task runs and its status is read back; with the
// default prefix submit says which flag to set, before publishing anything.
func TestInboxPrefix(t *testing.T) {
	srv := natstest.StartWith(t, &server.Options{
		Users: []*server.User{
			{Username: "worker", Password: "wpw"},
			{Username: "submitter", Password: "spw", Permissions: &server.Permissions{
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX_submitter.>", "jetrun.events.>"}},
			}},
		},
		// startWorker connects without credentials.
		NoAuthUser: "worker",
	})
	startWorker(t, srv)
	url := strings.Replace(srv.ClientURL(), "nats://", "nats://submitter:spw@", 1)
	submit := func(env map[string]string, args ...string) result {
		t.Helper()
		var stdout, stderr testproc.Buffer
		s := ioStreams{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
			lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
		code := exitStatus(s.run(t.Context(), append([]string{"--nats", url}, args...)), s.stderr)
		r := result{code, stdout.String(), stderr.String()}
		t.Logf("submit %q: exit %d\nstdout: %q\nstderr: %q", args, r.code, r.stdout, r.stderr)
		return r
	}

	if r := submit(nil, "--inbox-prefix", "_INBOX_submitter", "run", "--id", "inbox-1", "img", "--", "echo", "hi"); r.code != 0 || r.stdout != "hi\n" {
		t.Fatalf("run with the allowed prefix: exit %d, stdout %q; want 0 and %q", r.code, r.stdout, "hi\n")
	}
	env := map[string]string{envInboxPrefix: "_INBOX_submitter"}
	if r := submit(env, "status", "inbox-1"); r.code != 0 || !strings.Contains(r.stdout, "success") {
		t.Fatalf("status with %s: exit %d, stdout %q; want the task's success", envInboxPrefix, r.code, r.stdout)
	}

	r := submit(nil, "run", "--id", "inbox-2", "img", "--", "echo", "hi")
	if r.code != exitNotRun || !strings.Contains(r.stderr, "--inbox-prefix") || !strings.Contains(r.stderr, envInboxPrefix) {
		t.Fatalf("run with the default prefix: exit %d, stderr %q; want %d and a hint naming --inbox-prefix", r.code, r.stderr, exitNotRun)
	}
	if r := submit(env, "status", "inbox-2"); r.code == 0 || !strings.Contains(r.stderr, "inbox-2") {
		t.Fatalf("status of the refused run: exit %d, stdout %q, stderr %q; want it never submitted", r.code, r.stdout, r.stderr)
	}
	if r := submit(nil, "--inbox-prefix", "_INBOX.>", "status", "inbox-1"); r.code != exitError || !strings.Contains(r.stderr, "--inbox-prefix") {
		t.Fatalf("wildcard prefix: exit %d, stderr %q; want %d naming --inbox-prefix", r.code, r.stderr, exitError)
	}
}
