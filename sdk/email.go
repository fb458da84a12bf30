package sdk

import "strings"

// CanonicalEmail returns the form of an email address under which addresses
// that reach the same mailbox compare equal. The host stores it beside every
// lead's email and FindLeadsByNormalizedEmail compares against it, so host
// and plugins must compute it the same way: with this function.
//
// The rules, in order:
//
//  1. surrounding white space is trimmed and the address lower-cased;
//  2. the local part is cut at its first "+" (sub-addressing:
//     "ann+news@x.io" is "ann@x.io"), unless that would leave it empty;
//  3. the domain googlemail.com becomes gmail.com;
//  4. for gmail.com, dots are removed from the local part
//     ("a.n.n@gmail.com" is "ann@gmail.com").
//
// A string without "@" between a non-empty local part and a non-empty domain
// is only trimmed and lower-cased. "" stays "".
func CanonicalEmail(email string) string {
	e := strings.ToLower(strings.TrimSpace(email))
	at := strings.LastIndexByte(e, '@')
	if at <= 0 || at == len(e)-1 {
		return e
	}
	local, domain := e[:at], e[at+1:]
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	if domain == "googlemail.com" {
		domain = "gmail.com"
	}
	if domain == "gmail.com" {
		if l := strings.ReplaceAll(local, ".", ""); l != "" {
			local = l
		}
	}
	return local + "@" + domain
}
