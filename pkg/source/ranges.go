package source

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// contentRange is a parsed "Content-Range: bytes first-last/total" header;
// total is -1 for "*".
type contentRange struct {
	first, last, total int64
}

// parseContentRange parses a satisfied byte range ("bytes a-b/n" or
// "bytes a-b/*").
func parseContentRange(v string) (contentRange, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return contentRange{}, false
	}
	span, total, ok := strings.Cut(rest, "/")
	if !ok {
		return contentRange{}, false
	}
	a, b, ok := strings.Cut(span, "-")
	if !ok {
		return contentRange{}, false
	}
	cr := contentRange{total: -1}
	var err error
	if cr.first, err = strconv.ParseInt(a, 10, 64); err != nil || cr.first < 0 {
		return contentRange{}, false
	}
	if cr.last, err = strconv.ParseInt(b, 10, 64); err != nil || cr.last < cr.first {
		return contentRange{}, false
	}
	if total != "*" {
		if cr.total, err = strconv.ParseInt(total, 10, 64); err != nil || cr.total <= cr.last {
			return contentRange{}, false
		}
	}
	return cr, true
}

// parseUnsatisfiedRange parses the "bytes */n" of a 416 answer.
func parseUnsatisfiedRange(v string) (int64, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes */")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	return n, err == nil && n >= 0
}

// rangeHeader formats the Range request header for [off, end).
func rangeHeader(off, end int64) string {
	if end < 0 {
		return fmt.Sprintf("bytes=%d-", off)
	}
	return fmt.Sprintf("bytes=%d-%d", off, end-1)
}

// checkPartial verifies a 206 answer to a request for [off, end) of an
// object of the given size (-1 if unknown) and returns how many bytes its
// body carries. A server may send less than asked for (the reader then
// asks for the rest) but never another start or more than asked for.
func checkPartial(what string, h http.Header, off, end, size int64) (int64, error) {
	v := h.Get("Content-Range")
	cr, ok := parseContentRange(v)
	if !ok {
		return 0, fmt.Errorf("%s: malformed Content-Range %q in a 206 answer", what, v)
	}
	if cr.first != off || (end >= 0 && cr.last >= end) {
		return 0, fmt.Errorf("%s: asked for %s, server answered Content-Range %q", what, rangeHeader(off, end), v)
	}
	if size >= 0 && cr.total >= 0 && cr.total != size {
		return 0, fmt.Errorf("%s: size was %d, Content-Range now says %d: %w", what, size, cr.total, ErrChanged)
	}
	return cr.last - cr.first + 1, nil
}

// resolveRange turns Open's (off, length) into [off, end) for an object of
// the given size (-1 if unknown): a range past the end is cut at the end.
// Sources without ranges accept only off == 0. empty reports a range that
// holds no byte.
func resolveRange(name string, size int64, ranges bool, off, length int64) (end int64, empty bool, err error) {
	if off < 0 {
		return 0, false, fmt.Errorf("%s: negative offset %d", name, off)
	}
	if !ranges && off != 0 {
		return 0, false, fmt.Errorf("%s: cannot open at offset %d: %w", name, off, ErrNoRanges)
	}
	if size >= 0 && off > size {
		return 0, false, fmt.Errorf("%s: offset %d is past the end (size %d)", name, off, size)
	}
	end = -1
	switch {
	case length >= 0 && size >= 0:
		end = min(off+length, size)
	case length >= 0:
		end = off + length
	case size >= 0:
		end = size
	}
	return end, end >= 0 && end <= off, nil
}
