package webhooksend

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseMessages(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{name: "object", in: "\n{\"type\": \"x\"}\n", want: []string{`{"type": "x"}`}},
		{
			name: "array keeps raw bytes",
			in:   "[ {\"a\":1},\n  {\n   \"b\" : [1, 2] } ]",
			want: []string{`{"a":1}`, "{\n   \"b\" : [1, 2] }"},
		},
		{name: "empty array", in: "[]", wantErr: true},
		{name: "array of non-objects", in: `[{"a":1}, 2]`, wantErr: true},
		{name: "scalar", in: `"hello"`, wantErr: true},
		{name: "invalid", in: `{"a":`, wantErr: true},
		{name: "trailing data", in: `{"a":1} {"b":2}`, wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMessages([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !slices.EqualFunc(got, tt.want, func(b []byte, s string) bool { return string(b) == s }) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "msgs.json")
	if err := os.WriteFile(path, []byte(`[{"type":"event_scan_started"},{"type":"event_scan_finished"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	msgs, err := LoadFile(path)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("LoadFile = %d messages, %v; want 2, nil", len(msgs), err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("LoadFile of a missing file succeeded")
	}
}
