package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core/store"
	"github.com/leadhub/leadhub/internal/testdb"
)

// runLeadhub runs the leadhub binary with args on db and returns its exit
// code, stdout and stderr.
func runLeadhub(t *testing.T, db string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(leadhubBinary(t), args...)
	cmd.Env = append(os.Environ(), "LEADHUB_DATABASE_URL="+db, "LEADHUB_LOG_FORMAT=json")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// schemaOf lists the indexes and triggers of a SQLite database.
func schemaOf(t *testing.T, db string) []string {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{URL: db})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return testdb.SQLiteSchema(t, s.ReadDB())
}

// `leadhub import` loads NDJSON and CSV files into a project, reports the
// lines it refuses, and what it loaded is served like any lead.
func TestImportCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs leadhub processes")
	}
	db := "sqlite:" + filepath.Join(t.TempDir(), "leadhub.db")
	env := []string{"LEADHUB_DATABASE_URL=" + db, "LEADHUB_ADMIN_KEY=" + testAdminKey}
	proc := startProcess(t, env...)
	p := proc.client().newProject("imports")
	proc.client().ingest(p, "taken", map[string]any{"fullname": "Already Here"})
	proc.kill()
	schema := schemaOf(t, db)

	ndjson := writeFile(t, "leads.ndjson", strings.Join([]string{
		`{"user_id": "n1", "fullname": "Ada Lovelace", "email": "Ada@Example.com", "tags": ["vip"], "attributes": {"seats": 3}}`,
		`{"fullname": "Grace Hopper", "company": "Navy"}`,
		``,
		`{"fullname": "Broken"`,
		`{"user_id": "taken", "fullname": "Someone Else"}`,
		`{"user_id": "n3", "email": "not an email"}`,
		`{"user_id": "n4", "fullname": "Katherine Johnson"}`,
	}, "\n"))
	code, out, errOut := runLeadhub(t, db, "import", p.ID, ndjson)
	if code != 0 || !strings.Contains(out, "imported 3 leads") || !strings.Contains(out, "refused 3") {
		t.Fatalf("ndjson import: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, line := range []string{"line 4: refused", "line 5: refused", "line 6: refused"} {
		if !strings.Contains(errOut, line) {
			t.Errorf("stderr lacks %q:\n%s", line, errOut)
		}
	}
	csvFile := writeFile(t, "contacts.csv", "user_id,fullname,email,tags,attributes.plan\n"+
		"c1,Hedy Lamarr,hedy@example.com,\"film, radio\",pro\n"+
		"c2,\"Lamarr, Second\",,,\n")
	if code, out, errOut := runLeadhub(t, db, "import", p.ID, csvFile); code != 0 || !strings.Contains(out, "imported 2 leads") {
		t.Fatalf("csv import: exit %d\n%s\n%s", code, out, errOut)
	}
	// --strict: one refused line and nothing is imported.
	strict := writeFile(t, "strict.ndjson", `{"user_id": "s1"}`+"\n"+`{"user_id": "n1"}`+"\n")
	if code, out, errOut := runLeadhub(t, db, "import", "--strict", p.ID, strict); code == 0 || !strings.Contains(errOut, "nothing imported") {
		t.Fatalf("strict import: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := runLeadhub(t, db, "import", "nope", csvFile); code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("unknown project: exit %d\n%s", code, errOut)
	}
	if got := schemaOf(t, db); !slices.Equal(got, schema) {
		t.Fatalf("schema after the imports:\n%v\nbefore:\n%v", got, schema)
	}

	proc = startProcess(t, env...)
	c := proc.client()
	// Not while a server has the database open.
	if code, out, errOut := runLeadhub(t, db, "import", p.ID, csvFile); code == 0 || !strings.Contains(errOut, "stop it first") {
		t.Fatalf("import beside a running server: exit %d\n%s\n%s", code, out, errOut)
	}
	list := func(query string) []map[string]any {
		t.Helper()
		return items(c.must(200, "GET", p.path("/leads?"+query), p.Agent, nil))
	}
	ada := list("email=" + url.QueryEscape("ada@example.com"))
	if len(ada) != 1 || ada[0]["fullname"] != "Ada Lovelace" || field(ada[0], "attributes", "seats") != float64(3) {
		t.Fatalf("by email: %+v", ada)
	}
	if got := list("q=lamarr"); len(got) != 2 {
		t.Errorf("search lamarr: %d leads, want 2", len(got))
	}
	if got := list("tag=radio"); len(got) != 1 || got[0]["fullname"] != "Hedy Lamarr" || field(got[0], "attributes", "plan") != "pro" {
		t.Errorf("by tag: %+v", got)
	}
	if got := list("user_id=n4"); len(got) != 1 {
		t.Errorf("by user id: %+v", got)
	}
	if got := list("user_id=s1"); len(got) != 0 {
		t.Errorf("the strict import left %+v", got)
	}
	if got := list("limit=100"); len(got) != 6 {
		t.Errorf("%d leads, want 6 (1 ingested, 5 imported)", len(got))
	}
	evs := items(c.must(200, "GET", p.path("/leads/"+ada[0]["id"].(string)+"/events"), p.Agent, nil))
	if len(evs) != 1 || evs[0]["type"] != "lead.created" || evs[0]["actor"] != "import" {
		t.Errorf("timeline: %+v", evs)
	}
}

// kill -9 of an import halfway leaves the database as it was: no lead of
// it, every index and trigger in place.
func TestImportKilledChangesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs leadhub processes")
	}
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "leadhub.db")
	code, out, errOut := runLeadhub(t, db, "project", "create", "big")
	if code != 0 {
		t.Fatalf("project create: %s %s", out, errOut)
	}
	pid := strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "project ")
	schema := schemaOf(t, db)

	var b strings.Builder
	for i := range 400_000 {
		fmt.Fprintf(&b, `{"user_id": "big-%d", "fullname": "Person %d", "email": "p%d@example.com"}`+"\n", i, i, i)
	}
	big := writeFile(t, "big.ndjson", b.String())
	cmd := exec.Command(leadhubBinary(t), "import", pid, big)
	cmd.Env = append(os.Environ(), "LEADHUB_DATABASE_URL="+db)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Well into the import: its transaction has been writing for a while.
	time.Sleep(3 * time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("the import ended before it could be killed: %v", err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("the import finished within 3 s: this test no longer kills it halfway")
	}

	if got := schemaOf(t, db); !slices.Equal(got, schema) {
		t.Fatalf("schema after a killed import:\n%v\nbefore:\n%v", got, schema)
	}
	small := writeFile(t, "small.ndjson", `{"user_id": "big-1", "fullname": "After The Kill"}`+"\n")
	if code, out, errOut := runLeadhub(t, db, "import", pid, small); code != 0 || !strings.Contains(out, "imported 1 leads") {
		t.Fatalf("import after the kill: exit %d\n%s\n%s", code, out, errOut)
	}
}
