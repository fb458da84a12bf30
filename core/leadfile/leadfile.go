// Package leadfile reads the leads of an import file: newline-delimited JSON
// (one lead per line, the fields of POST /v1/projects/{project}/leads) or
// CSV with a header row. A line that cannot be read becomes an item with an
// error, so that an import can report it and go on; only a failure of the
// underlying reader (or a CSV header it cannot use) stops the reading.
package leadfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/leadhub/leadhub/core"
)

// MaxLine is the longest line an NDJSON file may have: the API's body limit.
const MaxLine = 1 << 20

// Reader yields the leads of a file one at a time.
type Reader interface {
	// Next returns the next lead, or io.EOF after the last one.
	Next() (core.ImportItem, error)
}

// Open returns the reader of format ("ndjson" or "csv") over r.
func Open(format string, r io.Reader) (Reader, error) {
	switch format {
	case "ndjson":
		return NewNDJSON(r), nil
	case "csv":
		return NewCSV(r)
	}
	return nil, fmt.Errorf("unknown format %q: want ndjson or csv", format)
}

// FormatOf guesses a file's format from its name: .csv is CSV, anything
// else NDJSON.
func FormatOf(name string) string {
	if strings.HasSuffix(strings.ToLower(name), ".csv") {
		return "csv"
	}
	return "ndjson"
}

// leadLine is one NDJSON line: the body of POST /leads.
type leadLine struct {
	UserID     *string        `json:"user_id"`
	Fullname   *string        `json:"fullname"`
	Lastname   *string        `json:"lastname"`
	Email      *string        `json:"email"`
	Phone      *string        `json:"phone"`
	Company    *string        `json:"company"`
	Attributes map[string]any `json:"attributes"`
	Tags       []string       `json:"tags"`
}

type ndjson struct {
	r    *bufio.Reader
	line int
}

// NewNDJSON reads one JSON object per line; blank lines are skipped.
func NewNDJSON(r io.Reader) Reader { return &ndjson{r: bufio.NewReaderSize(r, 64<<10)} }

func (n *ndjson) Next() (core.ImportItem, error) {
	for {
		b, tooLong, err := n.readLine()
		if err != nil && (len(b) == 0 || !errors.Is(err, io.EOF)) {
			return core.ImportItem{}, err
		}
		n.line++
		if tooLong {
			return core.ImportItem{Line: n.line, Err: core.Errorf(core.ETOOLARGE, "line longer than %d bytes", MaxLine)}, nil
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			if err != nil {
				return core.ImportItem{}, err
			}
			continue
		}
		it := core.ImportItem{Line: n.line}
		it.Lead, it.Err = decodeLine(b)
		return it, nil
	}
}

// readLine reads up to the next newline. A line past MaxLine is read to its
// end and dropped (tooLong), so that the next line starts where it should.
func (n *ndjson) readLine() (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		part, err := n.r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(part) > MaxLine+1 { // +1: the newline
				tooLong, buf = true, nil
			} else {
				buf = append(buf, part...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			return nil, true, nil
		}
		return buf, false, err
	}
}

func decodeLine(b []byte) (core.NewLead, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var l leadLine
	if err := dec.Decode(&l); err != nil {
		return core.NewLead{}, jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return core.NewLead{}, core.Errorf(core.EINVALID, "trailing data after the JSON object")
	}
	nl := core.NewLead{
		Fields:     core.LeadFields{Fullname: l.Fullname, Lastname: l.Lastname, Email: l.Email, Phone: l.Phone, Company: l.Company},
		Attributes: core.PlainJSONObject(l.Attributes),
		Tags:       l.Tags,
	}
	if l.UserID != nil {
		if *l.UserID == "" {
			return core.NewLead{}, core.Invalid(map[string]string{"user_id": "must not be empty; leave it out to have one generated"})
		}
		nl.UserID = *l.UserID
	}
	return nl, nil
}

// jsonError names what is wrong with a line's JSON.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return core.Invalid(map[string]string{typeErr.Field: "wrong type"})
	case errors.As(err, &typeErr):
		return core.Errorf(core.EINVALID, "a line must be a JSON object")
	case errors.As(err, &syntaxErr):
		return core.Errorf(core.EINVALID, "malformed JSON at byte %d", syntaxErr.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return core.Invalid(map[string]string{strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`): "unknown field"})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return core.Errorf(core.EINVALID, "truncated JSON")
	}
	return core.Errorf(core.EINVALID, "invalid JSON: %v", err)
}

// attrPrefix starts a CSV column that holds an attribute.
const attrPrefix = "attributes."

type csvReader struct {
	r *csv.Reader
	// set fills one column's value into a lead; nil for an ignored column.
	set []func(*core.NewLead, string)
}

// NewCSV reads a header row naming the columns: user_id, fullname,
// lastname, email, phone, company, tags (comma-separated within the cell)
// and attributes.KEY (a string attribute). An empty cell leaves its field
// out. A header with an unknown or repeated column is an error: a file
// meant for another program would otherwise import as empty leads.
func NewCSV(r io.Reader) (Reader, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("csv: empty file, want a header row")
	}
	if err != nil {
		return nil, fmt.Errorf("csv header: %w", err)
	}
	c := &csvReader{r: cr}
	seen := map[string]bool{}
	for i, name := range header {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff") // a byte-order mark from spreadsheet exports
		}
		name = strings.TrimSpace(name)
		key := strings.ToLower(name)
		if strings.HasPrefix(key, attrPrefix) {
			key = attrPrefix + strings.TrimSpace(name[len(attrPrefix):]) // attribute keys keep their case
		}
		if seen[key] {
			return nil, fmt.Errorf("csv header: column %q appears twice", name)
		}
		seen[key] = true
		set, err := csvColumn(key)
		if err != nil {
			return nil, err
		}
		c.set = append(c.set, set)
	}
	// The header sets the number of fields; a row with another is refused.
	cr.FieldsPerRecord = len(header)
	return c, nil
}

func csvColumn(key string) (func(*core.NewLead, string), error) {
	field := func(f func(*core.LeadFields) **string) func(*core.NewLead, string) {
		return func(l *core.NewLead, v string) { *f(&l.Fields) = &v }
	}
	switch key {
	case "user_id":
		return func(l *core.NewLead, v string) { l.UserID = v }, nil
	case "fullname":
		return field(func(f *core.LeadFields) **string { return &f.Fullname }), nil
	case "lastname":
		return field(func(f *core.LeadFields) **string { return &f.Lastname }), nil
	case "email":
		return field(func(f *core.LeadFields) **string { return &f.Email }), nil
	case "phone":
		return field(func(f *core.LeadFields) **string { return &f.Phone }), nil
	case "company":
		return field(func(f *core.LeadFields) **string { return &f.Company }), nil
	case "tags":
		return func(l *core.NewLead, v string) {
			for t := range strings.SplitSeq(v, ",") {
				if t = strings.TrimSpace(t); t != "" {
					l.Tags = append(l.Tags, t)
				}
			}
		}, nil
	}
	if name, ok := strings.CutPrefix(key, attrPrefix); ok && name != "" {
		return func(l *core.NewLead, v string) {
			if l.Attributes == nil {
				l.Attributes = map[string]any{}
			}
			l.Attributes[name] = v
		}, nil
	}
	return nil, fmt.Errorf("csv header: unknown column %q (want user_id, fullname, lastname, email, phone, company, tags or attributes.KEY)", key)
}

// Next returns the next row; encoding/csv skips blank lines itself.
func (c *csvReader) Next() (core.ImportItem, error) {
	rec, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return core.ImportItem{}, io.EOF
	}
	var parseErr *csv.ParseError
	if errors.As(err, &parseErr) {
		return core.ImportItem{Line: parseErr.StartLine, Err: core.Errorf(core.EINVALID, "csv: %v", parseErr.Err)}, nil
	}
	if err != nil {
		return core.ImportItem{}, err
	}
	line, _ := c.r.FieldPos(0) // only after a record was read
	it := core.ImportItem{Line: line}
	for i, v := range rec {
		if v = strings.TrimSpace(v); v != "" {
			c.set[i](&it.Lead, v)
		}
	}
	return it, nil
}
