package dashboard

import (
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// funcs are the templates' helpers; none of them returns unescaped text.
var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"dur": func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() {
			return "-"
		}
		return b.Sub(a).Round(time.Millisecond).String()
	},
	"join":  strings.Join,
	"int64": func(n int) int64 { return int64(n) },
	"path":  url.PathEscape,
	"bytes": humanBytes,
	"logView": func(id string, lines []logLine, skipped int64, live bool) logView {
		return logView{ID: id, Lines: lines, Skipped: skipped, Live: live}
	},
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconvI(n) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strings.TrimSuffix(strings.TrimSuffix(
		strconvF(float64(n)/float64(div)), "0"), ".") + " " + string("KMGTPE"[exp]) + "iB"
}

func strconvI(n int64) string   { return strconv.FormatInt(n, 10) }
func strconvF(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
