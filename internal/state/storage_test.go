package state

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// fakeStorage is an in-memory storage.Client, standing in for the storage
// extension in unit tests (the end-to-end tests use file_storage). It can
// fail or block its writes.
type fakeStorage struct {
	mu      sync.Mutex
	data    map[string][]byte
	batches int   // successful write batches
	failErr error // returned by every write while set
	// failKey, when set, fails the writes that set or delete a key it
	// matches.
	failKey func(string) bool
	// beforeWrite, when set, is called with each key a write sets or
	// deletes, before it is written.
	beforeWrite func(string)
	block       chan struct{}
	// keepValues stores the values it is given, not copies: a storage
	// extension may.
	keepValues bool
}

func newFakeStorage() *fakeStorage { return &fakeStorage{data: map[string][]byte{}} }

func (s *fakeStorage) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := s.Batch(ctx, op)
	return op.Value, err
}

func (s *fakeStorage) Set(ctx context.Context, key string, value []byte) error {
	return s.Batch(ctx, storage.SetOperation(key, value))
}

func (s *fakeStorage) Delete(ctx context.Context, key string) error {
	return s.Batch(ctx, storage.DeleteOperation(key))
}

func (s *fakeStorage) Batch(ctx context.Context, ops ...*storage.Operation) error {
	writes := false
	for _, op := range ops {
		writes = writes || op.Type != storage.Get
	}
	s.mu.Lock()
	block, failErr, before := s.block, s.failErr, s.beforeWrite
	s.mu.Unlock()
	if writes && before != nil {
		for _, op := range ops {
			before(op.Key)
		}
	}
	if writes && block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if writes && failErr != nil {
		return failErr
	}
	for _, op := range ops {
		if op.Type != storage.Get && s.failKey != nil && s.failKey(op.Key) {
			return errors.New("this key cannot be written")
		}
	}
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = s.data[op.Key]
		case storage.Set:
			if s.keepValues {
				s.data[op.Key] = op.Value
			} else {
				s.data[op.Key] = bytes.Clone(op.Value)
			}
		case storage.Delete:
			delete(s.data, op.Key)
		}
	}
	if writes {
		s.batches++
	}
	return nil
}

func (s *fakeStorage) Close(context.Context) error { return nil }

func (s *fakeStorage) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failErr = err
}

func (s *fakeStorage) setBlock(ch chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.block = ch
}

func (s *fakeStorage) writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}

func (s *fakeStorage) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedNames(maps.Clone(s.data))
}

// sortedNames returns m's keys in order.
func sortedNames[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func (s *fakeStorage) setFailKey(f func(string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failKey = f
}

// sizes returns the size of each stored value.
func (s *fakeStorage) sizes() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.data))
	for k, v := range s.data {
		out[k] = len(v)
	}
	return out
}

func (s *fakeStorage) setBeforeWrite(f func(string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforeWrite = f
}
