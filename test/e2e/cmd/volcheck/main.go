// Command volcheck is the probe the e2e tests run in pods of the local
// cluster; the tests build its image with ko from this repository.
//
//	volcheck write PATH TEXT   write TEXT to PATH (synced to disk)
//	volcheck read PATH TEXT    exit 1 unless PATH holds exactly TEXT
//	volcheck serve ADDR TEXT   answer every HTTP request with TEXT
//	volcheck get URL TEXT      GET URL until it answers TEXT (60 s at most)
//	volcheck resolve NAME...   print each NAME's addresses or lookup error
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "volcheck:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) < 2 {
		return errors.New("usage: volcheck write|read|serve|get|resolve ARGS")
	}
	switch cmd := args[0]; {
	case cmd == "write" && len(args) == 3:
		return write(args[1], args[2])
	case cmd == "read" && len(args) == 3:
		return read(args[1], args[2])
	case cmd == "serve" && len(args) == 3:
		return serve(args[1], args[2])
	case cmd == "get" && len(args) == 3:
		return get(ctx, args[1], args[2])
	case cmd == "resolve":
		for _, name := range args[1:] {
			resolve(ctx, name)
		}
		return nil
	default:
		return fmt.Errorf("unknown command or wrong arguments: %q", args)
	}
}

func write(path, text string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.WriteString(text); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	fmt.Printf("wrote %d bytes to %s\n", len(text), path)
	return nil
}

func read(path, want string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if string(b) != want {
		return fmt.Errorf("%s holds %q, want %q", path, b, want)
	}
	fmt.Printf("read %q from %s\n", b, path)
	return nil
}

func serve(addr, text string) error {
	srv := &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, text)
		}),
	}
	fmt.Printf("serving on %s\n", addr)
	return srv.ListenAndServe()
}

func get(ctx context.Context, url, want string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 3 * time.Second}
	var last error
	for ctx.Err() == nil {
		body, err := fetch(ctx, client, url)
		if err == nil && body == want {
			fmt.Printf("got %q from %s\n", body, url)
			return nil
		}
		if err == nil {
			err = fmt.Errorf("body %q, want %q", body, want)
		}
		last = err
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("get %s: %w", url, last)
}

func fetch(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("new request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	return string(b), nil
}

func resolve(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, name)
	if err != nil {
		fmt.Printf("error %s: %v\n", name, err)
		return
	}
	fmt.Printf("resolved %s: %v\n", name, addrs)
}
