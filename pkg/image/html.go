package image

import (
	"bytes"
	"errors"
)

// ErrHTMLPage reports content that is a web page: a server (or a proxy, or
// a login portal) that answered an error or sign-in page with status 200
// instead of the image.
var ErrHTMLPage = errors.New("the source answered an HTML page, not a disk image")

// IsHTML reports whether content starting with head is an HTML document:
// after an optional UTF-8 byte order mark and white space, it opens with
// one of the tags that start a web page (<!DOCTYPE html, <html, <head,
// <body, <title, <!--, …), in any letter case. No disk image format starts
// that way.
func IsHTML(head []byte) bool {
	// The tags that start an HTML document, as the WHATWG MIME Sniffing
	// Standard lists them (section 7.1, "text/html"). Each but the comment
	// must be followed by white space, '>' or '/' to count.
	patterns := [...]string{
		"<!DOCTYPE HTML", "<HTML", "<HEAD", "<SCRIPT", "<IFRAME", "<H1", "<DIV", "<FONT", "<TABLE",
		"<A", "<STYLE", "<TITLE", "<B", "<BODY", "<BR", "<P", "<!--",
	}
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	head = bytes.TrimLeft(head, "\t\n\f\r ")
	for _, p := range patterns {
		if len(head) <= len(p) || !bytes.EqualFold(head[:len(p)], []byte(p)) {
			continue
		}
		if p == "<!--" || bytes.IndexByte([]byte(" \t\n\f\r>/"), head[len(p)]) >= 0 {
			return true
		}
	}
	return false
}
