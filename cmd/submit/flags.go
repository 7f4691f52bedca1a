package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// globals are the options every subcommand takes.
type globals struct {
	natsURL     string
	creds       string
	prefix      string
	inboxPrefix string
}

// defaultNATSURL is used when neither --nats nor the environment names a
// server.
const defaultNATSURL = "nats://127.0.0.1:4222"

// Environment variables read for --nats, in order.
const (
	envNATSURL       = "JETRUN_NATS_URL"
	envNATSURLCommon = "NATS_URL"
)

// envInboxPrefix is read for --inbox-prefix; defaultInboxPrefix, nats.go's
// own, applies when it is unset.
const (
	envInboxPrefix     = "JETRUN_INBOX_PREFIX"
	defaultInboxPrefix = "_INBOX"
)

// inboxPrefixFromEnv returns the reply subject prefix from the environment,
// or the default.
func inboxPrefixFromEnv(lookupEnv func(string) (string, bool)) string {
	if v, _ := lookupEnv(envInboxPrefix); v != "" {
		return v
	}
	return defaultInboxPrefix
}

// defaultURL returns the server URL from the environment, or the default.
func defaultURL(lookupEnv func(string) (string, bool)) string {
	for _, name := range []string{envNATSURL, envNATSURLCommon} {
		if v, _ := lookupEnv(name); v != "" {
			return v
		}
	}
	return defaultNATSURL
}

// register adds the global flags to fs, so they are accepted before and
// after the subcommand name.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.natsURL, "nats", g.natsURL, "NATS server `URL`s, comma separated (env "+envNATSURL+", then "+envNATSURLCommon+")")
	fs.StringVar(&g.creds, "creds", g.creds, "NATS credentials `file` (user JWT and NKey seed)")
	fs.StringVar(&g.prefix, "prefix", g.prefix, "subject `prefix` the workers use")
	fs.StringVar(&g.inboxPrefix, "inbox-prefix", g.inboxPrefix, "`prefix` of submit's reply subjects, which the NATS user must be allowed to subscribe to (nats.conf: _INBOX_submitter; env "+envInboxPrefix+")")
}

// envFlag collects -e NAME=VALUE and -e NAME (the value is taken from
// submit's own environment, and the variable is left out when unset, as
// docker run does).
type envFlag struct {
	vals   map[string]string
	lookup func(string) (string, bool)
}

func (e *envFlag) String() string { return "" }

func (e *envFlag) Set(v string) error {
	name, val, ok := strings.Cut(v, "=")
	if name == "" {
		return fmt.Errorf("%q: want NAME=VALUE or NAME", v)
	}
	if !ok {
		if val, ok = e.lookup(name); !ok {
			return nil
		}
	}
	if e.vals == nil {
		e.vals = make(map[string]string)
	}
	e.vals[name] = val
	return nil
}

// labelFlag collects --label KEY=VALUE (KEY alone means an empty value).
type labelFlag map[string]string

func (l labelFlag) String() string { return "" }

func (l labelFlag) Set(v string) error {
	k, val, _ := strings.Cut(v, "=")
	if k == "" {
		return fmt.Errorf("%q: want KEY=VALUE", v)
	}
	l[k] = val
	return nil
}

// volumeFlag collects -v HOST:CONTAINER[:ro|:rw].
type volumeFlag [][]string

func (f *volumeFlag) String() string { return "" }

func (f *volumeFlag) Set(v string) error {
	vol, err := parseVolume(v)
	if err != nil {
		return err
	}
	*f = append(*f, vol)
	return nil
}

// funcFlag parses a flag's value with fn.
type funcFlag func(string) error

func (f funcFlag) String() string     { return "" }
func (f funcFlag) Set(v string) error { return f(v) }

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// usageFunc returns a subcommand's help: synopsis, description and flags;
// short maps a long flag name to its one-letter alias, printed together.
func usageFunc(fs *flag.FlagSet, synopsis, about string, short map[string]string) func(io.Writer) {
	return func(w io.Writer) {
		fmt.Fprintf(w, "Usage: %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(about))
		printFlags(w, fs, short)
	}
}

// printFlags lists fs's flags, "--name ARG" with their one-letter alias.
func printFlags(w io.Writer, fs *flag.FlagSet, short map[string]string) {
	aliases := make(map[string]bool, len(short))
	for _, s := range short {
		aliases[s] = true
	}
	fs.VisitAll(func(f *flag.Flag) {
		if aliases[f.Name] {
			return
		}
		names := "--" + f.Name
		if len(f.Name) == 1 {
			names = "-" + f.Name
		}
		if s, ok := short[f.Name]; ok {
			names = "-" + s + ", " + names
		}
		arg, usage := flag.UnquoteUsage(f)
		if arg != "" {
			names += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "false" {
			usage += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, "  %s\n    \t%s\n", names, usage)
	})
}

// parse parses a command's flags. It returns flag.ErrHelp once help,
// asked for, is printed on stdout, and a usage error once the flag package
// has said on stderr what is wrong.
func parse(fs *flag.FlagSet, args []string, stdout io.Writer, help func(io.Writer)) error {
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		help(stdout)
		return flag.ErrHelp
	case err != nil:
		fmt.Fprintf(fs.Output(), "see '%s --help'\n", fs.Name())
		return &codeError{code: exitUsage}
	}
	return nil
}
