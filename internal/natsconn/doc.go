// Package natsconn is the one place jetrun's binaries connect to NATS: it
// builds the connect options (credentials, nkey, TLS, inbox prefix), dials
// with reconnects and logging, checks that the server lets the connection
// receive replies under its inbox prefix, redacts credentials from server
// URLs for messages, and starts the embedded JetStream server.
//
// cmd/worker, cmd/submit and bench use it; they own their flags and pass
// the flag names in (Config.Flags) so errors say what to change. The
// client package takes a *nats.Conn its caller made and never dials.
// internal/natstest starts servers for tests with testing.TB cleanup.
package natsconn
