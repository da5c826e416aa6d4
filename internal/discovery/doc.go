// Package discovery forms a cluster through a discovery URL (-discovery, as
// etcd 0.4 and 2 did) and serves GET /new, which makes any arbor a
// discovery service.
//
// It owns the discovery protocol on both sides: registering a member in a
// token directory, deciding from the registrations whether the member
// starts a new cluster or joins a running one, and creating tokens. It
// does not start, join or bootstrap anything itself: the caller (cmd/arbor)
// turns the Result into a bootstrap with the founding members, or a join
// through the listed ones. It speaks HTTP to the discovery service, which
// may be an arbor or an etcd (2.x, or 3.x with --enable-v2).
//
// # Registry layout
//
// A token is a v2 keys directory, by convention /_etcd/registry/<token>;
// its URL (http://host:2379/v2/keys/_etcd/registry/<token>) is the
// -discovery value. Requests go to the URL and below it, as etcd 2 sends
// them, so a token behind a proxy path works too.
//
//	<token>/_config/size   expected cluster size N (optional; /new writes it)
//	<token>/<id in hex>    one per member: "name=peerURL[,name=peerURL...]",
//	                       created with prevExist=false, no TTL
//	<token>/_state         "started", created (prevExist=false) once the
//	                       founding members are known: the token is used
//
// etcd 0.4 registered "<token>/<name>" = "host:port"; such entries are
// read as members with ID 0. Hidden entries (_config, _state) are not
// listed with the directory and are not members.
//
// # Decisions
//
// Registration order is createdIndex order, the same for every reader.
//
// With _config/size = N (etcd 2 semantics) the first N registrations are
// the founding members. Each founder waits, long-polling the directory
// (wait=true&waitIndex=<index+1>&recursive=true, read again after each
// change), until N have registered, then bootstraps with exactly those N.
// A member arriving after that is refused with *UsedTokenError
// (ErrTokenUsed), which names the founders and says what to do: get a
// fresh token, or join the running cluster with -peers. etcd 2 refused it
// the same way ("cluster is full"). Issue 3's "joins the members already
// registered" is the 0.4 mode below; in size mode, joining silently would
// make one token serve two different clusters when a cluster is rebuilt
// from fresh data dirs with an old token, and the refusal is what "a used
// token is refused with a clear message" asks for. A member refused this
// way before registering never registers; one that lost the race for the
// last place removes its own registration.
//
// _state guards the refusal when registrations are deleted after the
// cluster formed: while it exists, a member not registered yet is refused
// even if fewer than N registrations remain.
//
// Without _config/size (etcd 0.4 semantics, e.g. a directory made by hand)
// the first registration starts the cluster alone (Bootstrap, writing
// _state as etcd 0.4 did) and every later member joins through the
// members registered before it, which are running or joining already.
// Such a token never refuses: it is how 0.4 added machines.
//
// The same member registering again (same ID, or same name and peer URLs:
// it crashed after registering and before writing its data dir) is not a
// new member: Join answers as it would have the first time, with the ID of
// the earlier registration, and lists every registration (Registered): if
// the cluster runs, the member ran in it and its data dir is gone since, and
// cmd/arbor then joins it as a new member instead of starting Raft again
// under the old ID. A different member under the same ID or name is an
// error (ErrDuplicateID, ErrDuplicateName).
//
// A discovery service that cannot be reached, times out or answers 5xx is
// retried with exponential backoff and jitter until the caller's context
// ends; a v2 error or an answer that is not v2 JSON (ErrBadEndpoint) is
// not retried.
//
// # Usage
//
//	res, err := discovery.Join(ctx, discovery.Config{
//		URL: discoveryURL, ID: memberID, Name: name, PeerURLs: peerURLs, Logger: log,
//	})
//	if errors.Is(err, discovery.ErrTokenUsed) { ... exit with err's message ... }
//	if res.Bootstrap { bootstrap with res.Members } else { join through res.Members' PeerURLs }
//
//	mux.Handle("/new", discovery.NewHandler(keys, func(*http.Request) string { return advertisedClientURL }))
package discovery
