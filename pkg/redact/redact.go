// Package redact makes URLs safe to show in logs, errors, Events and claim
// annotations: no user info (credentials belong in a Secret), no query
// (it may hold a signature such as X-Amz-Signature) and no fragment.
package redact

import (
	"net/url"
	"strings"
)

// Hidden replaces a text that may hold credentials but is not a URL that
// can be shown without them ("key:secret@minio:9000").
const Hidden = "(hidden: it may hold credentials)"

// URL is u without user info, its query replaced by "?…" and without
// fragment. u is not changed.
func URL(u *url.URL) string {
	c := *u
	c.User = nil
	q := c.RawQuery != "" || c.ForceQuery
	c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = "", false, "", ""
	s := c.String()
	if q {
		s += "?…"
	}
	return s
}

// String is a source as users may see it: a URL redacted as by URL; a
// plain path or "-" unchanged; Hidden for anything else that holds an "@"
// (user info that did not parse as such), "(invalid URL)" for a URL that
// does not parse.
func String(s string) string {
	if !strings.Contains(s, "://") {
		if strings.Contains(s, "@") {
			return Hidden
		}
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	if (u.Scheme == "" || u.Host == "") && strings.Contains(s, "@") {
		// Not a URL with an authority: an "@" may be user info that did
		// not parse as such ("key:secret@host", "/://user:pw@host").
		return Hidden
	}
	return URL(u)
}
