package tus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HeaderContentType is CDI's header for the claim's content type.
const HeaderContentType = "X-Cdi-Content-Type"

// HeaderMessage carries the upload pod's outcome message.
const HeaderMessage = "X-Cdi-Upload-Message"

// ErrRefused wraps a refusal retrying cannot change (not an image, larger
// than the claim, already uploaded, no such target).
var ErrRefused = errors.New("upload refused")

// Client uploads one file over tus and resumes by itself: after a dropped
// connection, an answer of 5xx or a restarted proxy it asks the server how
// many bytes it stored (HEAD) and continues from there.
type Client struct {
	// HTTP sends the requests.
	HTTP *http.Client
	// Endpoint is the creation URL (https://node:31001/v1beta1/upload-tus).
	Endpoint string
	// UploadURL, when known (Endpoint/<claim UID>), is tried first, so that
	// an upload stored partly by an earlier run is resumed, not replaced.
	UploadURL string
	// Token returns the bearer token; refresh asks for a new one (the last
	// was refused as expired).
	Token func(ctx context.Context, refresh bool) (string, error)
	// ContentType is the claim's content type ("" for kubevirt).
	ContentType string
	// Metadata is sent with the creation.
	Metadata map[string]string
	// MaxAttempts bounds consecutive attempts without progress (default 10).
	MaxAttempts int
	// Sleep waits between attempts; nil waits for real, with ctx.
	Sleep func(ctx context.Context, attempt int) error
	// Progress is told the server's offset as it grows, and every byte
	// sent.
	Progress func(stored, sent int64)
}

// Result is what an upload did.
type Result struct {
	// Stored is the offset the server confirmed last.
	Stored int64
	// Sent counts every body byte sent, resent bytes included.
	Sent int64
	// Resumed counts the times the upload went on after a failure.
	Resumed int
	// State and Message are the pod's last word (tus.HeaderState, HeaderMessage).
	State, Message string
}

// Upload sends size bytes of f.
func (c *Client) Upload(ctx context.Context, f io.ReaderAt, size int64) (Result, error) {
	var res Result
	up := c.UploadURL
	offset := int64(-1)
	refresh := false
	failures := 0
	maxAttempts := c.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 10
	}
	var lastErr error
	for {
		if failures >= maxAttempts {
			return res, fmt.Errorf("giving up after %d attempts without progress: %w", failures, lastErr)
		}
		if failures > 0 {
			if err := c.sleep(ctx, failures); err != nil {
				return res, err
			}
		}
		tok, err := c.Token(ctx, refresh)
		if err != nil {
			return res, fmt.Errorf("upload token: %w", err)
		}
		refresh = false
		var st step
		switch {
		case up != "" && offset < 0:
			st = c.head(ctx, tok, up)
		case up == "":
			st = c.create(ctx, tok, size)
		default:
			st = c.patch(ctx, tok, up, f, offset, size, &res)
		}
		if st.state != "" {
			res.State, res.Message = st.state, st.message
		}
		switch {
		case st.waiting:
			// Every byte is stored and the pod imports: not a failure.
			if err := c.sleep(ctx, 3); err != nil {
				return res, err
			}
			offset = -1
			continue
		case st.expired:
			refresh, lastErr = true, st.err
			failures++
			continue
		case st.final != nil:
			return res, st.final
		case st.err != nil:
			lastErr = st.err
			failures++
			if offset >= 0 {
				res.Resumed++
			}
			offset = -1 // ask again what is stored
			if st.recreate {
				up = ""
			}
			continue
		}
		if st.location != "" {
			up = st.location
		}
		if st.recreate {
			up, offset = "", -1
			continue
		}
		if st.offset > offset || st.done {
			failures = 0
		}
		offset = st.offset
		res.Stored = offset
		if c.Progress != nil {
			c.Progress(offset, res.Sent)
		}
		if st.done {
			return res, nil
		}
		if offset > size {
			return res, fmt.Errorf("%w: the server holds %d bytes of a %d-byte file", ErrRefused, offset, size)
		}
	}
}

// step is the outcome of one request.
type step struct {
	offset   int64
	location string
	done     bool
	recreate bool
	expired  bool
	// waiting: the pod is importing the complete upload.
	waiting bool
	state   string
	message string
	// err: try again; final: stop.
	err, final error
}

func (c *Client) sleep(ctx context.Context, attempt int) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, attempt)
	}
	d := min(time.Duration(1<<min(attempt, 5))*250*time.Millisecond, 5*time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) request(ctx context.Context, method, u, tok string, body io.Reader, length int64) (*http.Request, error) {
	if body == nil {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	req.ContentLength = length
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set(HeaderResumable, Version)
	if c.ContentType != "" {
		req.Header.Set(HeaderContentType, c.ContentType)
	}
	return req, nil
}

// do sends req and classifies a failure that has no answer.
func (c *Client) do(req *http.Request) (*http.Response, string, *step) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return nil, "", &step{final: req.Context().Err()}
		}
		return nil, "", &step{err: err}
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp, strings.TrimSpace(string(b)), nil
}

// answer classifies an answer that is not a success.
func answer(resp *http.Response, msg, what string) step {
	st := step{state: resp.Header.Get(HeaderState), message: resp.Header.Get(HeaderMessage)}
	if msg == "" {
		msg = st.message
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	err := fmt.Errorf("%s: %d %s", what, resp.StatusCode, msg)
	switch {
	case resp.StatusCode == http.StatusUnauthorized && strings.Contains(msg, "expired"):
		st.expired, st.err = true, err
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusConflict && resp.Header.Get(HeaderOffset) != "" ||
		resp.StatusCode == StatusChecksumMismatch || resp.StatusCode == http.StatusTooManyRequests:
		st.err = err
	default:
		st.final = fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return st
}

func (c *Client) create(ctx context.Context, tok string, size int64) step {
	req, err := c.request(ctx, http.MethodPost, c.Endpoint, tok, nil, 0)
	if err != nil {
		return step{final: err}
	}
	req.Header.Set(HeaderLength, strconv.FormatInt(size, 10))
	if len(c.Metadata) > 0 {
		req.Header.Set(HeaderMetadata, FormatMetadata(c.Metadata))
	}
	resp, msg, fail := c.do(req)
	if fail != nil {
		return *fail
	}
	if resp.StatusCode != http.StatusCreated {
		return answer(resp, msg, "create the upload")
	}
	loc, err := resolve(c.Endpoint, resp.Header.Get("Location"))
	if err != nil {
		return step{final: err}
	}
	return step{location: loc, offset: 0}
}

func (c *Client) head(ctx context.Context, tok, up string) step {
	req, err := c.request(ctx, http.MethodHead, up, tok, nil, 0)
	if err != nil {
		return step{final: err}
	}
	resp, _, fail := c.do(req)
	if fail != nil {
		return *fail
	}
	state, msg := resp.Header.Get(HeaderState), resp.Header.Get(HeaderMessage)
	switch {
	case resp.StatusCode == http.StatusGone || resp.StatusCode == http.StatusConflict || state == StateSucceeded:
		return step{done: true, state: StateSucceeded, message: msg, offset: -1}
	case resp.StatusCode == http.StatusNotFound && state == StateFailed:
		return step{state: state, message: msg, final: fmt.Errorf("%w: %s", ErrRefused, msg)}
	case resp.StatusCode == http.StatusNotFound:
		return step{recreate: true, offset: -1}
	case resp.StatusCode != http.StatusOK:
		return answer(resp, "", "HEAD "+up)
	}
	off, err := ParseOffset(resp.Header.Get(HeaderOffset))
	if err != nil {
		return step{err: fmt.Errorf("HEAD %s: %w", up, err)}
	}
	return step{offset: off, state: state, message: msg, waiting: state == StateProcessing}
}

func (c *Client) patch(ctx context.Context, tok, up string, f io.ReaderAt, off, size int64, res *Result) step {
	body := &counter{r: io.NewSectionReader(f, off, size-off), n: &res.Sent, progress: c.Progress, stored: off}
	req, err := c.request(ctx, http.MethodPatch, up, tok, body, size-off)
	if err != nil {
		return step{final: err}
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set(HeaderOffset, strconv.FormatInt(off, 10))
	resp, msg, fail := c.do(req)
	if fail != nil {
		return *fail
	}
	if resp.StatusCode != http.StatusNoContent {
		return answer(resp, msg, "PATCH "+up)
	}
	got, err := ParseOffset(resp.Header.Get(HeaderOffset))
	if err != nil {
		return step{err: fmt.Errorf("PATCH %s: %w", up, err)}
	}
	st := step{offset: got, state: resp.Header.Get(HeaderState), message: resp.Header.Get(HeaderMessage)}
	st.done = got == size && st.state == StateSucceeded
	return st
}

// counter counts the bytes of a body as they are sent.
type counter struct {
	r        io.Reader
	n        *int64
	stored   int64
	progress func(stored, sent int64)
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.stored, *c.n)
	}
	return n, err
}

// resolve makes loc absolute against base.
func resolve(base, loc string) (string, error) {
	if loc == "" {
		return "", errors.New("the server created the upload without a Location")
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("endpoint: %w", err)
	}
	l, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("the Location %q: %w", loc, err)
	}
	return b.ResolveReference(l).String(), nil
}
