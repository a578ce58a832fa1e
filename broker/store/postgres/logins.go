package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// A returning player's login stores one row (the session's first refresh
// token), and on PostgreSQL most of that row's cost is the statement around
// it: executor start, locks, the commit's WAL flush. logins lets
// concurrent logins share one statement and so one commit: group commit,
// done where the statement is built. No login waits for another to
// arrive: a worker takes what is queued when it is free, so a lone login
// runs at once, alone, and under load the batches grow by themselves. Each
// caller still returns only after its own row is committed.
type logins struct {
	pool *pgxpool.Pool
	// alone stores one login by itself, in a statement of its own.
	alone   func(ctx context.Context, slot int, identifier string, t broker.RefreshToken) (broker.RefreshToken, error)
	queue   chan *login
	stop    chan struct{}
	stopped sync.Once
	workers sync.WaitGroup
}

const (
	// maxLoginWorkers bounds how many batches run at once, each on a
	// connection of its own: enough to keep a database's CPUs busy while a
	// batch waits on its commit's flush, few enough that batches fill. A
	// small pool gets fewer (a quarter of it), so that logins leave
	// connections to everything else.
	maxLoginWorkers = 4
	// maxLoginBatch bounds a statement's rows (and its arrays).
	maxLoginBatch = 64
	// loginBatchTimeout bounds a batch none of whose callers set a deadline.
	loginBatchTimeout = 30 * time.Second
)

// login is one caller's row and, once ready is closed, its outcome.
type login struct {
	ctx        context.Context
	slot       int
	identifier string
	row        broker.RefreshToken

	userID string
	err    error
	ready  chan struct{}
}

func newLogins(pool *pgxpool.Pool, alone func(context.Context, int, string, broker.RefreshToken) (broker.RefreshToken, error)) *logins {
	b := &logins{pool: pool, alone: alone, queue: make(chan *login, maxLoginBatch), stop: make(chan struct{})}
	n := max(1, min(maxLoginWorkers, int(pool.Config().MaxConns)/4))
	b.workers.Add(n)
	for range n {
		go b.work()
	}
	return b
}

// close stops the workers once their batches are done; logins still
// queued fail.
func (b *logins) close() {
	b.stopped.Do(func() { close(b.stop) })
	b.workers.Wait()
}

// opLoginByLink names CreateRefreshTokenByLink in its errors, batched or not.
const opLoginByLink = "create refresh token by link"

// errClosed refuses a login after Close: the broker is shutting down.
var errClosed = fmt.Errorf("store is closed: %w", broker.ErrUnavailable)

// create stores t as the first refresh token of a new family for the user
// linked as (t.NamespaceID, slot, identifier), as CreateRefreshTokenByLink.
func (b *logins) create(ctx context.Context, slot int, identifier string, t broker.RefreshToken) (broker.RefreshToken, error) {
	l := &login{ctx: ctx, slot: slot, identifier: identifier, row: t, ready: make(chan struct{})}
	select {
	case b.queue <- l:
	case <-ctx.Done():
		return broker.RefreshToken{}, wrap(opLoginByLink, ctx.Err())
	case <-b.stop:
		return broker.RefreshToken{}, wrap(opLoginByLink, errClosed)
	}
	select {
	case <-l.ready:
	case <-ctx.Done():
		// The batch may still commit the row; a session nobody holds a
		// token of only waits for its expiry, as when a client hangs up
		// after the commit.
		return broker.RefreshToken{}, wrap(opLoginByLink, ctx.Err())
	case <-b.stop:
		// Closed with l queued, or in a batch still running; the broker
		// is shutting down either way.
		return broker.RefreshToken{}, wrap(opLoginByLink, errClosed)
	}
	if l.err != nil {
		return broker.RefreshToken{}, l.err
	}
	t.UserID = l.userID
	return t, nil
}

func (b *logins) work() {
	defer b.workers.Done()
	batch := make([]*login, 0, maxLoginBatch)
	for {
		select {
		case <-b.stop:
			return
		case l := <-b.queue:
			batch = append(batch[:0], l)
		}
	fill:
		for len(batch) < maxLoginBatch {
			select {
			case l := <-b.queue:
				batch = append(batch, l)
			default:
				break fill
			}
		}
		b.run(batch)
	}
}

// loginBatchSQL is CreateRefreshTokenByLink's statement for many rows: each
// row is stored when its link exists and its user is not banned, and comes
// back with its key.
const loginBatchSQL = `INSERT INTO refresh_tokens (hash, cur, family_id, client_id, user_id,
	namespace_id, scope, time_offset, resource, jkt, created_at, started_at, expires_at)
	SELECT r.key, r.cur, r.family_id, r.client_id, l.user_id, l.namespace_id, r.scope, r.time_offset,
	       r.resource, r.jkt, r.created_at, r.created_at, r.expires_at
	FROM unnest($1::bytea[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[],
	            $8::text[], $9::timestamptz[], $10::timestamptz[], $11::text[], $12::int[], $13::text[])
	     AS r(key, cur, family_id, client_id, scope, time_offset, resource, jkt, created_at, expires_at,
	          namespace_id, slot, identifier)
	JOIN takeover_links l ON l.namespace_id = r.namespace_id AND l.slot = r.slot AND l.identifier = r.identifier
	WHERE NOT EXISTS (SELECT 1 FROM bans b WHERE b.user_id = l.user_id AND b.release_at > r.created_at)
	RETURNING hash, user_id`

// run stores batch's rows and tells each caller its outcome.
func (b *logins) run(batch []*login) {
	live := batch[:0]
	for _, l := range batch {
		if l.ctx.Err() == nil {
			live = append(live, l)
		}
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := batchContext(live)
	defer cancel()
	users, err := b.insert(ctx, live)
	if err != nil {
		if k := classify(err); len(live) > 1 && k != sqlstore.Busy && k != sqlstore.Unavailable {
			// Something in one row failed the statement: each row alone, so
			// that it fails only its own login.
			for _, l := range live {
				var t broker.RefreshToken
				t, l.err = b.alone(l.ctx, l.slot, l.identifier, l.row)
				l.userID = t.UserID
				close(l.ready)
			}
			return
		}
	}
	for _, l := range live {
		switch id, ok := users[string(l.row.Key)]; {
		case err != nil:
			l.err = wrap(opLoginByLink, err)
		case ok:
			l.userID = id
		default:
			l.err = wrap(opLoginByLink, pgx.ErrNoRows)
		}
		close(l.ready)
	}
}

func (b *logins) insert(ctx context.Context, batch []*login) (map[string]string, error) {
	var c loginColumns
	for _, l := range batch {
		c.add(l)
	}
	users := make(map[string]string, len(batch))
	err := again(ctx, func() error {
		clear(users)
		rows, err := b.pool.Query(ctx, loginBatchSQL, c.keys, c.curs, c.families, c.clients, c.scopes,
			c.offsets, c.resources, c.jkts, c.created, c.expires, c.namespaces, c.slots, c.identifiers)
		if err != nil {
			return err
		}
		var key []byte
		var user string
		_, err = pgx.ForEachRow(rows, []any{&key, &user}, func() error {
			users[string(key)] = user
			return nil
		})
		return err
	})
	return users, err
}

// loginColumns are loginBatchSQL's arrays, one element per login.
type loginColumns struct {
	keys, curs                                                          [][]byte
	families, clients, scopes, resources, jkts, namespaces, identifiers []string
	offsets, slots                                                      []int32
	created, expires                                                    []time.Time
}

func (c *loginColumns) add(l *login) {
	t := l.row
	c.keys, c.curs = append(c.keys, t.Key), append(c.curs, t.Hash)
	c.families, c.clients, c.scopes = append(c.families, t.FamilyID), append(c.clients, t.ClientID), append(c.scopes, t.Scope)
	c.resources, c.jkts = append(c.resources, t.Resource), append(c.jkts, t.JKT)
	c.namespaces, c.identifiers = append(c.namespaces, t.NamespaceID), append(c.identifiers, l.identifier)
	c.offsets, c.slots = append(c.offsets, int32(t.TimeOffset)), append(c.slots, int32(l.slot))
	c.created, c.expires = append(c.created, t.CreatedAt), append(c.expires, t.ExpiresAt)
}

// batchContext is a context for a batch's statement: it ends when the last
// of its callers' deadlines passes, so that no caller's deadline cuts the
// others' statement short.
func batchContext(batch []*login) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(loginBatchTimeout)
	latest := time.Time{}
	for _, l := range batch {
		d, ok := l.ctx.Deadline()
		if !ok {
			latest = deadline
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(batch[0].ctx), latest)
}
