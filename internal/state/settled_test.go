package state

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func keyN(i int) Key {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(i))
	return KeyOf(b[:])
}

// Keys forgotten out of order (a settled delivery found expired when
// claimed again) leave stale keys in the order; they are skipped, never
// taken for a later key of the same body, and compact drops them.
func TestSettledSetSkipsAndDropsStaleKeys(t *testing.T) {
	s := newSettledSet()
	for i := range 1000 {
		s.add(keyN(i), t0.Add(time.Duration(i)*time.Second))
	}
	for i := range 1000 {
		if i%4 != 3 {
			s.delete(keyN(i))
		}
	}
	s.add(keyN(0), t0.Add(time.Hour)) // again, at the back
	s.compact()
	assert.LessOrEqual(t, len(s.keys[s.head:]), 2*s.len()+64)

	var order []Key
	s.each(func(k Key, _ time.Time) { order = append(order, k) })
	require.Len(t, order, 251)
	assert.Equal(t, keyN(3), order[0])
	assert.Equal(t, keyN(0), order[250], "the key added again is the newest")

	s.expire(t0.Add(998*time.Second), func(Key) {})
	assert.Equal(t, 2, s.len(), "999 and the key added again are left")
	added, ok := s.get(keyN(0))
	require.True(t, ok)
	assert.Equal(t, t0.Add(time.Hour), added)
	k, ok := s.popOldest()
	require.True(t, ok)
	assert.Equal(t, keyN(999), k)
}

// Keys forgotten out of order do not pile up between maintenances: add
// drops the stale ones once they outnumber the live ones.
func TestSettledSetStaysBoundedWithoutMaintenance(t *testing.T) {
	s := newSettledSet()
	s.add(keyN(-1), t0) // a live key at the front: nothing leaves by the front
	for i := range 10_000 {
		s.add(keyN(i), t0)
		s.delete(keyN(i))
	}
	assert.Equal(t, 1, s.len())
	assert.LessOrEqual(t, len(s.keys)-int(s.head), 2*s.len()+64+1)
	key, _, ok := s.oldest()
	require.True(t, ok)
	assert.Equal(t, keyN(-1), key)
}
