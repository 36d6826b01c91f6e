package state

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// In Redis, a body in flight or waiting for a retry is a small hash of its
// own (owner, lease, counted, insight), expiring after dedup_window. Once
// settled, only its key is kept: a member of one sorted set (the raw
// 32-byte key, scored by when it was first received), trimmed to
// dedup_window and to dedup_max_entries, oldest first, by every settle.
// So the replicas keep the same bound as the memory backend, and a
// duplicate costs 32 bytes and a score, not a hash and a key name.

// claimScript claims a body: duplicate (settled within the window), new,
// busy (held by a live lease), or taken over (pending, or its lease ran
// out) with what it was counted as. A hash in state settled was left by
// an earlier version and is still a duplicate.
//
// KEYS: claim hash, settled set. ARGV: owner, now ms, lease ms, window ms,
// raw key.
var claimScript = redis.NewScript(`
local added = redis.call('ZSCORE', KEYS[2], ARGV[5])
if added then
  if tonumber(added) > tonumber(ARGV[2]) - tonumber(ARGV[4]) then
    return {'duplicate'}
  end
  redis.call('ZREM', KEYS[2], ARGV[5])
end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('HSET', KEYS[1], 'state', 'inflight', 'owner', ARGV[1], 'lease', tonumber(ARGV[2]) + tonumber(ARGV[3]), 'added', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {'new'}
end
if state == 'settled' then
  return {'duplicate'}
end
if state == 'inflight' and tonumber(redis.call('HGET', KEYS[1], 'lease')) > tonumber(ARGV[2]) then
  return {'busy'}
end
redis.call('HSET', KEYS[1], 'state', 'inflight', 'owner', ARGV[1], 'lease', tonumber(ARGV[2]) + tonumber(ARGV[3]))
return {'taken', redis.call('HGET', KEYS[1], 'counted') or '', redis.call('HGET', KEYS[1], 'insight') or ''}
`)

// settleScript ends a claim its owner still holds: released, it stays a
// hash (pending); done, the hash goes and the key joins the settled set,
// which is then trimmed. It returns -1 when the claim was lost, else how
// many settled keys dedup_max_entries evicted.
//
// KEYS: claim hash, settled set. ARGV: owner, done (1 or 0), now ms,
// window ms, max entries, raw key.
var settleScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  return -1
end
if ARGV[2] ~= '1' then
  redis.call('HSET', KEYS[1], 'state', 'pending', 'owner', '')
  return 0
end
local added = redis.call('HGET', KEYS[1], 'added') or ARGV[3]
redis.call('DEL', KEYS[1])
redis.call('ZADD', KEYS[2], added, ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
  redis.call('ZPOPMIN', KEYS[2], over)
  return over
end
return 0
`)

func (b *redisBackend) claim(ctx context.Context, key Key, now time.Time) (Claim, error) {
	owner := b.names.next()
	cmd, err := b.runBatched(ctx, claimScript, []string{b.keys.claim(key), b.keys.settled},
		owner, now.UnixMilli(), claimLease.Milliseconds(), b.cfg.DedupWindow.Milliseconds(), key[:])
	if err != nil {
		return Claim{}, err
	}
	res, err := cmd.StringSlice()
	if err != nil {
		return Claim{}, unavailable(err)
	}
	switch res[0] {
	case "new":
		return Claim{Status: ClaimNew, owner: owner}, nil
	case "duplicate":
		return Claim{Status: ClaimDuplicate}, nil
	case "busy":
		return Claim{Status: ClaimBusy}, nil
	}
	c := Claim{Status: ClaimNew, owner: owner}
	if len(res) >= 3 && res[1] == "1" {
		c.Status = ClaimCounted
		if err := json.Unmarshal([]byte(res[2]), &c.Insight); err != nil {
			return Claim{}, fmt.Errorf("redis: a claim's insight is unreadable: %w", err)
		}
	}
	return c, nil
}

func (b *redisBackend) evictedDeliveries() int64 { return b.evictedClaims.Swap(0) }
