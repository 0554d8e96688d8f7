package qcow2

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCollectorWindows(t *testing.T) {
	normal := func(host, guest int64, n uint32) extent { return extent{host: host, guest: guest, n: n} }
	comp := func(host, guest int64, n uint32) extent {
		return extent{host: host, guest: guest, n: n, compressed: true}
	}
	for _, tc := range []struct {
		name    string
		lo      int64
		budget  int
		in      []extent
		want    []extent
		cut     int64
		wantErr string // substring of the ErrInvalidTable error
	}{
		{
			name: "fits: sorted and coalesced across tables", budget: 10,
			in:   []extent{normal(3072, 2048, 1024), normal(1024, 0, 1024), normal(2048, 1024, 1024), normal(8192, 4096, 512)},
			want: []extent{normal(1024, 0, 3072), normal(8192, 4096, 512)}, cut: -1,
		},
		{
			name: "not coalesced when the guest is not contiguous", budget: 10,
			in:   []extent{normal(1024, 0, 1024), normal(2048, 4096, 1024)},
			want: []extent{normal(1024, 0, 1024), normal(2048, 4096, 1024)}, cut: -1,
		},
		{
			name: "coalescing stops at maxExtent", budget: 10,
			in:   []extent{normal(0, 0, 4096), normal(4096, 4096, 4096), normal(8192, 8192, 4096)},
			want: []extent{normal(0, 0, 8192), normal(8192, 8192, 4096)}, cut: -1,
		},
		{
			name: "over budget: the lowest extents, cut at the largest kept", budget: 3,
			in:   []extent{normal(50000, 0, 512), normal(10000, 512, 512), normal(30000, 1024, 512), normal(20000, 2048, 512)},
			want: []extent{normal(10000, 512, 512), normal(20000, 2048, 512)}, cut: 30000,
		},
		{
			name: "the next window starts at lo", lo: 30000, budget: 2,
			in:   []extent{normal(50000, 0, 512), normal(10000, 512, 512), normal(30000, 1024, 512), normal(20000, 2048, 512)},
			want: []extent{normal(30000, 1024, 512), normal(50000, 0, 512)}, cut: -1,
		},
		{
			name: "ties at the cut go to the next window", budget: 3,
			in:   []extent{comp(100, 0, 10), comp(200, 1, 10), comp(200, 2, 10), comp(300, 3, 10)},
			want: []extent{comp(100, 0, 10)}, cut: 200,
		},
		{
			name: "compressed lengths trimmed to the next extent and the cut", budget: 3,
			in:   []extent{comp(1000, 0, 700), comp(1500, 65536, 700), comp(1800, 131072, 700), comp(2600, 196608, 700)},
			want: []extent{comp(1000, 0, 500), comp(1500, 65536, 300)}, cut: 1800,
		},
		{
			name: "overlapping data", budget: 10,
			in:      []extent{normal(0, 0, 4096), normal(2048, 8192, 4096)},
			wantErr: "overlaps",
		},
		{
			name: "data overlapping the cut", budget: 2,
			in:      []extent{normal(0, 0, 4096), normal(2048, 8192, 4096), normal(9000, 20000, 512)},
			wantErr: "overlaps other data at 0x800",
		},
		{
			name: "compressed clusters at the same offset", budget: 10,
			in:      []extent{comp(1000, 0, 700), comp(1000, 65536, 700)},
			wantErr: "overlaps",
		},
		{
			name: "more duplicates than the budget", budget: 2,
			in:      []extent{comp(1000, 0, 700), comp(1000, 1, 700), comp(1000, 2, 700)},
			wantErr: "more than 2 clusters",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCollector(tc.lo, tc.budget)
			// Feed in two batches, as concurrent table scans do.
			c.add(tc.in[:len(tc.in)/2])
			c.add(tc.in[len(tc.in)/2:])
			w, err := c.finish(8192)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidTable)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, w.ext)
			assert.Equal(t, tc.cut, w.cut)
		})
	}
}

func TestSpans(t *testing.T) {
	ext := []extent{
		{host: 1000, n: 1000}, {host: 2000, n: 500}, // adjacent
		{host: 3000, n: 100},                    // gap of 500: read through
		{host: 10000, n: 100, compressed: true}, // gap of 6900: new stream
	}
	assert.Equal(t, []span{{off: 1000, n: 2100}, {off: 10000, n: 100}}, spans(ext, 1000))
	assert.Empty(t, spans(nil, 1000))
}
