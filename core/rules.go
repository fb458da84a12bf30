package core

import (
	"net/mail"
	"reflect"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Field limits. They keep a single lead small enough to render and index.
const (
	MaxFieldLen  = 512
	MaxUserIDLen = 256
	MaxTags      = 100
	MaxTagLen    = 64
)

// ValidEmail reports whether s is a bare address (no display name).
func ValidEmail(s string) bool {
	if s == "" || len(s) > 254 || strings.ContainsAny(s, " <>\t\r\n") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && strings.Contains(s[at+1:], ".")
}

// NormalizeEmail is the form emails are compared in: trimmed and lower-cased.
// The address itself is stored as given.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CanonicalEmail is the form under which two spellings of one mailbox compare
// equal: lower case, the "+tag" cut off, and for Gmail the dots removed and
// googlemail.com folded into gmail.com. The plugin SDK documents the same rule.
func CanonicalEmail(s string) string {
	s = NormalizeEmail(s)
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return s
	}
	local, domain := s[:at], s[at+1:]
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

// NormalizePhone keeps the digits of a phone number and a leading "+", the
// form phones are matched in. "+39 (06) 1234-567" becomes "+39061234567".
func NormalizePhone(s string) string {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if r == '+' && i == 0 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ValidateFields checks lead fields, adding problems to errs.
func ValidateFields(f LeadFields, errs map[string]string) {
	check := func(name string, v *string) {
		if v == nil {
			return
		}
		if len(*v) > MaxFieldLen {
			errs[name] = "too long"
		} else if !utf8.ValidString(*v) {
			errs[name] = "not valid UTF-8"
		}
	}
	check("fullname", f.Fullname)
	check("lastname", f.Lastname)
	check("email", f.Email)
	check("phone", f.Phone)
	check("company", f.Company)
	if f.Email != nil && *f.Email != "" && errs["email"] == "" && !ValidEmail(strings.TrimSpace(*f.Email)) {
		errs["email"] = "not a valid email address"
	}
	if f.Phone != nil && *f.Phone != "" && errs["phone"] == "" && NormalizePhone(*f.Phone) == "" {
		errs["phone"] = "has no digits"
	}
}

// ValidateUserID checks a user id.
func ValidateUserID(id string, errs map[string]string) {
	switch {
	case strings.TrimSpace(id) == "":
		errs["user_id"] = "required"
	case len(id) > MaxUserIDLen:
		errs["user_id"] = "too long"
	case strings.IndexFunc(id, unicode.IsControl) >= 0 || !utf8.ValidString(id):
		errs["user_id"] = "contains control characters"
	}
}

// NormalizeTags trims, de-duplicates and sorts tags; problems go to errs.
func NormalizeTags(tags []string, errs map[string]string) []string {
	if len(tags) > MaxTags {
		errs["tags"] = "too many tags"
		return nil
	}
	seen := make(map[string]bool, len(tags))
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > MaxTagLen {
			errs["tags"] = "each tag must be 1 to 64 characters"
			return nil
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// ValidateLeadPatch checks a merge patch.
func ValidateLeadPatch(p *LeadPatch) error {
	errs := map[string]string{}
	ValidateFields(p.Fields, errs)
	if p.Tags != nil {
		t := NormalizeTags(*p.Tags, errs)
		p.Tags = &t
	}
	if p.Status != nil && *p.Status != LeadActive && *p.Status != LeadDeleted {
		errs["status"] = "must be active or deleted"
	}
	if len(errs) > 0 {
		return Invalid(errs)
	}
	return nil
}

// ApplyFields sets the given fields on l and records what changed. With
// skipEmpty, empty values are ignored (the ingest rule: a request that carries
// no email does not erase the lead's email).
func ApplyFields(l *Lead, f LeadFields, skipEmpty bool, ch Changes) {
	set := func(name string, dst *string, v *string) {
		if v == nil {
			return
		}
		nv := strings.TrimSpace(*v)
		if skipEmpty && nv == "" {
			return
		}
		if *dst != nv {
			ch[name] = Change{From: *dst, To: nv}
			*dst = nv
		}
	}
	set("fullname", &l.Fullname, f.Fullname)
	set("lastname", &l.Lastname, f.Lastname)
	set("email", &l.Email, f.Email)
	set("phone", &l.Phone, f.Phone)
	set("company", &l.Company, f.Company)
}

// MergeAttributes applies an RFC 7396 merge patch to attrs in place: objects
// merge recursively, a nil value removes a key, anything else replaces. Every
// top-level key that changed is recorded as "attributes.<key>".
func MergeAttributes(attrs map[string]any, patch map[string]any, ch Changes) map[string]any {
	if attrs == nil {
		attrs = map[string]any{}
	}
	for k, v := range patch {
		old, had := attrs[k]
		var nv any
		if v == nil {
			if !had {
				continue
			}
			delete(attrs, k)
		} else if pm, ok := v.(map[string]any); ok {
			om, _ := old.(map[string]any)
			nv = mergeObject(cloneObject(om), pm)
			attrs[k] = nv
		} else {
			nv = v
			attrs[k] = v
		}
		if had && reflect.DeepEqual(old, nv) {
			continue
		}
		var from any
		if had {
			from = old
		}
		if ch != nil {
			ch["attributes."+k] = Change{From: from, To: nv}
		}
	}
	return attrs
}

func mergeObject(dst, patch map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			om, _ := dst[k].(map[string]any)
			dst[k] = mergeObject(cloneObject(om), pm)
			continue
		}
		dst[k] = v
	}
	return dst
}

func cloneObject(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// SetTags replaces l's tags, recording the change.
func SetTags(l *Lead, tags []string, ch Changes) {
	if tags == nil {
		tags = []string{}
	}
	if !reflect.DeepEqual(l.Tags, tags) && !(len(l.Tags) == 0 && len(tags) == 0) {
		ch["tags"] = Change{From: l.Tags, To: tags}
	}
	l.Tags = tags
}
