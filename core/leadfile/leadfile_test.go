package leadfile_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/leadfile"
)

// readAll reads every item of r.
func readAll(t *testing.T, r leadfile.Reader) []core.ImportItem {
	t.Helper()
	var out []core.ImportItem
	for {
		it, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, it)
	}
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestNDJSON(t *testing.T) {
	long := `{"fullname": "` + strings.Repeat("a", leadfile.MaxLine) + `"}`
	in := strings.Join([]string{
		`{"user_id": "u1", "fullname": "Ada Lovelace", "email": "ada@example.com", "attributes": {"plan": "pro", "seats": 3, "ratio": 0.5}, "tags": ["vip"]}`,
		``,
		`   `,
		`{"fullname": "No User Id"}`,
		`{"fullname": "Broken"`,
		`{"fullname": "Unknown", "nickname": "x"}`,
		`{"fullname": "Trailing"} {}`,
		long,
		`{"user_id": ""}`,
		`{"fullname": 42}`,
		`[1, 2]`,
		`{"company": "Last, no newline"}`,
	}, "\n")
	items := readAll(t, leadfile.NewNDJSON(strings.NewReader(in)))
	type want struct {
		line int
		code string
		name string
	}
	wants := []want{{1, "", "Ada Lovelace"}, {4, "", "No User Id"}, {5, core.EINVALID, ""}, {6, core.EINVALID, ""},
		{7, core.EINVALID, ""}, {8, core.ETOOLARGE, ""}, {9, core.EINVALID, ""}, {10, core.EINVALID, ""}, {11, core.EINVALID, ""}, {12, "", "<nil>"}}
	if len(items) != len(wants) {
		t.Fatalf("%d items, want %d: %+v", len(items), len(wants), items)
	}
	for i, w := range wants {
		it := items[i]
		if it.Line != w.line || core.ErrorCode(it.Err) != w.code && !(w.code == "" && it.Err == nil) {
			t.Errorf("item %d: line %d, error %v; want line %d, code %q", i, it.Line, it.Err, w.line, w.code)
		}
		if w.code == "" && str(it.Lead.Fields.Fullname) != w.name {
			t.Errorf("item %d: fullname %q, want %q", i, str(it.Lead.Fields.Fullname), w.name)
		}
	}
	ada := items[0].Lead
	if ada.UserID != "u1" || str(ada.Fields.Email) != "ada@example.com" || len(ada.Tags) != 1 ||
		ada.Attributes["seats"] != int64(3) || ada.Attributes["ratio"] != 0.5 || ada.Attributes["plan"] != "pro" {
		t.Errorf("first lead: %+v", ada)
	}
	if items[1].Lead.UserID != "" {
		t.Errorf("a lead without user_id got %q", items[1].Lead.UserID)
	}
	if got := str(items[9].Lead.Fields.Company); got != "Last, no newline" {
		t.Errorf("last line without a newline: %q", got)
	}
}

func TestCSV(t *testing.T) {
	in := "\ufeffUser_ID,fullname,Email,phone,company,tags,attributes.Plan\n" +
		"u1,Ada Lovelace,ada@example.com,+44 20 1234,\"Analytical, Ltd\",\"vip, beta\",pro\n" +
		"\n" +
		"u2,\"Grace\nHopper\",,,,,\n" +
		"u3,Too,Few\n" +
		",No Id,,,,,\n"
	r, err := leadfile.NewCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	items := readAll(t, r)
	if len(items) != 4 {
		t.Fatalf("%d items: %+v", len(items), items)
	}
	ada := items[0].Lead
	if items[0].Err != nil || ada.UserID != "u1" || str(ada.Fields.Company) != "Analytical, Ltd" || str(ada.Fields.Phone) != "+44 20 1234" ||
		strings.Join(ada.Tags, "|") != "vip|beta" || ada.Attributes["Plan"] != "pro" || ada.Fields.Lastname != nil {
		t.Errorf("first row: %+v %v", ada, items[0].Err)
	}
	if g := items[1]; g.Line != 4 || str(g.Lead.Fields.Fullname) != "Grace\nHopper" || g.Lead.Fields.Email != nil || g.Lead.Attributes != nil {
		t.Errorf("second row: line %d %+v", g.Line, g.Lead)
	}
	if bad := items[2]; bad.Line != 6 || core.ErrorCode(bad.Err) != core.EINVALID {
		t.Errorf("short row: line %d, %v", bad.Line, bad.Err)
	}
	if last := items[3]; last.Line != 7 || last.Err != nil || last.Lead.UserID != "" || str(last.Lead.Fields.Fullname) != "No Id" {
		t.Errorf("last row: %+v", last)
	}
	for _, h := range []string{"", "fullname,nickname\n", "email,Email\n", "attributes.\n"} {
		if _, err := leadfile.NewCSV(strings.NewReader(h)); err == nil {
			t.Errorf("header %q accepted", h)
		}
	}
}

func TestOpen(t *testing.T) {
	if leadfile.FormatOf("contacts.CSV") != "csv" || leadfile.FormatOf("leads.ndjson") != "ndjson" || leadfile.FormatOf("-") != "ndjson" {
		t.Error("FormatOf")
	}
	if _, err := leadfile.Open("xml", strings.NewReader("")); err == nil {
		t.Error("format xml accepted")
	}
}

// The readers never fail on what a file holds: every line is an item, with
// an error or a lead, and the reading ends with io.EOF.
func FuzzNDJSON(f *testing.F) {
	f.Add([]byte(`{"user_id": "u1", "fullname": "Ada", "attributes": {"n": 1}, "tags": ["a"]}` + "\n{}\n"))
	f.Add([]byte("{\"fullname\": \"x\"\n\n[]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := leadfile.NewNDJSON(strings.NewReader(string(b)))
		last := 0
		for n := 0; ; n++ {
			it, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatalf("error from a memory reader: %v", err)
			}
			if it.Line <= last {
				t.Fatalf("line %d after %d", it.Line, last)
			}
			last = it.Line
		}
	})
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("user_id,fullname,tags,attributes.plan\nu1,Ada,\"a,b\",pro\nu2,\"x\ny\",,\n"))
	f.Add([]byte("email\n\"unterminated\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := leadfile.NewCSV(strings.NewReader(string(b)))
		if err != nil {
			return // a header it cannot use
		}
		for n := 0; n <= len(b)+1; n++ {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatalf("error from a memory reader: %v", err)
			}
		}
		t.Fatal("more items than bytes: the reader does not advance")
	})
}
