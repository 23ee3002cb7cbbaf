package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testSecret = "correct horse battery staple"

func TestBytesNeverPrints(t *testing.T) {
	s := CopyBytes([]byte(testSecret))
	outs := []string{
		s.String(), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %X", s, s, s, s, s, s, s),
	}
	j, _ := json.Marshal(struct{ P *Bytes }{s})
	outs = append(outs, string(j))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "p", s)
	outs = append(outs, buf.String())
	for _, o := range outs {
		if strings.Contains(o, testSecret) || strings.Contains(o, fmt.Sprintf("%x", testSecret)) {
			t.Fatalf("secret leaked in %q", o)
		}
		if !strings.Contains(o, Redacted) {
			t.Fatalf("output %q lacks the redaction marker", o)
		}
	}
}

func TestWipe(t *testing.T) {
	raw := []byte(testSecret)
	s := NewBytes(raw)
	s.Wipe()
	if s.Len() != 0 || s.Reveal() != nil {
		t.Fatal("wiped secret still has content")
	}
	for _, c := range raw {
		if c != 0 {
			t.Fatal("backing array not zeroed")
		}
	}
	var nilS *Bytes
	nilS.Wipe()
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, content, want string
		wantErr             bool
	}{
		{"plain", "pw", "pw", false},
		{"newline", "pw\n", "pw", false},
		{"crlf", "pw\r\nsecond", "pw", false},
		{"empty", "", "", true},
		{"only newline", "\n", "", true},
		{"too long", strings.Repeat("a", MaxFileSize+1), "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name)
			if err := os.WriteFile(p, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := ReadFile(p)
			if c.wantErr {
				if err == nil {
					t.Fatal("want error")
				}
				if strings.Contains(err.Error(), "aaaa") {
					t.Fatal("error echoes content")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(s.Reveal()) != c.want {
				t.Fatalf("got %q", s.Reveal())
			}
		})
	}
}

func TestReadFileRefusesExposedFile(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name    string
		mode    os.FileMode
		refused bool
	}{
		{"owner only", 0o600, false},
		{"owner read only", 0o400, false},
		{"group readable", 0o640, true},
		{"others readable", 0o604, true},
		{"world readable", 0o644, true},
		{"group writable only", 0o620, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, "pass file "+c.name)
			if err := os.WriteFile(p, []byte(testSecret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, c.mode); err != nil {
				t.Fatal(err)
			}
			s, err := ReadFile(p)
			if !c.refused {
				if err != nil || string(s.Reveal()) != testSecret {
					t.Fatalf("ReadFile: %v", err)
				}
				return
			}
			var exp *ExposedFileError
			if !errors.As(err, &exp) {
				t.Fatalf("ReadFile of a %o file: %v, want an ExposedFileError", c.mode, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "run chmod go-rwx '"+p+"'") || strings.Contains(msg, testSecret) {
				t.Fatalf("message %q", msg)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/home/a/.walletmcp": "/home/a/.walletmcp",
		"/tmp/my home":       "'/tmp/my home'",
		"/tmp/it's":          `'/tmp/it'\''s'`,
		"":                   "''",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
