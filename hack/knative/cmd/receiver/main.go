// Command receiver is the subscriber of the Knative smoke test
// (hack/knative/smoke.sh): it records every request it gets (method, path,
// headers, body; an Authorization bearer token is recorded as its decoded
// JWT claims, never the signature) and serves them back as JSON at GET
// /requests. POST /reply answers 200 with a reply event in binary mode
// (type <incoming type>.reply) unless the event is already a reply; POST
// /fail answers 503; any other POST answers 202.
package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"
)

type request struct {
	Time    time.Time           `json:"time"`
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Headers map[string][]string `json:"headers"`
	Claims  map[string]any      `json:"tokenClaims,omitempty"`
	Body    string              `json:"body"`
}

var (
	mu   sync.Mutex
	seen []request
)

// claims decodes the payload of a JWT bearer token; nil if there is none.
func claims(auth string) map[string]any {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return nil
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var c map[string]any
	if json.Unmarshal(raw, &c) != nil {
		return nil
	}
	return c
}

func handle(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	h := r.Header.Clone()
	c := claims(h.Get("Authorization"))
	if c != nil {
		h.Set("Authorization", "Bearer <redacted; claims in tokenClaims>")
	}
	rq := request{Time: time.Now().UTC(), Method: r.Method, Path: r.URL.Path, Headers: h, Claims: c, Body: string(body)}
	mu.Lock()
	seen = append(seen, rq)
	mu.Unlock()
	line, _ := json.Marshal(rq)
	log.Printf("%s", line)

	switch r.URL.Path {
	case "/fail":
		w.WriteHeader(http.StatusServiceUnavailable)
	case "/reply":
		typ := r.Header.Get("Ce-Type")
		if typ == "" || strings.HasSuffix(typ, ".reply") {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.Header().Set("Ce-Specversion", "1.0")
		w.Header().Set("Ce-Id", r.Header.Get("Ce-Id")+"-reply")
		w.Header().Set("Ce-Source", "receiver")
		w.Header().Set("Ce-Type", typ+".reply")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"reply":true}`))
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

func main() {
	log.SetFlags(0)
	s := &http.Server{Addr: ":8080", Handler: http.HandlerFunc(handle), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(s.ListenAndServe())
}
