package source

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

func TestS3(t *testing.T) {
	s3 := sourcetest.StartS3(t)
	data := testData(testSize)
	s3.Put(t, "images", "dir/disk.img", data)
	ctx := context.Background()
	secret := s3.SecretDir(t)

	t.Run("read", func(t *testing.T) {
		opts := fastOptions()
		opts.SecretDir, opts.S3Endpoint = secret, s3.Endpoint
		src, err := New(ctx, "s3://images/dir/disk.img", opts)
		require.NoError(t, err)
		assert.Equal(t, int64(len(data)), src.Size())
		assert.True(t, src.Ranges())
		assert.Equal(t, "s3://images/dir/disk.img", src.String())
		got, err := readAll(t, src)
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, got))

		rc, err := src.Open(ctx, 1000, 12345)
		require.NoError(t, err)
		got, err = io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		require.True(t, bytes.Equal(data[1000:13345], got))

		buf := make([]byte, 64)
		n, err := NewReaderAt(ctx, src).ReadAt(buf, testSize-10)
		require.ErrorIs(t, err, io.EOF)
		require.Equal(t, data[testSize-10:], buf[:n])
	})

	// versitygw v1.8.0 answers an unknown access key id with 404 NoSuchKey,
	// so that case is not in this table.
	errTests := []struct {
		name   string
		url    string
		secret string
		want   error
	}{
		{name: "wrong secret", url: "s3://images/dir/disk.img", secret: sourcetest.WriteSecretDir(t, sourcetest.S3AccessKey, "wrong-secret-key"), want: ErrAccessDenied},
		{name: "anonymous", url: "s3://images/dir/disk.img", want: ErrAccessDenied},
		{name: "missing key", url: "s3://images/nope.img", secret: secret, want: ErrNotFound},
		{name: "missing bucket", url: "s3://nobucket/disk.img", secret: secret, want: ErrNotFound},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			opts := fastOptions()
			opts.SecretDir, opts.S3Endpoint = tc.secret, s3.Endpoint
			_, err := New(ctx, tc.url, opts)
			require.ErrorIs(t, err, tc.want)
			assert.NotContains(t, err.Error(), "wrong-secret-key")
			assert.NotContains(t, err.Error(), sourcetest.S3SecretKey)
		})
	}

	faults := []struct {
		name string
		cfg  sourcetest.Config
	}{
		{name: "drops", cfg: sourcetest.Config{Fault: sourcetest.Drop, FaultAfter: mib}},
		{name: "stall", cfg: sourcetest.Config{Fault: sourcetest.Stall, FaultAfter: 2 * mib, FaultCount: 1}},
		{name: "503s", cfg: sourcetest.Config{FailEvery: 2, Fault: sourcetest.Drop, FaultAfter: 3 * mib}},
	}
	for _, tc := range faults {
		t.Run("resume after "+tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Handler = s3.Proxy()
			proxy := sourcetest.NewServer(t, cfg)
			opts := fastOptions()
			opts.SecretDir, opts.S3Endpoint = secret, proxy.URL
			src, err := New(ctx, "s3://images/dir/disk.img", opts)
			require.NoError(t, err)
			got, err := readAll(t, src)
			require.NoError(t, err)
			require.True(t, bytes.Equal(data, got))
			gets := proxy.GETs()
			require.Greater(t, len(gets), 1)
			requireResumes(t, gets, false)
		})
	}

	t.Run("object replaced during the download", func(t *testing.T) {
		s3.Put(t, "images", "changing.img", data)
		proxy := sourcetest.NewServer(t, sourcetest.Config{Handler: s3.Proxy(), Fault: sourcetest.Drop, FaultAfter: mib})
		opts := fastOptions()
		opts.SecretDir, opts.S3Endpoint = secret, proxy.URL
		src, err := New(ctx, "s3://images/changing.img", opts)
		require.NoError(t, err)
		rc, err := src.Open(ctx, 0, -1)
		require.NoError(t, err)
		defer rc.Close()
		_, err = io.ReadFull(rc, make([]byte, mib/2))
		require.NoError(t, err)
		changed := append([]byte(nil), data...)
		changed[0] ^= 1
		_, err = s3.Client.PutObject(ctx, "images", "changing.img", bytes.NewReader(changed), int64(len(changed)), minio.PutObjectOptions{})
		require.NoError(t, err)
		_, err = io.ReadAll(rc)
		require.ErrorIs(t, err, ErrChanged)
	})
}
