package webhooksend

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// LoadFile reads messages from a JSON file; see ParseMessages.
func LoadFile(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	msgs, err := ParseMessages(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return msgs, nil
}

// ParseMessages accepts one JSON object or a JSON array of objects and
// returns each object's bytes exactly as written, so a hand-crafted body is
// sent (and signed) without being re-encoded.
func ParseMessages(data []byte) ([][]byte, error) {
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return nil, errors.New("not valid JSON")
	}
	if isObject(data) {
		return [][]byte{bytes.Clone(data)}, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(data, &elems); err != nil {
		return nil, errors.New("want a JSON object or an array of objects")
	}
	if len(elems) == 0 {
		return nil, errors.New("the array holds no messages")
	}
	msgs := make([][]byte, len(elems))
	for i, e := range elems {
		if !isObject(e) {
			return nil, fmt.Errorf("element %d is not a JSON object", i)
		}
		msgs[i] = bytes.Clone(e)
	}
	return msgs, nil
}

func isObject(raw []byte) bool {
	return len(raw) > 0 && raw[0] == '{'
}
