package state

import (
	"context"
	"encoding/json"

	"github.com/redis/go-redis/v9"
)

// In Redis the domains' records are indexed by a sorted set scored by when
// each was last updated: the metrics read the newest max_domains (ZREVRANGE
// with a limit) and every update trims the rest, as the memory backend
// forgets its least recently updated domain. Versions before kept a plain
// set of every domain, read whole every metrics_interval; migrateDomainSet
// moves it into the index once.

// domainIndex is the sorted set of domain names by update time (ms).
func (k redisKeys) domainIndex() string { return k.prefix + "{detectify}domains:updated" }

// legacyDomains is the set of domain names earlier versions kept.
func (k redisKeys) legacyDomains() string { return k.prefix + "{detectify}domains" }

func (b *redisBackend) domainRecords(ctx context.Context, all bool) (map[string]DomainRecord, error) {
	b.mu.Lock()
	changed := b.changed
	b.changed = map[string]DomainRecord{}
	b.mu.Unlock()
	if !all {
		return changed, nil
	}
	// Every replica exports the same domains, and reads no more of them
	// than it exports.
	names, err := b.client.ZRevRange(ctx, b.keys.domainIndex(), 0, int64(b.cfg.MaxDomains)-1).Result()
	if err != nil {
		b.gaugesChangedRecords(changed)
		return nil, unavailable(err)
	}
	out, gone, err := b.readDomains(ctx, names)
	if err != nil {
		b.gaugesChangedRecords(changed)
		return nil, err
	}
	if len(gone) > 0 { // expired: nothing else drops them from the index
		b.client.ZRem(ctx, b.keys.domainIndex(), gone...)
	}
	return out, nil
}

// readDomains reads the records of names, a chunk per round trip; gone
// are the names whose record expired.
func (b *redisBackend) readDomains(ctx context.Context, names []string) (out map[string]DomainRecord, gone []any, err error) {
	out = make(map[string]DomainRecord, len(names))
	const chunk = 500
	for i := 0; i < len(names); i += chunk {
		part := names[i:min(i+chunk, len(names))]
		keys := make([]string, len(part))
		for j, name := range part {
			keys[j] = b.keys.domain(name)
		}
		values, err := b.client.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, nil, unavailable(err)
		}
		for j, v := range values {
			s, ok := v.(string)
			if !ok {
				gone = append(gone, part[j])
				continue
			}
			var rec DomainRecord
			if json.Unmarshal([]byte(s), &rec) == nil {
				out[part[j]] = rec
			}
		}
	}
	return out, gone, nil
}

// migrateDomainSet moves the set of domains an earlier version left into
// the index, scored by each record's update time, and deletes it. A name
// the index has already keeps its score (an update since is newer); one
// whose record expired is dropped. Replicas starting together may both
// migrate, to the same outcome. During a rolling upgrade a replica of the
// earlier version may write the set again: the next start moves that.
func (b *redisBackend) migrateDomainSet(ctx context.Context) error {
	names, err := b.client.SMembers(ctx, b.keys.legacyDomains()).Result()
	if err != nil || len(names) == 0 {
		return unavailable(err)
	}
	records, _, err := b.readDomains(ctx, names)
	if err != nil {
		return err
	}
	_, err = b.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if len(records) > 0 {
			members := make([]redis.Z, 0, len(records))
			for name, rec := range records {
				members = append(members, redis.Z{Score: float64(rec.Updated.UnixMilli()), Member: name})
			}
			p.ZAddNX(ctx, b.keys.domainIndex(), members...)
			p.ZRemRangeByRank(ctx, b.keys.domainIndex(), 0, -int64(b.cfg.MaxDomains)-1)
		}
		p.Del(ctx, b.keys.legacyDomains())
		return nil
	})
	return unavailable(err)
}
