package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/client-go/kubernetes"
)

// ReviewerOptions tune a Reviewer.
type ReviewerOptions struct {
	// TTL bounds how long an accepted token's review is reused (never
	// past the token's expiry). Default 1 minute.
	TTL time.Duration
	// NegativeTTL is how long a refused token stays refused without
	// asking again. Default 10 seconds.
	NegativeTTL time.Duration
	// CacheSize bounds the reviews kept. Default 4096.
	CacheSize int
	// Concurrency bounds the TokenReviews in flight; more wait. Default 8.
	Concurrency int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Reviewer authenticates bearer tokens with the API server's TokenReview
// for Audience. Answers are cached by a hash of the token (never the token
// itself): an accepted token for TTL or until it expires, a refused one for
// NegativeTTL; concurrent reviews of one token are made once. Safe for
// concurrent use.
type Reviewer struct {
	kube  kubernetes.Interface
	opts  ReviewerOptions
	cache *cache.LRUExpireCache
	group singleflight.Group
	slots chan struct{}
}

// review is a cached answer.
type review struct {
	id  Identity
	err error
}

// NewReviewer returns a Reviewer asking kube's API server.
func NewReviewer(kube kubernetes.Interface, opts ReviewerOptions) *Reviewer {
	if opts.TTL <= 0 {
		opts.TTL = time.Minute
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 10 * time.Second
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 4096
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Reviewer{
		kube: kube, opts: opts,
		cache: cache.NewLRUExpireCacheWithClock(opts.CacheSize, clockFunc(opts.Now)),
		slots: make(chan struct{}, opts.Concurrency),
	}
}

// Authenticate returns the identity of the sender of token. Errors wrap
// ErrUnauthenticated when the token is not good, or are the API server's
// trouble (to be answered 5xx, so the sender retries).
func (r *Reviewer) Authenticate(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, unauthenticated("no bearer token")
	}
	now := r.opts.Now()
	exp, err := peek(token, now)
	if err != nil {
		return Identity{}, err
	}
	key := fmt.Sprintf("%x", sha256.Sum256([]byte(token)))
	if v, ok := r.cache.Get(key); ok {
		rv := v.(review)
		return rv.id, rv.err
	}
	v, err, _ := r.group.Do(key, func() (any, error) {
		id, err := r.ask(ctx, token)
		switch {
		case err == nil:
			r.cache.Add(key, review{id: id}, min(r.opts.TTL, exp.Sub(now)))
		case isUnauthenticated(err):
			r.cache.Add(key, review{err: err}, r.opts.NegativeTTL)
		}
		return id, err
	})
	if err != nil {
		return Identity{}, err
	}
	return v.(Identity), nil
}

// ask makes one TokenReview, waiting for a free slot.
func (r *Reviewer) ask(ctx context.Context, token string) (Identity, error) {
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	case <-ctx.Done():
		return Identity{}, fmt.Errorf("wait for a token review: %w", ctx.Err())
	}
	tr, err := r.kube.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{Audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return Identity{}, fmt.Errorf("token review: %w", err)
	}
	st := tr.Status
	if !st.Authenticated {
		msg := strings.TrimSpace(st.Error)
		if msg == "" {
			msg = "token not authenticated"
		}
		return Identity{}, unauthenticated("%s", msg)
	}
	if !slices.Contains(st.Audiences, Audience) {
		return Identity{}, unauthenticated("token review did not confirm audience %q", Audience)
	}
	return identityOf(st.User), nil
}

func isUnauthenticated(err error) bool { return errors.Is(err, ErrUnauthenticated) }

// TokenExtension is the CloudEvents extension attribute in which a sender
// also presents its token: a Knative Broker forwards an event's
// extensions to the subscriber but not the sender's Authorization header
// (it authenticates itself there, if at all), so the sender's identity
// travels end to end in the event. In binary mode it is the HTTP header
// TokenHeader.
const TokenExtension = "authtoken"

// TokenHeader is TokenExtension as an HTTP header in binary mode.
const TokenHeader = "Ce-" + TokenExtension

// SenderToken returns the token of an event's sender: the TokenExtension
// when the request carries one (it came through a Broker, whose own
// credentials, if any, are in the Authorization header), else the bearer
// token of the Authorization header; "" when there is neither.
func SenderToken(h http.Header) string {
	if t := strings.TrimSpace(h.Get(TokenHeader)); t != "" {
		return t
	}
	return BearerToken(h)
}

// BearerToken returns the bearer token of an HTTP request's Authorization
// header, "" when it has none.
func BearerToken(h http.Header) string {
	v := h.Get("Authorization")
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// clockFunc adapts a now function to the cache's clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }
