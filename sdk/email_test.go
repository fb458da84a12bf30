package sdk

import "testing"

func TestCanonicalEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"  Ann@Example.COM ", "ann@example.com"},
		{"ann+news@example.com", "ann@example.com"},
		{"ann+news+more@example.com", "ann@example.com"},
		{"a.n.n@example.com", "a.n.n@example.com"},
		{"A.n.N+x@Gmail.com", "ann@gmail.com"},
		{"a.nn@googlemail.com", "ann@gmail.com"},
		{"+tag@example.com", "+tag@example.com"},
		{"...@gmail.com", "...@gmail.com"},
		{"not-an-email", "not-an-email"},
		{"@example.com", "@example.com"},
		{"ann@", "ann@"},
		{"weird@local@example.com", "weird@local@example.com"},
	} {
		if got := CanonicalEmail(tc.in); got != tc.want {
			t.Errorf("CanonicalEmail(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
