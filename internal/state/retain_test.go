package state

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// A webhook's Event cuts the strings only its record uses (the URLs, the
// tags, and the ids they name) from the webhook's text. Nothing the state
// keeps may point into that text: a scan's record would keep a whole body
// alive, in every backend.
func TestTheStateKeepsNoStringOfAWebhooksText(t *testing.T) {
	bodies := []string{
		started("d.example", "s1"),
		finding("d.example", "s1", "XSS", "high", 1),
		`{"type":"event_finding_medium","domain":"d.example","title":"CSRF","severity":"Medium","tags":["new","owasp-top-10"],` +
			`"finding_url":"https://detectify.com/report/prof2/s1/f2"}`,
		finding("d.example", "s2", "SQLi", "critical", 3), // a scan never seen opens with the finding
		finished("d.example", "s1", 1, 1, 0),
		`{"type":"event_scan_started","domain":"e.example","report_url":"https://detectify.com/report/prof3/s3"}`,
	}
	// Each state is closed before the walk, so that no goroutine of its
	// (the journal's writer, the Redis sender) still changes what is walked.
	backends := []struct {
		name string
		open func(t *testing.T) *State
	}{
		{"memory", func(*testing.T) *State { return NewMemory(testConfig(), t0) }},
		{"memory with storage", func(t *testing.T) *State {
			s := NewMemory(testConfig(), t0)
			_, err := s.Persist(context.Background(), newFakeStorage(), t0)
			require.NoError(t, err)
			return s
		}},
		{"redis", func(t *testing.T) *State {
			client := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
			s, err := NewRedis(context.Background(), testConfig(), RedisConfig{Client: client, KeyPrefix: "test/", Replica: "r1"}, t0)
			require.NoError(t, err)
			return s
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := b.open(t)
			var texts []string
			for _, body := range bodies {
				text := strings.Clone(body)
				var e message.Event
				require.NoError(t, message.ParseInto([]byte(body), text, &e))
				require.NotEmpty(t, stringsWithin(&e, text), "the walk finds what the Event cut from %s", text)
				d, err := s.Accept(ctx, KeyOf([]byte(body)), &e, t0)
				require.NoError(t, err)
				require.NoError(t, s.Settle(ctx, &d, true, t0))
				require.NoError(t, s.Sync(ctx))
				texts = append(texts, text)
			}
			var rec ScanRecord
			_, err := s.update(ctx, nil, t0, func(tx Tx) (Insight, error) {
				var err error
				rec, _, err = tx.Scan(scanKey("e.example", "s3"))
				return Insight{}, err
			})
			require.NoError(t, err)
			require.Equal(t, "prof3", rec.Profile, "the profile is kept, as a copy")
			require.NoError(t, s.Close(ctx))
			for _, text := range texts {
				assert.Empty(t, stringsWithin(s, text), "strings the state keeps that point into %s", text)
			}
		})
	}
}

// stringsWithin walks everything root reaches (pointers, maps, slices,
// interfaces, unexported fields too) and returns the paths of the strings
// whose bytes lie in text's.
func stringsWithin(root any, text string) []string {
	lo := uintptr(unsafe.Pointer(unsafe.StringData(text)))
	hi := lo + uintptr(len(text))
	w := walker{lo: lo, hi: hi, seen: map[uintptr]bool{}}
	w.walk(reflect.ValueOf(root), "root", 0)
	return w.found
}

type walker struct {
	lo, hi uintptr
	seen   map[uintptr]bool
	found  []string
}

// maxWalkDepth stops a walk down a long chain (a linked list): the
// state's records are about ten levels down.
const maxWalkDepth = 40

func (w *walker) walk(v reflect.Value, path string, depth int) {
	if depth > maxWalkDepth {
		return
	}
	switch v.Kind() {
	case reflect.String:
		if v.Len() == 0 {
			return
		}
		p := uintptr(unsafe.Pointer(unsafe.StringData(v.String())))
		if p >= w.lo && p < w.hi {
			w.found = append(w.found, path+" = "+v.String())
		}
	case reflect.Pointer:
		if v.IsNil() || w.seen[v.Pointer()] {
			return
		}
		w.seen[v.Pointer()] = true
		w.walk(v.Elem(), path, depth+1)
	case reflect.Interface:
		if !v.IsNil() {
			w.walk(v.Elem(), path, depth+1)
		}
	case reflect.Struct:
		if strings.HasPrefix(v.Type().PkgPath(), "github.com/redis/go-redis/") {
			return // the client: connections and buffers, not the state's records
		}
		for i := range v.NumField() {
			w.walk(v.Field(i), path+"."+v.Type().Field(i).Name, depth+1)
		}
	case reflect.Slice, reflect.Array:
		// Not marked as seen: a shorter slice of the same array would
		// hide the rest of it. A cycle goes through a pointer or a map.
		if !walkable(v.Type().Elem()) {
			return
		}
		for i := range v.Len() {
			w.walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	case reflect.Map:
		if v.IsNil() || w.seen[v.Pointer()] {
			return
		}
		w.seen[v.Pointer()] = true
		for it := v.MapRange(); it.Next(); {
			key := fmt.Sprintf("%s[%v]", path, it.Key())
			w.walk(it.Key(), key+"(key)", depth+1)
			w.walk(it.Value(), key, depth+1)
		}
	}
}

// walkable says whether values of t can hold a string.
func walkable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Pointer, reflect.Interface, reflect.Struct, reflect.Slice, reflect.Array, reflect.Map:
		return true
	}
	return false
}
