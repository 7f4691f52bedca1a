// Package deploy holds no code: its tests prove the deployment files at the
// repository root. natsconf_test.go starts a real nats-server from
// nats.conf and checks, role by role, every operation jetrun needs is
// allowed and every one that must be refused is refused by the server.
// inbox_test.go proves each role receives replies only under its own inbox
// prefix (_INBOX_worker, _INBOX_submitter), and that the real worker and
// client packages work with them.
package deploy
