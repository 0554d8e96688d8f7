package source

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in   string
		want contentRange
		ok   bool
	}{
		{"bytes 0-0/10", contentRange{0, 0, 10}, true},
		{"bytes 5-9/10", contentRange{5, 9, 10}, true},
		{"bytes 5-9/*", contentRange{5, 9, -1}, true},
		{" bytes 0-99/100 ", contentRange{0, 99, 100}, true},
		{"bytes 5-9/9", contentRange{}, false}, // last beyond total
		{"bytes 9-5/10", contentRange{}, false},
		{"bytes */10", contentRange{}, false},
		{"bytes -1-5/10", contentRange{}, false},
		{"items 0-1/2", contentRange{}, false},
		{"bytes 0-1", contentRange{}, false},
		{"", contentRange{}, false},
	}
	for _, tc := range tests {
		got, ok := parseContentRange(tc.in)
		assert.Equal(t, tc.ok, ok, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	n, ok := parseUnsatisfiedRange("bytes */0")
	assert.True(t, ok)
	assert.Zero(t, n)
}

func TestCheckPartial(t *testing.T) {
	h := func(cr string) http.Header { return http.Header{"Content-Range": {cr}} }
	tests := []struct {
		name          string
		cr            string
		off, end, sz  int64
		want          int64
		wantErr       error
		wantErrSubstr string
	}{
		{name: "exact", cr: "bytes 10-19/100", off: 10, end: 20, sz: 100, want: 10},
		{name: "to the end", cr: "bytes 10-99/100", off: 10, end: -1, sz: 100, want: 90},
		{name: "shorter than asked", cr: "bytes 10-14/100", off: 10, end: 20, sz: 100, want: 5},
		{name: "wrong start", cr: "bytes 0-19/100", off: 10, end: 20, sz: 100, wantErrSubstr: "asked for bytes=10-19"},
		{name: "more than asked", cr: "bytes 10-29/100", off: 10, end: 20, sz: 100, wantErrSubstr: "asked for"},
		{name: "size changed", cr: "bytes 10-19/200", off: 10, end: 20, sz: 100, wantErr: ErrChanged},
		{name: "malformed", cr: "bytes x", off: 10, end: 20, sz: 100, wantErrSubstr: "malformed"},
	}
	for _, tc := range tests {
		got, err := checkPartial("GET u", h(tc.cr), tc.off, tc.end, tc.sz)
		switch {
		case tc.wantErr != nil:
			require.ErrorIs(t, err, tc.wantErr, tc.name)
		case tc.wantErrSubstr != "":
			require.ErrorContains(t, err, tc.wantErrSubstr, tc.name)
		default:
			require.NoError(t, err, tc.name)
			assert.Equal(t, tc.want, got, tc.name)
		}
	}
}

func TestResolveRange(t *testing.T) {
	tests := []struct {
		name                 string
		size                 int64
		ranges               bool
		off, length, wantEnd int64
		wantEmpty, wantErr   bool
	}{
		{name: "whole known", size: 100, ranges: true, off: 0, length: -1, wantEnd: 100},
		{name: "whole unknown", size: -1, ranges: true, off: 0, length: -1, wantEnd: -1},
		{name: "middle", size: 100, ranges: true, off: 10, length: 20, wantEnd: 30},
		{name: "cut at end", size: 100, ranges: true, off: 90, length: 20, wantEnd: 100},
		{name: "at end", size: 100, ranges: true, off: 100, length: -1, wantEnd: 100, wantEmpty: true},
		{name: "zero length", size: 100, ranges: true, off: 5, length: 0, wantEnd: 5, wantEmpty: true},
		{name: "past end", size: 100, ranges: true, off: 101, length: 1, wantErr: true},
		{name: "negative", size: 100, ranges: true, off: -1, length: 1, wantErr: true},
		{name: "no ranges prefix", size: 100, ranges: false, off: 0, length: 10, wantEnd: 10},
		{name: "no ranges offset", size: 100, ranges: false, off: 1, length: -1, wantErr: true},
	}
	for _, tc := range tests {
		end, empty, err := resolveRange("x", tc.size, tc.ranges, tc.off, tc.length)
		if tc.wantErr {
			assert.Error(t, err, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.wantEnd, end, tc.name)
		assert.Equal(t, tc.wantEmpty, empty, tc.name)
	}
}

func TestBackoff(t *testing.T) {
	p := Options{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second}.policy()
	for n := 1; n <= 10; n++ {
		full := min(100*time.Millisecond<<(n-1), time.Second)
		for range 20 {
			d := p.delay(n, 0)
			assert.GreaterOrEqual(t, d, full/2, "attempt %d", n)
			assert.LessOrEqual(t, d, full, "attempt %d", n)
		}
	}
	assert.Equal(t, 700*time.Millisecond, p.delay(1, 700*time.Millisecond), "Retry-After wins")
	assert.Equal(t, time.Second, p.delay(1, time.Hour), "capped")

	now := time.Now()
	assert.Equal(t, 3*time.Second, retryAfter("3", now))
	assert.Zero(t, retryAfter("soon", now))
	assert.InDelta(t, float64(10*time.Second), float64(retryAfter(now.Add(10*time.Second).UTC().Format(http.TimeFormat), now)), float64(time.Second))

	assert.Equal(t, 0, Options{MaxRetries: -1}.policy().maxRetries)
	assert.Equal(t, DefaultMaxRetries, Options{}.policy().maxRetries)
	assert.Equal(t, DefaultStallTimeout, Options{}.policy().stall)
}
