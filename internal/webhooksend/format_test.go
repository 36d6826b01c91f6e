package webhooksend

import "testing"

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{in: "classic", want: FormatClassic},
		{in: "current", want: FormatCurrent},
		{in: "", wantErr: true},
		{in: "Current", wantErr: true},
		{in: "v2", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
