package core_test

import (
	"testing"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/sdk"
)

// The host stores the canonical form that the dupemail plugin looks up, so
// both sides must compute it alike, odd inputs included.
func TestCanonicalEmailMatchesSDK(t *testing.T) {
	for _, in := range []string{
		"Andrea.1@gmail.com", "andrea1+chat@googlemail.com", " A.B+x@Example.COM ", "+tag@gmail.com",
		"...@gmail.com", "no-at-sign", "@gmail.com", "user@", "a+b+c@gmail.com", "x@y@gmail.com", "",
	} {
		if got, want := core.CanonicalEmail(in), sdk.CanonicalEmail(in); got != want {
			t.Errorf("CanonicalEmail(%q) = %q, sdk says %q", in, got, want)
		}
	}
	if got := core.CanonicalEmail("Andrea.1@gmail.com"); got != core.CanonicalEmail("andrea1+chat@googlemail.com") {
		t.Errorf("gmail spellings differ: %q", got)
	}
}

func TestValidEmail(t *testing.T) {
	for in, want := range map[string]bool{
		"a@example.com": true, "a.b+c@sub.example.org": true, "a@": false, "@example.com": false,
		"a b@example.com": false, "Name <a@example.com>": false, "a@localhost": false, "": false,
	} {
		if got := core.ValidEmail(in); got != want {
			t.Errorf("ValidEmail(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{"+39 (06) 1234-567": "+39061234567", "06 12": "0612", "ext. ": "", "1+2": "12"} {
		if got := core.NormalizePhone(in); got != want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", in, got, want)
		}
	}
}
