// Command emailnorm is a Leadhub enricher that derives facts from a lead's
// email address, on lead.created and lead.updated:
//
//   - attributes.email_domain: the lower-cased domain;
//   - attributes.email_free: true for free-mail providers (free.txt);
//   - attributes.email_disposable: true for throw-away providers
//     (disposable.txt);
//   - company, when the lead has none and the domain is a company's:
//     acme-corp.io gives "Acme Corp".
//
// Flags that no longer hold are removed, and all three attributes go when
// the email does. When nothing would change it returns an empty patch. It
// takes no configuration.
package main

import (
	"bufio"
	"context"
	_ "embed"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/leadhub/leadhub/sdk"
)

const (
	attrDomain     = "email_domain"
	attrFree       = "email_free"
	attrDisposable = "email_disposable"
)

var (
	//go:embed free.txt
	freeList string
	//go:embed disposable.txt
	disposableList string

	freeDomains       = parseList(freeList)
	disposableDomains = parseList(disposableList)
)

// parseList reads one domain a line, skipping blank lines and # comments.
func parseList(s string) map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m[strings.ToLower(line)] = true
	}
	return m
}

// inList reports whether domain or one of its parent domains is in list.
func inList(list map[string]bool, domain string) bool {
	for d := domain; d != ""; {
		if list[d] {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			break
		}
		d = d[i+1:]
	}
	return false
}

type emailnorm struct {
	sdk.Base
}

func (emailnorm) Describe() sdk.Description {
	return sdk.Description{
		Name:       "emailnorm",
		Version:    "1.0.0",
		Kinds:      []sdk.Kind{sdk.KindEnricher},
		EventTypes: []string{sdk.EventLeadCreated, sdk.EventLeadUpdated},
	}
}

func (emailnorm) Enrich(_ context.Context, _ sdk.Event, lead sdk.Lead) (sdk.Patch, error) {
	var p sdk.Patch
	set := func(key string, v any) {
		if p.Attributes == nil {
			p.Attributes = map[string]any{}
		}
		p.Attributes[key] = v
	}
	_, hasDomain := lead.Attributes[attrDomain]
	_, hasFree := lead.Attributes[attrFree]
	_, hasDisposable := lead.Attributes[attrDisposable]

	domain := emailDomain(lead.Email)
	if domain == "" {
		for key, has := range map[string]bool{attrDomain: hasDomain, attrFree: hasFree, attrDisposable: hasDisposable} {
			if has {
				set(key, nil)
			}
		}
		return p, nil
	}

	if s, _ := lead.Attributes[attrDomain].(string); s != domain {
		set(attrDomain, domain)
	}
	free, disposable := inList(freeDomains, domain), inList(disposableDomains, domain)
	for key, want := range map[string]bool{attrFree: free, attrDisposable: disposable} {
		v, has := lead.Attributes[key]
		switch {
		case want && v != true:
			set(key, true)
		case !want && has:
			set(key, nil)
		}
	}
	if strings.TrimSpace(lead.Company) == "" && !free && !disposable {
		if name := companyName(domain); name != "" {
			p.Company = &name
		}
	}
	return p, nil
}

// emailDomain returns the lower-cased domain of email, or "" when email is
// not an address.
func emailDomain(email string) string {
	email = strings.TrimSpace(email)
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return ""
	}
	d := strings.TrimSuffix(strings.ToLower(email[at+1:]), ".")
	if d == "" || strings.ContainsAny(d, " \t[]") {
		return ""
	}
	return d
}

// secondLevel lists public suffixes of two labels, under which the company's
// name is the third label from the right (acme.co.uk).
var secondLevel = map[string]bool{
	"co.uk": true, "org.uk": true, "ltd.uk": true, "plc.uk": true, "me.uk": true,
	"com.au": true, "net.au": true, "org.au": true,
	"co.nz": true, "co.jp": true, "co.kr": true, "co.in": true, "co.za": true, "co.il": true,
	"com.br": true, "com.mx": true, "com.ar": true, "com.cn": true, "com.tr": true,
	"com.sg": true, "com.hk": true, "com.tw": true, "com.my": true, "com.ua": true,
}

// companyName guesses a company's name from its domain: the label left of
// the public suffix, split at hyphens and underscores, each word capitalised.
// "mail.acme-corp.io" gives "Acme Corp"; a domain of one label gives "".
func companyName(domain string) string {
	labels := strings.Split(domain, ".")
	if len(labels) < 2 || strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "" // one label, or an IP address
	}
	i := len(labels) - 2
	if len(labels) >= 3 && secondLevel[labels[len(labels)-2]+"."+labels[len(labels)-1]] {
		i = len(labels) - 3
	}
	words := strings.FieldsFunc(labels[i], func(r rune) bool { return r == '-' || r == '_' })
	for j, w := range words {
		r, n := utf8.DecodeRuneInString(w)
		words[j] = string(unicode.ToUpper(r)) + w[n:]
	}
	return strings.Join(words, " ")
}

func main() {
	sdk.Serve(emailnorm{})
}
