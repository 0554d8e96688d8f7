package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cdi-functions/cdi-functions/pkg/checksum"
	"github.com/cdi-functions/cdi-functions/pkg/image"
	"github.com/cdi-functions/cdi-functions/pkg/progress"
	"github.com/cdi-functions/cdi-functions/pkg/source"
)

// bufferSize is the read-ahead of every layer: large reads keep system
// calls and decoder overhead per byte low.
const bufferSize = 1 << 20

// sink is a finished but unpublished result: a disk image under its
// temporary name or a staged extraction.
type sink interface {
	commit() error
	abort()
}

// run is the state of one import.
type run struct {
	req      Request
	verifier *checksum.Verifier
	result   Result
}

// Run performs the import described by req. On success the image (or the
// extracted tree) is in place and durable; on failure nothing that could be
// mistaken for a finished import is left in the target.
func Run(ctx context.Context, req Request) (Result, error) {
	if req.Progress == nil {
		req.Progress = progress.Discard{}
	}
	if req.ContentType == "" {
		req.ContentType = KubeVirt
	}
	r := &run{req: req}
	if req.Checksum != nil {
		r.verifier = checksum.NewVerifier(*req.Checksum)
	}

	s, err := r.decode(ctx)
	if err == nil && r.verifier != nil {
		err = r.verifier.Verify()
		r.verifier = nil
	}
	if r.verifier != nil {
		_ = r.verifier.Verify() // stop the hashing goroutine
	}
	if err != nil {
		if s != nil {
			s.abort()
		}
		return Result{}, err
	}
	if err := s.commit(); err != nil {
		return Result{}, err
	}
	req.Progress.Report(progress.Update{Phase: progress.PhaseDone, Done: r.result.SourceBytes, Total: req.Source.Size()})
	return r.result, nil
}

// decode chooses between reading a qcow2 image in place and streaming.
func (r *run) decode(ctx context.Context) (sink, error) {
	src := r.req.Source
	if src.Ranges() && src.Size() > 0 && r.req.ContentType == KubeVirt {
		head, err := readHead(ctx, src)
		if err != nil {
			return nil, err
		}
		if image.Detect(head) == image.Qcow2 {
			r.result.Layers = []image.Format{image.Qcow2}
			return r.qcow2InPlace(ctx)
		}
	}
	return r.stream(ctx)
}

// readHead reads the first bytes of a range-capable source.
func readHead(ctx context.Context, src source.Source) ([]byte, error) {
	n := min(int64(image.HeadSize), src.Size())
	rc, err := src.Open(ctx, 0, n)
	if err != nil {
		return nil, fmt.Errorf("read the image header: %w", err)
	}
	defer rc.Close()
	head := make([]byte, n)
	if _, err := io.ReadFull(rc, head); err != nil {
		return nil, fmt.Errorf("read the image header: %w", err)
	}
	return head, nil
}

// stream reads the source once, front to back, peeling layers off.
func (r *run) stream(ctx context.Context) (sink, error) {
	src := r.req.Source
	rc, err := src.Open(ctx, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var in io.Reader = &meter{r: rc, total: src.Size(), report: r.req.Progress, phase: progress.PhaseWriting, count: &r.result.SourceBytes}
	if r.verifier != nil {
		in = io.TeeReader(in, r.verifier)
	}
	s, err := r.layers(ctx, bufio.NewReaderSize(in, bufferSize))
	if err != nil {
		return s, err
	}
	if r.verifier != nil {
		// The checksum covers every source byte, also those after the
		// image (tar padding, trailing members).
		if _, err := io.Copy(io.Discard, in); err != nil {
			return s, fmt.Errorf("read the rest of the source: %w", err)
		}
	}
	return s, nil
}

// layers detects the content of br and decodes it, layer by layer.
func (r *run) layers(ctx context.Context, br *bufio.Reader) (sink, error) {
	var tarAbove []*tarLayer
	for depth := 0; ; depth++ {
		if depth > MaxDepth {
			return nil, fmt.Errorf("image is wrapped in more than %d layers (%s): refusing to go deeper", MaxDepth, layerNames(r.result.Layers))
		}
		head, err := br.Peek(image.HeadSize)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %s: %w", describe(r.result.Layers), err)
		}
		f := image.Detect(head)
		r.result.Layers = append(r.result.Layers, f)
		switch {
		case f == image.HTML:
			return nil, r.within(image.ErrHTMLPage)
		case !f.Supported():
			return nil, image.Unsupported(f)
		case f.Compressed():
			dr, err := image.Decompress(f, br)
			if err != nil {
				return nil, r.within(err)
			}
			defer dr.Close()
			br = bufio.NewReaderSize(&layerReader{r: dr, layers: r.result.Layers}, bufferSize)
		case f == image.Tar && r.req.ContentType == Archive:
			return r.extract(ctx, br)
		case f == image.Tar:
			t, err := openTarImage(br, r.result.Layers)
			if err != nil {
				return nil, err
			}
			tarAbove = append(tarAbove, t)
			br = bufio.NewReaderSize(t.tr, bufferSize)
		case r.req.ContentType == Archive:
			return nil, fmt.Errorf("content type archive needs a tar archive, but the source is %s", describe(r.result.Layers))
		case f == image.Qcow2:
			s, err := r.qcow2Spooled(ctx, br, head)
			if err != nil {
				return s, err
			}
			return s, finishTars(tarAbove)
		default:
			s, err := r.raw(ctx, br)
			if err != nil {
				return s, err
			}
			return s, finishTars(tarAbove)
		}
	}
}

// within names the layers around the current one in err, if there are
// any: "inside tar: gzip: invalid header".
func (r *run) within(err error) error {
	outer := r.result.Layers[:len(r.result.Layers)-1]
	if len(outer) == 0 {
		return err
	}
	return fmt.Errorf("inside %s: %w", describe(outer), err)
}

// finishTars checks that the tar archives the image came from hold
// nothing else.
func finishTars(tars []*tarLayer) error {
	for i := len(tars) - 1; i >= 0; i-- {
		if err := tars[i].finish(); err != nil {
			return err
		}
	}
	return nil
}

// describe names the content found so far for messages: "raw", "qcow2 inside xz".
func describe(layers []image.Format) string {
	if len(layers) == 0 {
		return "the source"
	}
	s := string(layers[len(layers)-1])
	for i := len(layers) - 2; i >= 0; i-- {
		s += " inside " + string(layers[i])
	}
	return s
}

func layerNames(layers []image.Format) string {
	s := ""
	for i, f := range layers {
		if i > 0 {
			s += "/"
		}
		s += string(f)
	}
	return s
}

// layerReader names the layer in decoder errors, so that a truncated
// stream says "truncated or corrupt xz data" rather than "unexpected EOF".
type layerReader struct {
	r      io.Reader
	layers []image.Format
}

func (l *layerReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s data is truncated or corrupt: %w", l.layers[len(l.layers)-1], err)
	}
	return n, err
}
