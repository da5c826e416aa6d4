package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/arbor-kv/arbor/client"
)

// Config says which token to join and who this member is.
type Config struct {
	// URL is the token URL given to -discovery, a v2 keys directory such
	// as http://10.0.0.5:2379/v2/keys/_etcd/registry/<token>.
	URL string
	// ID is this member's ID; it registers under ID in hex.
	ID uint64
	// Name and PeerURLs describe this member to the others.
	Name     string
	PeerURLs []string

	// HTTPClient sends the requests (nil: a default client). Its Timeout
	// should be zero: Join long-polls the registry while it waits.
	HTTPClient *http.Client
	// Logger receives progress and retries (nil: discarded).
	Logger *slog.Logger
	// RequestTimeout bounds each request but the long polls (default 5s).
	RequestTimeout time.Duration
	// RetryInitial and RetryMax bound the pause between attempts while the
	// discovery service is unreachable or answers 5xx: it starts at
	// RetryInitial and doubles up to RetryMax, with jitter (defaults 500ms
	// and 30s). Retries go on until ctx ends.
	RetryInitial time.Duration
	RetryMax     time.Duration
}

// Result is what the token says this member should do.
type Result struct {
	// ID is the ID this member is registered under: Config.ID, or the ID of
	// an earlier registration with the same name and peer URLs (this member
	// registered before, then restarted before its data dir was written).
	// The member must use it as its member ID.
	ID uint64
	// Bootstrap says this member starts a new cluster whose initial members
	// are exactly Members. Otherwise it joins the running cluster through
	// Members.
	Bootstrap bool
	// Members, in registration order: with Bootstrap, the founding members,
	// this one included; without, the members registered before this one
	// (never empty), to join through.
	Members []Member
	// Size is the token's _config/size; 0 for a token without one.
	Size int
	// Registered is set when this member was registered before this call
	// (under ID): every registration, in order. If the cluster runs, the
	// member ran in it and lost its data dir since; it must then join it
	// as a new member instead of starting Raft again under ID.
	Registered []Member
}

// Join registers this member under cfg.URL and decides, from the
// registrations, whether it starts the cluster or joins it:
//
//   - With _config/size = N (etcd 2), the first N members to register
//     (in createdIndex order) found the cluster: each of them waits,
//     watching the registry, until N have registered, then gets
//     Bootstrap and the same N members. Any later member is refused with
//     a *UsedTokenError, as etcd 2 refused it ("cluster is full").
//   - Without _config/size (etcd 0.4), the first member to register
//     starts the cluster alone; each later one joins the members
//     registered before it.
//
// Registering again under the same ID, or with the same name and peer
// URLs, is not an error: it is the same member after a restart. While the
// discovery service is unreachable or answers 5xx, Join retries with
// backoff until ctx ends. Call Join only for an empty data dir: a member
// that already belongs to a cluster restarts from its data and never
// reads the token again.
func Join(ctx context.Context, cfg Config) (Result, error) {
	j, err := newJoiner(cfg)
	if err != nil {
		return Result{}, err
	}
	var size int
	err = j.retry(ctx, "read _config/size", func(ctx context.Context) (err error) {
		size, err = j.reg.size(ctx)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	id, err := j.register(ctx, size)
	if err != nil {
		return Result{}, err
	}
	res, err := j.await(ctx, size, id)
	if err != nil || id == cfg.ID {
		return res, err
	}
	snap, err := j.read(ctx)
	if err != nil {
		return Result{}, err
	}
	res.Registered = snap.members
	return res, nil
}

// joiner is one Join call.
type joiner struct {
	cfg Config
	reg registry
	log *slog.Logger
}

func newJoiner(cfg Config) (*joiner, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("discovery: bad URL %q: want http(s)://host[:port]/path/to/token", cfg.URL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment, u.RawFragment = "", "", "", ""
	if cfg.ID == 0 {
		return nil, errors.New("discovery: member ID 0")
	}
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, "=,") {
		return nil, fmt.Errorf("discovery: member name %q must be non-empty, without '=' or ','", cfg.Name)
	}
	if len(cfg.PeerURLs) == 0 {
		return nil, errors.New("discovery: no peer URLs")
	}
	for _, p := range cfg.PeerURLs {
		if _, err := peerURL(p); err != nil || strings.ContainsAny(p, ",") || !strings.Contains(p, "://") {
			return nil, fmt.Errorf("discovery: bad peer URL %q", p)
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = 500 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 30 * time.Second
	}
	cfg.RetryMax = max(cfg.RetryMax, cfg.RetryInitial)
	return &joiner{
		cfg: cfg,
		reg: registry{url: *u, hc: cfg.HTTPClient, timeout: cfg.RequestTimeout},
		log: cfg.Logger.With("discovery", u.Redacted()),
	}, nil
}

// register makes sure this member is registered and returns the ID it is
// registered under. A member arriving at a token whose cluster formed
// without it is refused before it registers, as etcd 2 did.
func (j *joiner) register(ctx context.Context, size int) (uint64, error) {
	snap, err := j.read(ctx)
	if err != nil {
		return 0, err
	}
	if m, ok, err := j.findSelf(snap.members); err != nil || ok {
		if ok {
			j.log.Info("discovery: already registered (restarted before the cluster started?)", "name", m.Name, "id", idKey(m.ID))
		}
		return m.ID, err
	}
	if size > 0 {
		if len(snap.members) >= size {
			return 0, j.used(size, snap.members[:size])
		}
		// _state outlives registrations deleted after the cluster formed.
		started, err := j.started(ctx)
		if err != nil {
			return 0, err
		}
		if started {
			return 0, j.used(size, snap.members)
		}
	}
	value := encodeRegistration(j.cfg.Name, j.cfg.PeerURLs)
	err = j.retry(ctx, "register", func(ctx context.Context) error {
		_, err := j.reg.create(ctx, idKey(j.cfg.ID), value)
		return err
	})
	var e *client.Error
	if errors.As(err, &e) && e.Code == client.CodeNodeExist {
		// Registered meanwhile: by an attempt whose answer was lost, or by
		// another member with the same ID.
		return j.cfg.ID, j.checkOwnKey(ctx, value)
	}
	if err != nil {
		return 0, err
	}
	j.log.Info("discovery: registered", "name", j.cfg.Name, "id", idKey(j.cfg.ID), "peer_urls", j.cfg.PeerURLs)
	return j.cfg.ID, nil
}

// findSelf looks for an earlier registration of this member: under its ID,
// or under another ID with the same name and peer URLs. A registration that
// shares only the ID or only the name is another member: an error.
func (j *joiner) findSelf(ms []Member) (Member, bool, error) {
	for _, m := range ms {
		if m.ID == j.cfg.ID {
			if m.Name == j.cfg.Name && sameURLs(m.PeerURLs, j.cfg.PeerURLs) {
				return m, true, nil
			}
			return Member{}, false, fmt.Errorf("%w: %x is registered as %s %v, this member is %s %v",
				ErrDuplicateID, m.ID, m.Name, m.PeerURLs, j.cfg.Name, j.cfg.PeerURLs)
		}
	}
	for _, m := range ms {
		if m.Name != j.cfg.Name {
			continue
		}
		if m.ID != 0 && sameURLs(m.PeerURLs, j.cfg.PeerURLs) {
			return m, true, nil
		}
		return Member{}, false, fmt.Errorf("%w: %q is registered with peer URLs %v, this member has %v; names must be unique in a cluster",
			ErrDuplicateName, m.Name, m.PeerURLs, j.cfg.PeerURLs)
	}
	return Member{}, false, nil
}

// checkOwnKey accepts an existing registration under this member's ID only
// if it describes this member.
func (j *joiner) checkOwnKey(ctx context.Context, value string) error {
	var resp *client.Response
	err := j.retry(ctx, "read own registration", func(ctx context.Context) (err error) {
		resp, err = j.reg.get(ctx, idKey(j.cfg.ID))
		return err
	})
	if err != nil {
		return err
	}
	if resp.Node.Value != value {
		return fmt.Errorf("%w: %x is registered as %q, this member is %q", ErrDuplicateID, j.cfg.ID, resp.Node.Value, value)
	}
	return nil
}

// await reads the registry, watching it while fewer than size members are
// registered, and decides.
func (j *joiner) await(ctx context.Context, size int, id uint64) (Result, error) {
	for {
		snap, err := j.read(ctx)
		if err != nil {
			return Result{}, err
		}
		pos := -1
		for i, m := range snap.members {
			if m.ID == id {
				pos = i
				break
			}
		}
		if pos < 0 {
			return Result{}, fmt.Errorf("discovery: this member's registration %s/%s was deleted while it waited", j.reg.url.Redacted(), idKey(id))
		}
		switch {
		case size == 0 && pos == 0:
			j.markStarted(ctx)
			j.log.Info("discovery: first to register; starting a new cluster")
			return Result{ID: id, Bootstrap: true, Members: snap.members[:1]}, nil
		case size == 0:
			if err := uniqueNames(snap.members[:pos+1]); err != nil {
				return Result{}, err
			}
			j.log.Info("discovery: joining the members registered before this one", "members", names(snap.members[:pos]))
			return Result{ID: id, Members: snap.members[:pos]}, nil
		case pos >= size:
			// Lost the race for the last place: leave the registry as the
			// cluster is.
			if err := j.reg.deleteIfIndex(ctx, idKey(id), snap.members[pos].Index); err != nil {
				j.log.Warn("discovery: could not remove this member's registration", "err", err)
			}
			return Result{}, j.used(size, snap.members[:size])
		case len(snap.members) >= size:
			founders := snap.members[:size]
			if err := uniqueNames(founders); err != nil {
				return Result{}, err
			}
			j.markStarted(ctx)
			j.log.Info("discovery: all members registered; starting the cluster", "members", names(founders))
			return Result{ID: id, Bootstrap: true, Members: founders, Size: size}, nil
		}
		j.log.Info("discovery: waiting for members to register", "registered", len(snap.members), "size", size)
		err = j.retry(ctx, "watch", func(ctx context.Context) error {
			return j.reg.waitChange(ctx, snap.index, pollLimit)
		})
		if err != nil && !errors.Is(err, errPollEnded) {
			if ctx.Err() != nil {
				return Result{}, fmt.Errorf("discovery: waiting for %d members at %s (%d registered: %s): %w",
					size, j.reg.url.Redacted(), len(snap.members), names(snap.members), err)
			}
			return Result{}, err
		}
	}
}

// pollLimit ends a long poll that saw nothing, so that a connection that
// died silently is noticed; the registry is read again and watched anew.
const pollLimit = time.Minute

func (j *joiner) read(ctx context.Context) (snapshot, error) {
	var s snapshot
	err := j.retry(ctx, "read registry", func(ctx context.Context) (err error) {
		s, err = j.reg.read(ctx)
		return err
	})
	return s, err
}

// started says whether _state records that the cluster formed.
func (j *joiner) started(ctx context.Context) (bool, error) {
	var found bool
	err := j.retry(ctx, "read _state", func(ctx context.Context) error {
		_, err := j.reg.get(ctx, stateKey)
		var e *client.Error
		if errors.As(err, &e) && e.Code == client.CodeKeyNotFound {
			found, err = false, nil
		} else if err == nil {
			found = true
		}
		return err
	})
	return found, err
}

// stateKey is etcd 0.4's marker that a token's cluster started. Written
// once (prevExist=false) when the founding members are known.
const stateKey = "_state"

// markStarted records that the token's cluster formed. Best effort: the
// registration order alone already refuses latecomers; _state only guards
// against registrations deleted later.
func (j *joiner) markStarted(ctx context.Context) {
	_, err := j.reg.create(ctx, stateKey, "started")
	var e *client.Error
	if err != nil && !(errors.As(err, &e) && e.Code == client.CodeNodeExist) {
		j.log.Warn("discovery: could not record the token as used", "err", err)
	}
}

func (j *joiner) used(size int, founders []Member) error {
	return &UsedTokenError{URL: j.reg.url.Redacted(), Size: size, Members: founders, Name: j.cfg.Name, ID: j.cfg.ID}
}

// uniqueNames refuses founding members that share a name (registered
// concurrently, so that neither saw the other).
func uniqueNames(ms []Member) error {
	seen := map[string]uint64{}
	for _, m := range ms {
		if other, ok := seen[m.Name]; ok {
			return fmt.Errorf("%w: %q is registered by members %x and %x", ErrDuplicateName, m.Name, other, m.ID)
		}
		seen[m.Name] = m.ID
	}
	return nil
}

// retry calls f until it succeeds, fails for a reason other than an
// unavailable discovery service, or ctx ends, pausing with exponential
// backoff and jitter in between.
func (j *joiner) retry(ctx context.Context, step string, f func(context.Context) error) error {
	delay := j.cfg.RetryInitial
	var failed error // the last failure not caused by ctx ending
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return j.ended(ctx, step, failed)
		}
		if !isUnavailable(err) {
			return err
		}
		failed = err
		pause := delay/2 + rand.N(delay/2+1)
		j.log.Warn("discovery: service unavailable; retrying", "step", step, "err", err, "retry_in", pause)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return j.ended(ctx, step, failed)
		case <-t.C:
		}
		delay = min(2*delay, j.cfg.RetryMax)
	}
}

// ended is the error of a step that ctx ended, with the failure that kept
// it retrying, if any.
func (j *joiner) ended(ctx context.Context, step string, failed error) error {
	if failed != nil {
		return fmt.Errorf("discovery: %s: %w (last error: %v)", step, ctx.Err(), failed)
	}
	return fmt.Errorf("discovery: %s: %w", step, ctx.Err())
}
